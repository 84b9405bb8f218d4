"""`mlops smoke-test --deployment NAME`: schema, golden cases, latency and prediction parity.

Calls the deployment directly (the `azureml-model-deployment` header), so it works at 0 % traffic.
Exit 1 when a check fails; outputs `passed`, `failures`, `p95-latency-ms`, `parity-max-diff`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_actions.commands.base import Command, Context
from mlops_actions.errors import InputError
from mlops_actions.results import StepResult

if TYPE_CHECKING:
    from mlops_actions.steps.smoke_test import SmokeResult


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--deployment", required=True, metavar="NAME", help="Deployment to test (e.g. model-v3)."
    )
    parser.add_argument(
        "--cases", type=Path, metavar="PATH", help="Smoke cases JSONL (default: smoke.cases)."
    )
    parser.add_argument(
        "--latency-budget-ms",
        type=float,
        metavar="MS",
        help="p95 latency budget (default: smoke.latency_budget_ms).",
    )
    parser.add_argument(
        "--parity-rows",
        type=int,
        metavar="N",
        help="Holdout rows replayed for prediction parity (default: smoke.parity_rows; 0: off).",
    )
    parser.add_argument(
        "--parity-tolerance",
        type=float,
        metavar="X",
        help="Largest allowed |served − offline| difference (default: smoke.parity_tolerance).",
    )


def _run(ctx: Context) -> StepResult:
    from mlops_actions.backends.factory import open_endpoint
    from mlops_actions.steps.smoke_test import smoke_test

    args = ctx.args
    for flag, value in (
        ("--latency-budget-ms", args.latency_budget_ms),
        ("--parity-tolerance", args.parity_tolerance),
    ):
        if value is not None and value < 0:
            raise InputError(f"{flag} must be ≥ 0, got {value:g};")
    if args.parity_rows is not None and args.parity_rows < 0:
        raise InputError(f"--parity-rows must be ≥ 0, got {args.parity_rows};")
    settings = ctx.settings()
    endpoint = open_endpoint(settings, start=False)
    result = smoke_test(
        settings,
        deployment=args.deployment,
        endpoint=endpoint,
        cases_path=args.cases,
        latency_budget_ms=args.latency_budget_ms,
        parity_rows=args.parity_rows,
        parity_tolerance=args.parity_tolerance,
    )
    return to_step_result(result)


def outputs(result: SmokeResult) -> dict[str, object]:
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


def summary(result: SmokeResult, *, heading: str = "###") -> str:
    """The smoke test as Markdown (every user-controlled string escaped)."""
    from mlops_actions.reports.markdown import escape, table

    icon = "✅" if result.passed else "❌"
    verdict = "passed" if result.passed else f"failed ({len(result.failures)})"
    lines = [
        f"{heading} {icon} smoke-test · {escape(result.deployment)} "
        f"({escape(result.model_name)} v{escape(result.model_version)}): {verdict}",
        "",
    ]
    p95 = f"{result.p95_latency_ms:.1f} ms" if result.p95_latency_ms is not None else "n/a"
    parity = (
        f"{result.parity_mismatches} of {result.parity_rows} rows differ, max "
        f"{result.parity_max_diff:.6g} (tolerance {result.parity_tolerance:g})"
        if result.parity_max_diff is not None
        else "not checked"
    )
    passed_cases = sum(c.passed for c in result.cases)
    lines.append(
        table(
            ["check", "result"],
            [
                ("schema", "checked" if result.schema_checked else "not checked"),
                ("golden cases", f"{passed_cases} of {len(result.cases)} passed"),
                ("p95 latency", f"{p95} (budget {result.latency_budget_ms:g} ms)"),
                ("prediction parity", parity),
            ],
        )
    )
    if result.failures:
        lines += ["", "**Failures**", ""]
        lines += [f"- {escape(f, max_len=500)}" for f in result.failures[:50]]
    if result.notes:
        lines += ["", *[f"_{escape(n)}_" for n in result.notes]]
    return "\n".join(lines) + "\n"


def to_step_result(result: SmokeResult) -> StepResult:
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
