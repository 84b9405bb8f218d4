"""`mlops train-azureml` (alias `mlops train`): run the training command, locally or on Azure ML.

Outputs: `run-id`, `model-uri` (models:/m-…), `job-name`, `job-url`, `metrics` (JSON), `status`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_actions.commands.base import Command, Context
from mlops_actions.redact import redact_text, redact_uri
from mlops_actions.results import Annotation, StepResult

if TYPE_CHECKING:
    from mlops_actions.steps.train import TrainingResult

STEP = "train-azureml"


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        metavar="{local,azureml}",
        help="Where to train (default: train.backend, else local).",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Override or add a parameter of train.params (repeatable); passed as --KEY VALUE.",
    )
    parser.add_argument(
        "--timeout-minutes",
        type=float,
        metavar="MIN",
        help="Stop the training after this long (default: train.timeout_minutes).",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="Validate and print what would run (the Azure ML job as YAML); run nothing.",
    )
    parser.add_argument(
        "--reproduce",
        metavar="RUN_ID",
        help="Re-run a recorded run from the same commit and data and compare its metrics.",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        metavar="X",
        help="With --reproduce: largest accepted absolute metric difference (default 1e-6).",
    )
    parser.add_argument(
        "--job-name",
        metavar="NAME",
        help="Name of the job/run; an existing Azure ML job of that name is waited for, "
        "not submitted again.",
    )
    parser.add_argument(
        "--lock-file",
        type=Path,
        metavar="PATH",
        help="The project's pinned requirements: hashed into the lineage, and the Azure ML "
        "environment is built from it (default: the mlops-actions lock).",
    )


def _run(ctx: Context) -> StepResult:
    from mlops_actions.steps.train import (
        DEFAULT_TOLERANCE,
        DryRun,
        TrainRequest,
        parse_param_flags,
        run_training,
    )

    args = ctx.args
    settings = ctx.settings()
    request = TrainRequest(
        backend=args.backend,
        params=parse_param_flags(list(args.param or [])),
        timeout_minutes=args.timeout_minutes,
        dry_run=bool(args.dry_run),
        reproduce=args.reproduce,
        tolerance=args.tolerance if args.tolerance is not None else DEFAULT_TOLERANCE,
        job_name=args.job_name,
        lock_file=args.lock_file or settings.train.lock_file,
    )
    # The training log is progress, not the result: stderr keeps stdout for the report / JSON
    # (also when another command, such as `mlops pipeline run`, calls this one).
    result = run_training(settings, request, log=sys.stderr)
    if isinstance(result, DryRun):
        return StepResult(STEP, {}, raw_stdout=result.spec)
    return _step_result(result, settings.model.name)


def _step_result(result: TrainingResult, model: str) -> StepResult:
    outputs: dict[str, object] = {
        "run-id": result.run_id,
        "model-uri": result.model_uri,
        "job-name": result.job_name,
        "job-url": redact_uri(result.job_url),
        "metrics": result.metrics,
        "status": result.status,
    }
    repro = result.reproduction
    if repro is not None:
        outputs["reproduced"] = repro.passed
    if result.passed:
        message = f"trained {model}: {result.model_uri} (run {result.run_id})"
        if repro is not None:
            message = (
                f"reproduced run {repro.original_run_id}: every metric within ±{repro.tolerance:g}"
            )
    elif result.status != "completed":
        message = f"training {result.status}: {redact_text(result.message)}"
    else:
        assert repro is not None
        names = ", ".join(m.name for m in repro.beyond_tolerance)
        message = (
            f"run {repro.original_run_id} did not reproduce: {names} differ by more than "
            f"{repro.tolerance:g}; see the metric differences in the report"
        )
    return StepResult(
        STEP,
        outputs,
        passed=result.passed,
        message=message,
        summary=_summary(result, model),
        annotations=[Annotation("warning", w, title=f"mlops {STEP}") for w in result.warnings],
    )


def _summary(result: TrainingResult, model: str) -> str:
    from mlops_actions import lineage
    from mlops_actions.reports.markdown import escape, table

    icon = "✅" if result.passed else "❌"
    verb = {
        "completed": "Trained",
        "failed": "Training failed for",
        "canceled": "Training canceled for",
        "timed-out": "Training timed out for",
    }[result.status]
    tags = result.tags
    code = tags.get(lineage.TAG_COMMIT, "not a git checkout")[:12]
    if tags.get(lineage.TAG_DIRTY) == "true":
        code += " (uncommitted changes)"
    rows: list[tuple[str, str]] = [
        ("run", f"{result.run_id} in {result.experiment}"),
        ("model", result.model_uri or "none"),
        ("job", f"{result.job_name} {redact_uri(result.job_url)}".strip()),
        ("params", ", ".join(f"{k}={v}" for k, v in result.params.items()) or "none"),
        ("code", code),
        ("data", tags.get(lineage.TAG_DATA_VERSION, "not recorded")),
        (
            "time",
            f"{result.duration_seconds:.1f} s, of which mlops {result.overhead_seconds:.1f} s",
        ),
    ]
    parts = [
        f"### {icon} {verb} {escape(model)} ({escape(result.backend)})\n",
        table(["", ""], rows),
    ]
    if result.metrics:
        parts.append(
            table(["metric", "value"], [(k, f"{v:.6g}") for k, v in sorted(result.metrics.items())])
        )
    repro = result.reproduction
    if repro is not None:
        verdict = "reproduced" if repro.passed else "did not reproduce"
        parts.append(
            f"**Reproduction of {escape(repro.original_run_id)}: {verdict}** "
            f"(tolerance ±{repro.tolerance:g})\n\n"
            + table(
                ["metric", "original", "reproduced", "difference"],
                [
                    (
                        m.name,
                        f"{m.original:.6g}",
                        "missing" if m.reproduced is None else f"{m.reproduced:.6g}",
                        f"{m.difference:+.3g}",
                    )
                    for m in repro.metrics
                ],
            )
        )
    if result.status != "completed":
        parts.append(escape(redact_text(result.message), max_len=1000) + "\n")
        if result.log_tail:
            parts.append(
                "<details open><summary>Last lines of the log</summary>\n\n"
                + code_block(redact_text(result.log_tail))
                + "\n</details>\n"
            )
    return "\n".join(parts)


def code_block(text: str) -> str:
    """`text` as a fenced code block that nothing inside can close (inert in Markdown)."""
    longest = max((len(run) for run in _backtick_runs(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text.rstrip()}\n{fence}\n"


def _backtick_runs(text: str) -> list[str]:
    import re

    return re.findall(r"`+", text)


COMMAND = Command(
    STEP,
    "Train locally or as an Azure ML job, with lineage",
    _add_arguments,
    _run,
    aliases=("train",),
    outputs=(
        ("run-id", "MLflow run of the training"),
        ("model-uri", "the logged model (models:/m-…)"),
        ("job-name", "Azure ML job name (the run id for local training)"),
        ("job-url", "Azure ML studio link of the job (empty for local training)"),
        ("metrics", "metrics the script logged (JSON)"),
        ("status", "completed, failed, canceled or timed-out"),
    ),
    description="Run train.command with MLFLOW_TRACKING_URI and MLFLOW_RUN_ID set (locally, or as "
    "an Azure ML command/sweep job), record lineage on the run, and output the logged model.",
)
