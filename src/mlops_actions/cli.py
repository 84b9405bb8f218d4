"""`mlops`: the command line behind every action. The only module that exits.

Flags and environment become a `Context`; a command returns a `StepResult`; this module turns that
result into `$GITHUB_OUTPUT`, the job summary, annotations, report files, `--json` or terminal
output, and an exit code: 0 ok, 1 a gate said no, 2 bad input or config, 3 backend failure.
No traceback, ever: an exception no step expected also ends through `runtime.fail`, as one line
naming the step and the cause, with exit 3 (the traceback only with `MLOPS_DEBUG=1`).
Building the parser imports no heavy library, so `mlops --help` stays instant.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from mlops_actions import __version__
from mlops_actions.commands import all_commands
from mlops_actions.commands.base import Command, Context
from mlops_actions.errors import BackendError, ConfigError, MlopsError
from mlops_actions.github import runtime
from mlops_actions.results import StepResult

# Libraries that phone home unless told not to; we never want that from CI or tests.
OFFLINE_DEFAULTS = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "GX_ANALYTICS_ENABLED": "false",
    "DVC_NO_ANALYTICS": "1",
    "AZUREML_CURRENT_CLOUD": "AzureCloud",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def common_options() -> _Parser:
    """Options accepted both before and after the subcommand (`mlops train --json`)."""
    parent = _Parser(add_help=False)
    _add_common(parent, suppress=True)
    return parent


def _add_common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    """The full `mlops` parser, one subcommand per action plus the tools."""
    parser = _Parser(
        prog="mlops",
        description="Take an ML model from a commit to a monitored production endpoint. "
        "Each subcommand is one step of the pipeline and one GitHub Action of the same name.",
        epilog="Exit codes: 0 ok, 1 a gate said no, 2 bad input or config, 3 backend failure.",
    )
    parser.add_argument("--version", action="version", version=f"mlops-actions {__version__}")
    _add_common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run `mlops`; returns the exit code."""
    for key, value in OFFLINE_DEFAULTS.items():
        os.environ.setdefault(key, value)
    parser = build_parser()
    try:
        args, unknown = parser.parse_known_args(argv)
        command: Command | None = getattr(args, "_command", None)
        if unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    except SystemExit as done:  # --help, --version, and argparse's own errors
        return done.code if isinstance(done.code, int) else 2
    if command is None:
        parser.print_help(sys.stderr)
        return 2
    explicit = args.config is not None or "MLOPS_CONFIG" in os.environ
    config = args.config or Path(os.environ.get("MLOPS_CONFIG", "mlops.yaml"))
    ctx = Context(
        args=args,
        config_path=config,
        config_explicit=explicit,
        report_dir=args.report_dir,
        json=bool(args.json),
    )
    title = f"mlops {command.name}"
    try:
        try:
            apply_action_inputs(args._parser, args)
            check_required(args._parser, args)
            ctx.report_dir = args.report_dir
            return emit(command.run(ctx), ctx)
        except MlopsError as exc:
            file, line, col = exc.position() if isinstance(exc, ConfigError) else (None, None, None)
            runtime.fail(
                str(exc),
                exc.exit_code,
                title=title,
                file=file,
                line=line,
                col=col,
                json_mode=ctx.json,
                report_dir=ctx.report_dir,
            )
        except KeyboardInterrupt:
            sys.stderr.write("interrupted\n")
            return 130
        except Exception as exc:  # noqa: BLE001 - no traceback, ever: one line and exit 3
            runtime.fail(
                unexpected(exc),
                BackendError.exit_code,
                title=title,
                json_mode=ctx.json,
                report_dir=ctx.report_dir,
            )
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 1


DEBUG_ENV = "MLOPS_DEBUG"


def unexpected(exc: BaseException) -> str:
    """The one line for an exception no step expected; the traceback goes to stderr with
    `MLOPS_DEBUG=1` only."""
    if os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes"):
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    detail = " ".join(str(exc).split())
    if len(detail) > 500:
        detail = detail[:499] + "…"
    return (
        f"unexpected {type(exc).__name__}" + (f": {detail}" if detail else "") + "; this is a "
        f"bug or an unhandled failure: re-run with {DEBUG_ENV}=1 for the traceback and report it."
    )


def emit(result: StepResult, ctx: Context) -> int:
    """Send a result to every destination; returns 0, or 1 when the gate said no."""
    import json

    if result.raw_stdout is not None:
        sys.stdout.write(result.raw_stdout)
        return 0
    on_github = runtime.in_github_actions()
    # A workflow reads paths from another folder than the step's working-directory: make them
    # absolute once, here, for every step.
    for key, value in result.outputs.items():
        if key.endswith("-path") and isinstance(value, (str, Path)) and str(value):
            result.outputs[key] = str(Path(value).resolve())
    runtime.write_outputs(result.outputs)
    if result.summary:
        runtime.append_summary(result.summary)
    slug = result.step.replace(" ", "-")
    if ctx.report_dir is not None:
        if result.summary:
            runtime.report_dir_file(ctx.report_dir, f"{slug}.md", result.summary)
        runtime.report_dir_file(
            ctx.report_dir,
            f"{slug}.json",
            json.dumps(result.outputs, indent=2, sort_keys=True, default=str) + "\n",
        )
    stream = runtime.command_stream(json_mode=ctx.json)
    for note in result.annotations:
        if on_github:
            runtime.annotate(
                note.level,
                note.message,
                file=note.file,
                line=note.line,
                col=note.col,
                title=note.title,
                stream=stream,
            )
        else:
            where = ":".join(str(p) for p in (note.file, note.line, note.col) if p is not None)
            sys.stderr.write(f"{note.level}: {where + ' ' if where else ''}{note.message}\n")
    if ctx.json:
        sys.stdout.write(json.dumps(result.outputs, sort_keys=True, default=str) + "\n")
    elif not on_github and result.summary:
        _print_markdown(result.summary)
    if not result.passed:
        runtime.report_failure(
            result.message or f"{result.step} said no",
            title=f"mlops {result.step}",
            json_mode=ctx.json,
        )
        return 1
    if result.message and not ctx.json:
        sys.stderr.write(f"{result.message}\n")
    return 0


def _print_markdown(text: str) -> None:
    from rich.console import Console
    from rich.markdown import Markdown

    Console(soft_wrap=False).print(Markdown(text))
