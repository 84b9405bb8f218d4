"""`mlops train-azureml` (alias `mlops train`): run the training command, locally or on Azure ML.

Outputs: `run-id`, `model-uri` (models:/m-…), `job-name`, `job-url`, `metrics` (JSON), `status`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_actions.commands.base import Command, Context
from mlops_actions.commands.options import setting_flag
from mlops_actions.redact import redact_text, redact_uri
from mlops_actions.results import Annotation, StepResult

if TYPE_CHECKING:
    from mlops_actions.steps.train import TrainingResult

STEP = "train-azureml"


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    setting_flag(
        parser, "--backend", "train.backend", metavar="{local,azureml}", help="Where to train."
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Override or add a parameter of train.params (repeatable); passed as --KEY VALUE.",
    )
    setting_flag(
        parser,
        "--timeout-minutes",
        "train.timeout_minutes",
        type=float,
        metavar="MIN",
        help="Stop the training after this long.",
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
    setting_flag(
        parser,
        "--lock-file",
        "train.lock_file",
        type=Path,
        metavar="PATH",
        help="The project's pinned requirements (without one: the mlops-actions lock): hashed "
        "into the lineage; the Azure ML environment is built from it.",
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
        params=parse_param_flags(list(args.param or [])),
        dry_run=bool(args.dry_run),
        reproduce=args.reproduce,
        tolerance=args.tolerance if args.tolerance is not None else DEFAULT_TOLERANCE,
        job_name=args.job_name,
    )
    # The training log is progress, not the result: stderr keeps stdout for the report / JSON
    # (also when another command, such as `mlops pipeline run`, calls this one).
    result = run_training(settings, request, log=sys.stderr)
    if isinstance(result, DryRun):
        return StepResult(STEP, {}, raw_stdout=result.spec)
    return _step_result(result, settings.model.name)


def _step_result(result: TrainingResult, model: str) -> StepResult:
    from mlops_actions.reports.train import summary

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
        summary=summary(result, model),
        annotations=[Annotation("warning", w, title=f"mlops {STEP}") for w in result.warnings],
    )


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
