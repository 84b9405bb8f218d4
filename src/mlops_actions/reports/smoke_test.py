"""The smoke test's Markdown summary (`templates/summaries/smoke_test.md`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_actions.reports.markdown import escape
from mlops_actions.reports.templates import render

if TYPE_CHECKING:
    from mlops_actions.steps.smoke_test import SmokeResult

MAX_FAILURES = 50


def summary(result: SmokeResult, *, heading: str = "###") -> str:
    """The smoke test as Markdown, every user-controlled string escaped.

    `heading` is the Markdown heading marker of its title (`####` inside canary-deploy's).
    """
    passed_cases = sum(c.passed for c in result.cases)
    p95 = f"{result.p95_latency_ms:.1f} ms" if result.p95_latency_ms is not None else "n/a"
    parity = (
        f"{result.parity_mismatches} of {result.parity_rows} rows differ, max "
        f"{result.parity_max_diff:.6g} (tolerance {result.parity_tolerance:g})"
        if result.parity_max_diff is not None
        else "not checked"
    )
    return render(
        "smoke_test",
        heading=heading,
        icon="✅" if result.passed else "❌",
        deployment=escape(result.deployment),
        model=escape(result.model_name),
        version=escape(result.model_version),
        verdict="passed" if result.passed else f"failed ({len(result.failures)})",
        schema="checked" if result.schema_checked else "not checked",
        cases=escape(f"{passed_cases} of {len(result.cases)} passed"),
        latency=escape(f"{p95} (budget {result.latency_budget_ms:g} ms)"),
        parity=escape(parity),
        failures=_failures(result.failures),
        notes="\n".join(f"_{escape(n)}_" for n in result.notes),
    )


def _failures(failures: tuple[str, ...]) -> str:
    if not failures:
        return ""
    items = "\n".join(f"- {escape(f, max_len=500)}" for f in failures[:MAX_FAILURES])
    return f"**Failures**\n\n{items}"
