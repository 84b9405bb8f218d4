"""`mlops config check` and `mlops config schema`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_actions.commands.base import Command, Context
from mlops_actions.errors import InputError
from mlops_actions.results import StepResult

if TYPE_CHECKING:
    from mlops_actions.config import Settings


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    from mlops_actions.commands.options import common_options

    sub = parser.add_subparsers(dest="config_action", metavar="{check,schema}", required=True)
    check = sub.add_parser(
        "check",
        parents=[common_options()],
        help="Validate mlops.yaml, check that everything a run needs is there, and show what it "
        "resolves to",
    )
    check.add_argument(
        "--no-data",
        action="store_true",
        help="Do not open the data files (their existence is still checked): for data that is "
        "large or not pulled yet.",
    )
    schema = sub.add_parser(
        "schema", parents=[common_options()], help="Write the JSON Schema of mlops.yaml"
    )
    schema.add_argument(
        "--output", "-o", type=Path, help="File to write (default: print to stdout)."
    )


def _run(ctx: Context) -> StepResult:
    if ctx.args.config_action == "schema":
        return _schema(ctx.args.output)
    return _check(ctx)


def _schema(output: Path | None) -> StepResult:
    import json

    from mlops_actions.config import json_schema

    text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    if output is None or str(output) == "-":
        return StepResult("config schema", {}, raw_stdout=text)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"cannot write the schema to {output}: {exc.strerror};", hint="choose another --output."
        ) from None
    return StepResult(
        "config schema",
        {"schema-path": str(output)},
        message=f"wrote the JSON Schema of mlops.yaml to {output}",
    )


def _check(ctx: Context) -> StepResult:
    from mlops_actions.preflight import raise_for
    from mlops_actions.redact import redact_uri

    settings = ctx.settings()
    raise_for(settings, ctx.config_path, read_data=not ctx.args.no_data)
    tracking = redact_uri(settings.resolved_tracking_uri())
    rows = [
        ("model", f"{settings.model.name} ({settings.model.task})"),
        ("tracking", tracking),
        ("train", f"{settings.train.backend}: {settings.train.command}"),
        ("evaluate", _improvement(settings)),
        (
            "deploy",
            f"{settings.deploy.backend}, {settings.deploy.strategy} {settings.deploy.steps}",
        ),
    ]
    from mlops_actions.reports.markdown import escape, table

    return StepResult(
        "config check",
        {
            "valid": True,
            "model-name": settings.model.name,
            "task": settings.model.task,
            "tracking-uri": tracking,
        },
        message=f"{ctx.config_path} is valid, and everything a run needs is there",
        summary=f"### ✅ {escape(ctx.config_path.name)} is valid\n\n"
        + table(["key", "value"], rows),
    )


def _improvement(settings: Settings) -> str:
    evaluate = settings.evaluate
    need = evaluate.min_improvement
    if evaluate.improvement == "relative":
        return f"{evaluate.primary_metric}: better by ≥ {need:.2%} relative (a tie never is)"
    return f"{evaluate.primary_metric}: better by ≥ {need:g} (a tie never is)"


COMMAND = Command("config", "Check mlops.yaml or write its JSON Schema", _add_arguments, _run)
