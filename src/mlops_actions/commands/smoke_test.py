"""`mlops smoke-test --deployment NAME`: schema, golden cases, latency and prediction parity.

Calls the deployment directly (the `azureml-model-deployment` header), so it works at 0 % traffic.
Exit 1 when a check fails; outputs `passed`, `failures`, `p95-latency-ms`, `parity-max-diff`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_actions.commands.base import Command, Context
from mlops_actions.commands.options import setting_flag
from mlops_actions.results import StepResult

if TYPE_CHECKING:
    from mlops_actions.steps.smoke_test import SmokeResult


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--deployment", required=True, metavar="NAME", help="Deployment to test (e.g. model-v3)."
    )
    setting_flag(
        parser, "--cases", "smoke.cases", type=Path, metavar="PATH", help="Smoke cases JSONL."
    )
    setting_flag(
        parser,
        "--latency-budget-ms",
        "smoke.latency_budget_ms",
        type=float,
        metavar="MS",
        help="p95 latency budget.",
    )
    setting_flag(
        parser,
        "--parity-rows",
        "smoke.parity_rows",
        type=int,
        metavar="N",
        help="Holdout rows replayed for prediction parity (0: off).",
    )
    setting_flag(
        parser,
        "--parity-tolerance",
        "smoke.parity_tolerance",
        type=float,
        metavar="X",
        help="Largest allowed |served − offline| difference.",
    )


def _run(ctx: Context) -> StepResult:
    from mlops_actions.backends.factory import open_endpoint
    from mlops_actions.steps.smoke_test import smoke_test

    settings = ctx.settings()
    endpoint = open_endpoint(settings, start=False)
    return to_step_result(smoke_test(settings, deployment=ctx.args.deployment, endpoint=endpoint))


def outputs(result: SmokeResult) -> dict[str, object]:
    """The step outputs of a smoke test (empty strings for what was not measured)."""
    return {
        "passed": result.passed,
        "failures": len(result.failures),
        "p95-latency-ms": round(result.p95_latency_ms, 3)
        if result.p95_latency_ms is not None
        else "",
        "parity-max-diff": result.parity_max_diff if result.parity_max_diff is not None else "",
        "deployment": result.deployment,
        "model-version": result.model_version,
    }


def to_step_result(result: SmokeResult) -> StepResult:
    """The smoke test's outputs, message and summary; passed when every check passed."""
    from mlops_actions.reports.smoke_test import summary

    message = (
        f"smoke test of {result.deployment} passed"
        if result.passed
        else f"smoke test of {result.deployment} failed: " + "; ".join(result.failures[:3])
    )
    return StepResult(
        "smoke-test",
        outputs(result),
        passed=result.passed,
        message=message,
        summary=summary(result),
    )


COMMAND = Command(
    "smoke-test",
    "Smoke-test a deployment, including prediction parity",
    _add_arguments,
    _run,
    outputs=(
        ("passed", "true when every check passed"),
        ("failures", "number of failed checks"),
        ("p95-latency-ms", "p95 latency of the smoke requests in ms"),
        ("parity-max-diff", "largest |served - offline| difference (empty when not checked)"),
        ("deployment", "the tested deployment"),
        ("model-version", "the version it serves"),
    ),
    description="Call one deployment directly: schema against the model signature, golden "
    "cases from smoke.cases, a p95 latency budget, and prediction parity with the registered "
    "model's offline predictions on holdout rows (training/serving skew).",
)
