"""canary-deploy's Markdown summaries: a rollout (`templates/summaries/canary_deploy.md`) and a
`--recover` run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_actions.reports.markdown import escape, table
from mlops_actions.reports.templates import render

if TYPE_CHECKING:
    from mlops_actions.canary.results import CanaryResult, Check, ShadowComparison
    from mlops_actions.steps.canary_recovery import Recovery

MAX_FAILED_CHECKS = 20
"""The last failed checks shown; the earlier ones add nothing a reader needs."""


def summary(result: CanaryResult) -> str:
    """The rollout as Markdown: outcome, phases, shadow comparison, failed checks, smoke test.

    Every user-controlled string is escaped.
    """
    from mlops_actions.reports.smoke_test import summary as smoke_summary

    phases = table(
        ["phase", "outcome", "traffic", "seconds", "detail"],
        [
            (p.name, p.outcome, split(p.traffic), f"{p.seconds:.1f}", p.detail)
            for p in result.phases
        ],
    )
    return render(
        "canary_deploy",
        icon="✅" if result.promoted else "↩️",
        model=escape(result.model_name),
        version=escape(result.model_version),
        outcome=result.outcome,
        reason_label="Result" if result.promoted else "Reason",
        reason=escape(result.reason, max_len=1000),
        strategy=escape(result.strategy),
        deployment=escape(result.deployment),
        previous=escape(result.previous_deployment or "none"),
        traffic=escape(split(result.final_traffic) or "no live traffic"),
        seconds=f"{result.seconds:.1f}",
        phases=phases,
        shadow=_shadow(result.shadow) if result.shadow is not None else "",
        failed_checks=_failed_checks(result.checks),
        smoke=smoke_summary(result.smoke, heading="####") if result.smoke is not None else "",
        notes="\n".join(f"- {escape(n, max_len=500)}" for n in result.notes),
    )


def recovery_summary(model_name: str, found: Recovery) -> str:
    """A `--recover` run as Markdown: what it found and did, and its notes."""
    notes = "".join(f"\n- {escape(n)}" for n in found.notes)
    return (
        f"### canary-deploy --recover · {escape(model_name)}\n\n"
        f"{escape(found.describe(), max_len=1000)}{notes}\n"
    )


def split(traffic: dict[str, int]) -> str:
    """`model-v1 50 %, model-v2 50 %` (unescaped)."""
    return ", ".join(f"{k} {v} %" for k, v in sorted(traffic.items()))


def _shadow(s: ShadowComparison) -> str:
    def pct(x: float | None) -> str:
        return f"{x:.1%}" if x is not None else "n/a"

    def ms(x: float | None) -> str:
        return f"{x:.1f} ms" if x is not None else "n/a"

    rows = table(
        ["", "live", "shadow"],
        [
            ("deployment", s.live, s.shadow),
            ("requests", s.live_requests, s.shadow_requests),
            ("error rate", pct(s.live_error_rate), pct(s.shadow_error_rate)),
            ("p95 latency", ms(s.live_p95_ms), ms(s.shadow_p95_ms)),
            ("agreement", f"{pct(s.agreement)} of {s.agreement_rows} rows", ""),
        ],
    )
    return f"**Shadow vs live**\n\n{rows}"


def _failed_checks(checks: tuple[Check, ...]) -> str:
    failed = [c for c in checks if c.verdict in ("failed", "metrics-unavailable")]
    if not failed:
        return ""
    rows = table(
        ["at", "phase", "deployment", "verdict", "detail"],
        [
            (f"{c.at_seconds:.1f} s", c.phase, c.deployment, c.verdict, c.detail)
            for c in failed[-MAX_FAILED_CHECKS:]
        ],
    )
    return f"**Failed checks**\n\n{rows}"
