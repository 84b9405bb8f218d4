"""`mlops pipeline run`: all steps, in order, with the local backends (the README's demo)."""

from __future__ import annotations

import argparse

from mlops_actions.commands.base import Command, Context
from mlops_actions.results import StepResult


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    from mlops_actions.cli import common_options

    sub = parser.add_subparsers(dest="pipeline_action", metavar="{run}", required=True)
    run = sub.add_parser("run", parents=[common_options()], help="Run every step in order, locally")
    run.add_argument("--approve", action="store_true", help="Skip the approval prompt.")
    run.add_argument(
        "--keep-endpoint", action="store_true", help="Leave the local endpoint running."
    )
    run.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Override a training parameter (repeatable).",
    )


def _run(ctx: Context) -> StepResult:
    from mlops_actions.pipeline import run_pipeline
    from mlops_actions.reports.markdown import table

    settings = ctx.settings()
    statuses = run_pipeline(settings, approve=ctx.args.approve)
    missing = [s.step for s in statuses if s.state == "not available"]
    icon = {"done": "✅", "failed": "❌", "skipped": "⏭", "not available": "🚧"}
    summary = f"### Pipeline for model {settings.model.name}\n\n" + table(
        ["step", "state", "detail"],
        [(s.step, f"{icon[s.state]} {s.state}", s.detail) for s in statuses],
    )
    message = (
        f"stopped before {missing[0]}: that step is not available in this version yet"
        if missing
        else "pipeline finished"
    )
    return StepResult(
        "pipeline run",
        {
            "steps": {s.step: s.state for s in statuses},
            "complete": not missing and all(s.state == "done" for s in statuses),
        },
        message=message,
        summary=summary,
    )


COMMAND = Command("pipeline", "Run the whole pipeline locally", _add_arguments, _run)
