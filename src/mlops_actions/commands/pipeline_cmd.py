"""`mlops pipeline run`: all steps, in order, with the local backends (the README's demo)."""

from __future__ import annotations

import argparse
import sys

from mlops_actions.commands.base import Command, Context
from mlops_actions.results import StepResult


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    from mlops_actions.commands.options import common_options

    sub = parser.add_subparsers(dest="pipeline_action", metavar="{run}", required=True)
    run = sub.add_parser("run", parents=[common_options()], help="Run every step in order, locally")
    run.add_argument(
        "--approve", action="store_true", help="Approve the deployment without asking."
    )
    run.add_argument(
        "--keep-endpoint",
        action="store_true",
        help="Leave the local endpoint running even when nothing was promoted.",
    )
    run.add_argument(
        "--stop-endpoint",
        action="store_true",
        help="Stop the local endpoint at the end, even after a promotion (default: a promoted "
        "model keeps serving until `mlops endpoint down`).",
    )
    run.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Override a training parameter (repeatable).",
    )


def _approver(auto: bool) -> object:
    def approve(context: dict[str, object]) -> bool:
        if auto:
            return True
        if not sys.stdin.isatty():
            sys.stderr.write(
                "approval needed and there is no terminal to ask: pass --approve to deploy\n"
            )
            return False
        version = context.get("register.model-version", "?")
        reason = context.get("compare-champion.decision-reason", "")
        sys.stderr.write(f"\nDeploy model version {version}? {reason}\n")
        answer = input("Approve the deployment [y/N]: ").strip().lower()
        return answer in ("y", "yes")

    return approve


def _run(ctx: Context) -> StepResult:
    from mlops_actions.pipeline import (
        PipelineOptions,
        StepStatus,
        endpoint_after_run,
        local_endpoint_running,
        run_pipeline,
    )
    from mlops_actions.preflight import raise_for
    from mlops_actions.reports.pipeline import ICONS, markdown_summary

    settings = ctx.settings()
    raise_for(settings, ctx.config_path)
    report_dir = ctx.report_folder(settings)

    def show(status: StepStatus) -> None:
        detail = f" — {status.detail}" if status.detail else ""
        took = f" ({status.seconds:.1f} s)" if status.seconds else ""
        sys.stderr.write(f"{ICONS[status.state]} {status.step}: {status.state}{took}{detail}\n")
        sys.stderr.flush()

    options = PipelineOptions(
        config=ctx.config_path,
        report_dir=report_dir,
        approve=_approver(ctx.args.approve),  # type: ignore[arg-type]
        params=tuple(ctx.args.param),
        subcommands=ctx.subcommands,
    )
    was_running = local_endpoint_running(settings)
    statuses: list[StepStatus] = []
    try:
        statuses = run_pipeline(options, progress=show)
    finally:
        promoted = any(
            s.step == "canary-deploy" and s.outputs.get("outcome") == "promoted" for s in statuses
        )
        endpoint_state = endpoint_after_run(
            settings,
            was_running=was_running,
            promoted=promoted,
            keep=ctx.args.keep_endpoint,
            stop=ctx.args.stop_endpoint,
        )
    outputs: dict[str, object] = {"endpoint-state": endpoint_state}
    for status in statuses:
        outputs.update({f"{status.step}.{k}": v for k, v in status.outputs.items()})
    failed = [s for s in statuses if s.state == "failed"]
    complete = all(s.state == "done" for s in statuses)
    summary = markdown_summary(
        settings.model.name,
        statuses,
        outputs,
        endpoint_state=endpoint_state,
        report_dir=report_dir,
    )
    if failed:
        message = f"stopped at {failed[0].step}: {failed[0].detail}"
    else:
        message = "pipeline finished: every step passed"
    if endpoint_state == "running":
        url = outputs.get("canary-deploy.endpoint-url") or "the local endpoint"
        message += f"\nthe endpoint keeps serving at {url}; stop it with `mlops endpoint down`"
    return StepResult(
        "pipeline run",
        {
            "steps": {s.step: s.state for s in statuses},
            "seconds": {s.step: s.seconds for s in statuses if s.seconds},
            "complete": complete,
            "report-dir": str(report_dir),
            **outputs,
        },
        passed=not failed,
        message=message,
        summary=summary,
    )


COMMAND = Command("pipeline", "Run the whole pipeline locally", _add_arguments, _run)
