"""`mlops endpoint status`: the local endpoint's deployments, their traffic and mirror."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mlops_actions.reports.markdown import escape, table
from mlops_actions.reports.templates import render


def status_summary(
    name: str,
    url: str | None,
    deployments: Sequence[Mapping[str, Any]],
    traffic: Mapping[str, Any],
    mirror: Mapping[str, Any],
) -> str:
    """Whether the endpoint runs (`url` None: not running), then one row per deployment."""
    rows = [
        (
            d.get("name"),
            f"{d.get('model_name')} v{d.get('model_version')}",
            d.get("state"),
            f"{traffic.get(str(d.get('name')), 0)} %",
            f"{mirror.get('percent')} %" if mirror.get("deployment") == d.get("name") else "",
            d.get("error") or "",
        )
        for d in deployments
    ]
    shown = (
        table(["deployment", "model", "state", "traffic", "mirror", "error"], rows)
        if rows
        else "No deployments."
    )
    where = f"running at {escape(url)}" if url is not None else "not running"
    return render("endpoint_status", name=escape(name), where=where, deployments=shown)
