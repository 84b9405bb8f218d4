"""`mlops`: the command line behind every action. The only module that exits.

Flags and environment become a `Context`; a command returns a `StepResult`; this module turns that
result into `$GITHUB_OUTPUT`, the job summary, annotations, report files, `--json` or terminal
output, and an exit code: 0 ok, 1 a gate said no, 2 bad input or config, 3 backend failure.
No traceback, ever: an exception no step expected also ends through `runtime.fail`, the one
failure path, as one line naming the step and the cause, with exit 3 (the traceback only with
`MLOPS_DEBUG=1`).
The parser lives in `commands.parser`; this module only runs what it parsed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from mlops_actions.commands.base import Command, Context
from mlops_actions.commands.parser import (
    apply_action_inputs,
    build_parser,
    check_required,
    subcommands,
)
from mlops_actions.errors import BackendError, ConfigError, InputError, MlopsError
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run `mlops`; returns the exit code."""
    for key, value in OFFLINE_DEFAULTS.items():
        os.environ.setdefault(key, value)
    parser = build_parser()
    try:
        args, unknown = parser.parse_known_args(argv)
        if unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        command: Command | None = getattr(args, "_command", None)
        if command is not None:
            apply_action_inputs(args._parser, args)
            check_required(args._parser, args)
    except SystemExit as done:  # --help, --version, and argparse's own errors
        return done.code if isinstance(done.code, int) else 2
    except InputError as exc:  # an action input that its flag rejects
        return runtime.fail(str(exc), exc.exit_code, title="mlops", json_mode=bool(args.json))
    if command is None:
        parser.print_help(sys.stderr)
        return 2
    ctx = Context.from_args(args, subcommands=subcommands)
    title = f"mlops {command.name}"
    try:
        return emit(command.run(ctx), ctx)
    except MlopsError as exc:
        file, line, col = exc.position() if isinstance(exc, ConfigError) else (None, None, None)
        message, code = str(exc), exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - no traceback, ever: one line and exit 3
        file, line, col = None, None, None
        message, code = unexpected(exc), BackendError.exit_code
    return runtime.fail(
        message,
        code,
        title=title,
        file=file,
        line=line,
        col=col,
        json_mode=ctx.json,
        report_dir=ctx.report_dir,
    )


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
    outputs = _absolute_paths(result.outputs)
    runtime.write_outputs(outputs)
    if result.summary:
        runtime.append_summary(result.summary)
    slug = result.step.replace(" ", "-")
    if ctx.report_dir is not None:
        if result.summary:
            runtime.report_dir_file(ctx.report_dir, f"{slug}.md", result.summary)
        runtime.report_dir_file(
            ctx.report_dir,
            f"{slug}.json",
            json.dumps(outputs, indent=2, sort_keys=True, default=str) + "\n",
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
        sys.stdout.write(json.dumps(outputs, sort_keys=True, default=str) + "\n")
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


def _absolute_paths(outputs: dict[str, object]) -> dict[str, object]:
    """The outputs with every `*-path` made absolute: a workflow reads them from another folder
    than the step's working-directory."""
    return {
        key: str(Path(value).resolve())
        if key.endswith("-path") and isinstance(value, (str, Path)) and str(value)
        else value
        for key, value in outputs.items()
    }


def _print_markdown(text: str) -> None:
    from rich.console import Console
    from rich.markdown import Markdown

    Console(soft_wrap=False).print(Markdown(text))
