"""The verdict of a comparison, as `mlops.comparison.*` tags on the candidate's MLflow run.

`compare-champion` writes it (`record_verdict`); `register` reads it back (`read_verdict`) to
decide whether the candidate may become a version, and copies it onto that version
(`version_tags`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_actions.comparison.candidates import ModelRef
    from mlops_actions.registry import ModelRegistry

VERDICT_PREFIX = "mlops.comparison."


def record_verdict(
    registry: ModelRegistry,
    candidate: ModelRef,
    *,
    is_better: bool,
    reason: str,
    primary: str,
    champion_version: str | None,
    metrics: Mapping[str, float | None] | None = None,
) -> None:
    """Write the verdict on the candidate's run, where `register` reads it.

    Does nothing for a candidate without a run. Writing again replaces the previous verdict.
    Blocking; BackendError when the tracking server fails.
    """
    if not candidate.run_id:
        return
    tags = {
        "is_better": "true" if is_better else "false",
        "reason": reason,
        "primary_metric": primary,
        "champion_version": champion_version or "",
        "candidate": candidate.uri,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if metrics is not None:
        tags["metrics"] = json.dumps(metrics, sort_keys=True)
    registry.set_run_tags(
        candidate.run_id,
        {VERDICT_PREFIX + key: value for key, value in tags.items()},
        action=f"record the verdict on run {candidate.run_id}",
    )


@dataclass(frozen=True)
class Verdict:
    """The latest comparison recorded on a run."""

    is_better: bool
    reason: str
    candidate: str
    champion_version: str | None
    primary_metric: str
    metrics: dict[str, float | None]


def read_verdict(tags: Mapping[str, str]) -> Verdict | None:
    """The verdict among a run's tags, or None when the run was never compared."""
    flag = tags.get(VERDICT_PREFIX + "is_better")
    if flag not in ("true", "false"):
        return None
    try:
        metrics = json.loads(tags.get(VERDICT_PREFIX + "metrics", "{}"))
    except ValueError:
        metrics = {}
    return Verdict(
        is_better=flag == "true",
        reason=tags.get(VERDICT_PREFIX + "reason", ""),
        candidate=tags.get(VERDICT_PREFIX + "candidate", ""),
        champion_version=tags.get(VERDICT_PREFIX + "champion_version") or None,
        primary_metric=tags.get(VERDICT_PREFIX + "primary_metric", ""),
        metrics=metrics if isinstance(metrics, dict) else {},
    )


def version_tags(verdict: Verdict) -> dict[str, str]:
    """The verdict as tags of the registered version: the decision and `mlops.metrics.*`."""
    tags = {
        VERDICT_PREFIX + "is_better": "true" if verdict.is_better else "false",
        VERDICT_PREFIX + "reason": verdict.reason,
        VERDICT_PREFIX + "primary_metric": verdict.primary_metric,
        VERDICT_PREFIX + "champion_version": verdict.champion_version or "",
    }
    for metric, value in verdict.metrics.items():
        tags[f"mlops.metrics.{metric}"] = "nan" if value is None else f"{value:.6g}"
    return tags
