"""`mlops pipeline run`'s summary: one row per step, then what the run produced."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_actions.reports.markdown import escape, table
from mlops_actions.reports.templates import render

if TYPE_CHECKING:
    from mlops_actions.pipeline import StepStatus

ICONS = {"done": "✅", "failed": "❌", "skipped": "⏭"}
"""The mark of each step state, on the console and in the summary."""


def markdown_summary(
    model: str,
    statuses: Sequence[StepStatus],
    outputs: Mapping[str, object],
    *,
    endpoint_state: str,
    report_dir: Path,
) -> str:
    """The steps with their state and detail, then the data version, run, model version,
    comparison, canary outcome, endpoint and report folder (those the run reached)."""
    steps = table(
        ["step", "state", "detail"],
        [(s.step, f"{ICONS[s.state]} {s.state}", s.detail) for s in statuses],
    )
    facts = [
        ("data version", outputs.get("validate-data.data-version")),
        ("training run", outputs.get("train-azureml.run-id")),
        ("model version", outputs.get("register.model-version")),
        ("comparison", outputs.get("compare-champion.decision-reason")),
        ("canary", outputs.get("canary-deploy.outcome")),
        ("endpoint", endpoint_fact(outputs, endpoint_state)),
        ("reports", str(report_dir)),
    ]
    shown = table(["", ""], [(k, v) for k, v in facts if v not in (None, "")])
    return render("pipeline", model=escape(model), steps=steps, facts=shown)


def endpoint_fact(outputs: Mapping[str, object], state: str) -> str | None:
    """Where the endpoint is and whether it still serves, for the summary."""
    url = outputs.get("canary-deploy.endpoint-url")
    if state == "running":
        return f"{url or 'local endpoint'} (serving; `mlops endpoint down` stops it)"
    return f"{url} ({state})" if url else None
