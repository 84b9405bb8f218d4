"""The flag families that commands share, and how a flag stands for a key of mlops.yaml.

`setting_flag` declares a flag that overrides one key; `overrides_from` reads the ones that were
given. Their values are not range-checked here: `config.apply_overrides` validates them with the
key's own model, so a flag and its key obey one rule and share one default (the file's).

Below them: argparse types that read action inputs (where "" means not given), and the flag
families of the monitoring commands (time window, traffic sources, data sources).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from mlops_actions.config import Settings
    from mlops_actions.config.overrides import Override
    from mlops_actions.monitoring.sources import DataSource, TimeWindow

SETTING_ATTR = "mlops_setting"
"""Attribute of an argparse action that names the mlops.yaml key the flag overrides."""


class Parser(argparse.ArgumentParser):
    """argparse with exit code 2 and a pointer to `--help` on bad flags."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def common_options() -> Parser:
    """Options accepted both before and after the subcommand (`mlops train --json`)."""
    parent = Parser(add_help=False)
    add_common(parent, suppress=True)
    return parent


def add_common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """--config, --report-dir and --json; with `suppress`, absent ones leave the namespace alone."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--config",
        type=Path,
        default=default(None),
        metavar="PATH",
        help="mlops.yaml to use (default: ./mlops.yaml, or $MLOPS_CONFIG).",
    )
    parser.add_argument(
        "--report-dir",
        type=Path,
        default=default(None),
        metavar="DIR",
        help="Also write reports (Markdown, JSON, HTML) into this folder.",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="Print one JSON object of the step's outputs on stdout.",
    )


def setting_flag(
    parser: argparse._ActionsContainer,
    flag: str,
    key: str,
    *,
    help: str = "",
    clears: tuple[str, ...] = (),
    **kwargs: Any,
) -> argparse.Action:
    """Add `flag`, which overrides `key` of mlops.yaml when given (its default is the file's).

    `clears`: keys that return to their defaults when the flag changes the value (see
    `config.Override.clears`). Other keyword arguments go to `add_argument` (type, metavar…).
    `parser` may be an argument group: its flags are the parser's.
    """
    text = f"{help} " if help else ""
    action = parser.add_argument(flag, default=None, help=f"{text}Default: {key}.", **kwargs)
    setattr(action, SETTING_ATTR, (key, clears))
    return action


def overrides_from(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[Override]:
    """The setting flags of `parser` that `args` holds a value for."""
    from mlops_actions.config.overrides import Override

    found = []
    for action in parser._actions:
        setting = getattr(action, SETTING_ATTR, None)
        value = getattr(args, action.dest, None)
        if setting is not None and value is not None:
            key, clears = setting
            found.append(Override(key, value, max(action.option_strings, key=len), clears))
    return found


# ---------------------------------------------------------------- argparse types
# Action inputs arrive as strings, unset ones as "": every type below reads "" as "not given"
# (None), so an unset input never overrides mlops.yaml. Ranges of setting flags are left to the
# schema; the types only parse.


def text(value: str) -> str | None:
    """A string flag; blank means not given."""
    return value.strip() or None


def names(value: str) -> list[str] | None:
    """`a,b` → ["a", "b"]; blank (or only commas) means not given."""
    found = [n.strip() for n in value.split(",") if n.strip()]
    return found or None


def path(value: str) -> Path | None:
    """A path flag (relative to the working directory); blank means not given."""
    return Path(value.strip()) if value.strip() else None


def number(value: str) -> float | None:
    """A finite number; blank means not given. Raises ArgumentTypeError (exit 2) otherwise."""
    if not value.strip():
        return None
    try:
        result = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not math.isfinite(result):
        raise argparse.ArgumentTypeError(f"{value} is not a finite number")
    return result


def non_negative(value: str) -> float | None:
    """A finite number ≥ 0 (for flags that are not keys of mlops.yaml); blank: not given."""
    result = number(value)
    if result is not None and result < 0:
        raise argparse.ArgumentTypeError(f"{value} is not a finite number ≥ 0")
    return result


def positive_int(value: str) -> int | None:
    """A whole number ≥ 1 (for flags that are not keys of mlops.yaml); blank: not given."""
    result = whole_number(value)
    if result is not None and result < 1:
        raise argparse.ArgumentTypeError(f"{value} is not ≥ 1")
    return result


def whole_number(value: str) -> int | None:
    """Any whole number; blank means not given."""
    if not value.strip():
        return None
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None


def one_of(choices: Sequence[str]) -> Callable[[str], str | None]:
    """An argparse type that accepts one of `choices` (blank: not given)."""

    def parse(value: str) -> str | None:
        value = value.strip()
        if not value:
            return None
        if value not in choices:
            raise argparse.ArgumentTypeError(f"{value!r} is not one of {', '.join(choices)}")
        return value

    return parse


# ---------------------------------------------------------------- monitoring flag families

INCLUDE_SOURCE_HELP = (
    "Also count the pipeline's own requests with these traffic labels (comma-separated: "
    "probe = canary probe traffic, smoke = smoke tests; 'all' for every label). Default: "
    "users' requests only; the report says how many pipeline rows were left out."
)


def add_time_window(group: argparse._ArgumentGroup, *, since_help: str, until_help: str) -> None:
    """`--since` and `--until` (ISO 8601 or a duration back, e.g. 7d); see `time_window_of`."""
    group.add_argument("--since", type=text, metavar="TIME", help=since_help)
    group.add_argument("--until", type=text, metavar="TIME", help=until_help)


def time_window_of(args: argparse.Namespace) -> TimeWindow:
    """The window of `--since`/`--until`; raises InputError when a time is unreadable or the
    window is empty."""
    from mlops_actions.monitoring.sources import time_window

    return time_window(args.since, args.until)


def add_include_source(group: argparse._ArgumentGroup) -> None:
    """`--include-source`: the pipeline's own traffic labels to count (see `include_sources`)."""
    group.add_argument("--include-source", type=text, metavar="LABELS", help=INCLUDE_SOURCE_HELP)


def include_sources(args: argparse.Namespace) -> frozenset[str]:
    """The labels of `--include-source` (empty: users' requests only); InputError if malformed."""
    from mlops_actions.monitoring.sources import parse_include_sources

    raw: str | None = args.include_source
    return parse_include_sources(raw) if raw else frozenset()


def monitoring_source(
    value: str | Path, settings: Settings | None, *, from_flag: bool, rev: str | None = None
) -> DataSource:
    """A monitoring data source named by a flag or by mlops.yaml.

    A flag's path is relative to the working directory; a path from mlops.yaml arrived resolved
    against the config folder (where `predictions:` means that project's local endpoint).
    Raises InputError for an empty value, or a revision given for a URL.
    """
    from mlops_actions.monitoring.sources import parse_source

    base = settings.base_dir if settings is not None and not from_flag else None
    state = settings.state_dir() / "endpoint" if settings is not None else None
    return parse_source(value, base_dir=base, rev=rev, state_dir=state)


def given(overrides: Sequence[Override], key: str) -> Any:
    """The value a setting flag gave `key`, or None: for commands that also run without
    mlops.yaml, where a section with required keys cannot be built from the flags alone."""
    return next((o.value for o in overrides if o.key == key), None)
