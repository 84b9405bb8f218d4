"""The flag families that commands share, and how a flag stands for a key of mlops.yaml.

`setting_flag` declares a flag that overrides one key; `overrides_from` reads the ones that were
given. Their values are not range-checked here: `config.apply_overrides` validates them with the
key's own model, so a flag and its key obey one rule and share one default (the file's).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from mlops_actions.config.overrides import Override

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
    parser: argparse.ArgumentParser,
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
