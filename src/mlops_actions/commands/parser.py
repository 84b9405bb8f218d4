"""The `mlops` parser: one subcommand per command, and action inputs read as flags.

Building it imports no heavy library, so `mlops --help` stays instant.
"""

from __future__ import annotations

import argparse
import os

from mlops_actions import __version__
from mlops_actions.commands import all_commands
from mlops_actions.commands.base import Command
from mlops_actions.commands.options import Parser, add_common, common_options


def build_parser() -> argparse.ArgumentParser:
    """The full `mlops` parser, one subcommand per action plus the tools."""
    parser = Parser(
        prog="mlops",
        description="Take an ML model from a commit to a monitored production endpoint. "
        "Each subcommand is one step of the pipeline and one GitHub Action of the same name.",
        epilog="Exit codes: 0 ok, 1 a gate said no, 2 bad input or config, 3 backend failure.",
    )
    parser.add_argument("--version", action="version", version=f"mlops-actions {__version__}")
    add_common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in all_commands():
        child = sub.add_parser(
            command.name,
            aliases=list(command.aliases),
            help=command.help,
            description=command.description or command.help,
            parents=[common_options()],
        )
        command.add_arguments(child)
        # Required flags may also arrive as MLOPS_INPUT_* variables (actions): argparse must not
        # reject them before those are read, so they are checked after (`check_required`).
        required = [a for a in child._actions if a.required and a.option_strings]
        for action in required:
            action.required = False
        child.set_defaults(_command=command, _parser=child, _required=required)
    return parser


def subcommands() -> dict[str, tuple[Command, argparse.ArgumentParser]]:
    """Every subcommand name (aliases included) → its command and its parser."""
    parser = build_parser()
    found: dict[str, tuple[Command, argparse.ArgumentParser]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found[name] = (child.get_default("_command"), child)
    return found


INPUT_PREFIX = "MLOPS_INPUT_"


def apply_action_inputs(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fill flags not given on the command line from `MLOPS_INPUT_<FLAG>` variables.

    This is how the actions pass their inputs: `with: data-rev: v2` becomes the environment
    variable MLOPS_INPUT_DATA_REV (no `${{ }}` in any `run:`), read as if `--data-rev v2` had
    been given. Empty values mean "not set". Raises InputError for a value the flag rejects.
    """
    from mlops_actions.errors import InputError

    for action in parser._actions:
        if not action.option_strings or action.dest in ("help", "config", "json"):
            continue
        name = INPUT_PREFIX + action.dest.upper()
        raw = os.environ.get(name, "").strip()
        if not raw or getattr(args, action.dest, None) not in (None, False, [], action.default):
            continue
        flag = max(action.option_strings, key=len)
        try:
            value = _convert_input(action, raw)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"input {flag.lstrip('-')} = {raw!r} is invalid ({exc});",
                hint=f"give a value that `{flag}` accepts (see `mlops --help`).",
            ) from None
        setattr(args, action.dest, value)


def check_required(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exit 2, as argparse would, when a required flag came neither as a flag nor as an input."""
    missing = [
        max(a.option_strings, key=len)
        for a in getattr(args, "_required", [])
        if getattr(args, a.dest, None) in (None, [])
    ]
    if missing:
        parser.error(f"the following arguments are required: {', '.join(missing)}")


def _convert_input(action: argparse.Action, raw: str) -> object:
    if isinstance(
        action,
        (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse.BooleanOptionalAction),
    ):
        # The variable is named after the destination, so it carries the value itself:
        # MLOPS_INPUT_FAIL_IF_WORSE=false means what `--no-fail-if-worse` means.
        lowered = raw.lower()
        if lowered not in ("true", "false"):
            raise ValueError("expected true or false")
        return lowered == "true"
    convert = action.type if callable(action.type) else str
    if isinstance(action, argparse._AppendAction) or action.nargs in ("*", "+"):
        return [convert(line.strip()) for line in raw.splitlines() if line.strip()]
    value = convert(raw)
    if action.choices is not None and value not in action.choices:
        raise ValueError(f"expected one of {', '.join(map(str, action.choices))}")
    return value
