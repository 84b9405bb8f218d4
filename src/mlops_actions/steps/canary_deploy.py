"""Step 7, canary-deploy: put a registered model version behind the endpoint, or leave it untouched.

Every strategy starts the same way: the new deployment is created at 0 % and smoke-tested
directly (`steps.smoke_test`). Then, by `deploy.strategy`:

- `shadow` — mirror `shadow_percent` % of live requests to it for `shadow_duration_seconds`,
  compare it with the live deployment (error rate, p95 latency, prediction agreement on holdout
  rows), then shift traffic through `deploy.steps` as `canary` does;
- `canary` — for each of `deploy.steps` (e.g. 10, 50, 100 %), hold the split for
  `step_duration_seconds`, analysing the new deployment every `analysis.interval_seconds`;
- `blue-green` — 100 % at once after the 0 % test, held and analysed for one step duration;
- `direct` — 100 % at once after the smoke test, no analysis.

Analysis (as Flagger's): error rate ≤ `max_error_rate`, p95 latency ≤ `max_p95_latency_ms`, and
at least `min_requests` requests in the step (no data is a failure, not a pass). A metrics read
that fails is counted apart; more than `analysis.max_metric_errors` of them fail the rollout. The
whole rollout must finish within `progress_deadline_seconds`. With `analysis.source: probe` the
step sends its own traffic (holdout rows) through the endpoint while it analyses; with
`endpoint` only real traffic counts.

On any failure — a deployment that never becomes healthy, a failed smoke test, a breach, no
data, metrics unavailable, the deadline, SIGTERM/SIGINT, a failed promotion — traffic goes back
to 100 % on the champion deployment and the mirror is turned off, then both are read back until
they match (or `BackendError`, exit 3: the endpoint is in an unknown state and a person must
look). The failed deployment is removed after `rollback_grace_seconds`; the registry is not
touched. On success `champion` moves to the new version and the previous deployment is removed
after the same grace.

This module checks the request and prepares the rollout; the phases live in `mlops_actions.canary`
(`canary.rollout.Rollout` holds the order and the rollback guarantee).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_actions.backends.endpoint import TrafficSplit
from mlops_actions.canary.results import (
    CanaryResult,
    Check,
    Outcome,
    Phase,
    ShadowComparison,
    Verdict,
)
from mlops_actions.errors import InputError

if TYPE_CHECKING:
    from mlops_actions.backends.endpoint import Endpoint
    from mlops_actions.config import Settings
    from mlops_actions.registry import ModelRegistry

__all__ = [
    "CanaryResult",
    "Check",
    "Outcome",
    "Phase",
    "ShadowComparison",
    "Verdict",
    "canary_deploy",
    "validate",
]


def validate(settings: Settings) -> None:
    """Settings problems a user must fix before anything is touched; raises InputError."""
    deploy = settings.deploy
    if deploy.analysis.source == "azure-monitor" and deploy.backend != "azureml":
        raise InputError(
            "deploy.analysis.source 'azure-monitor' needs deploy.backend 'azureml';",
            hint="use analysis.source 'endpoint' or 'probe' with the local endpoint.",
        )
    if deploy.strategy in ("canary", "shadow") and not deploy.steps:
        raise InputError(
            f"deploy.strategy {deploy.strategy!r} needs deploy.steps;",
            hint="e.g. steps: [10, 50, 100].",
        )
    if settings.smoke.cases is not None:
        from mlops_actions.steps.smoke_test import load_cases

        # A missing or broken cases file is bad configuration, not a failed rollout: say so
        # before a deployment exists (InputError, exit 2).
        load_cases(settings.smoke.cases)


def canary_deploy(
    settings: Settings,
    *,
    model_version: str,
    endpoint: Endpoint | None = None,
    registry: ModelRegistry | None = None,
    ready_timeout_seconds: float | None = None,
    rollback_verify_seconds: float | None = None,
) -> CanaryResult:
    """Roll `model_version` of `model.name` out by `deploy.strategy`; see the module docstring.

    `ready_timeout_seconds` and `rollback_verify_seconds` default to `deploy.ready_timeout_seconds`
    and `deploy.rollback_verify_seconds` (callers that drive the step directly may shorten them).
    Returns a promoted or rolled-back result. Raises InputError for bad settings or an unknown
    version (before anything changes) and BackendError when a rollback cannot be verified.
    """
    from mlops_actions.backends.factory import open_endpoint
    from mlops_actions.canary.orchestrate import run_rollout
    from mlops_actions.canary.probe import probe_rows
    from mlops_actions.canary.rollout import Rollout
    from mlops_actions.steps.canary_recovery import recover

    validate(settings)
    version = _version_number(model_version)
    registry = registry or _registry(settings)
    registry.get_version(settings.model.name, version)  # InputError when it does not exist
    rows = probe_rows(settings)
    if settings.deploy.analysis.source == "probe" and not rows:
        raise InputError(
            "deploy.analysis.source 'probe' needs rows to send;",
            hint="set data.holdout (or smoke.cases) in mlops.yaml.",
        )
    endpoint = endpoint or open_endpoint(settings)
    # A rollout killed midway (kill -9, a lost runner) left traffic split or orphans: make the
    # endpoint safe before this one starts (see canary_recovery).
    recovery = recover(endpoint, registry, settings.model.name)
    deploy = settings.deploy
    rollout = Rollout(
        settings,
        endpoint,
        registry,
        version=version,
        ready_timeout=_given(ready_timeout_seconds, deploy.ready_timeout_seconds),
        rollback_verify_seconds=_given(rollback_verify_seconds, deploy.rollback_verify_seconds),
        probe_rows=rows,
    )
    if recovery.changed:
        rollout.notes.append(recovery.describe())
    rollout.find_champion()
    current = endpoint.get_traffic()
    if (
        current == TrafficSplit.only(rollout.name)
        and registry.champion_version(settings.model.name) == version
    ):
        return rollout.result("promoted", f"version {version} already serves all traffic", current)
    return run_rollout(rollout)


def _version_number(model_version: str) -> str:
    """`model_version` as a registry version number; raises InputError when it is not one."""
    version = str(model_version).strip()
    if not version.isdigit():
        raise InputError(
            f"--model-version must be a registered version number, got {model_version!r};"
        )
    return version


def _given(value: float | None, setting: float) -> float:
    return setting if value is None else value


def _registry(settings: Settings) -> ModelRegistry:
    from mlops_actions.registry import ModelRegistry

    return ModelRegistry.from_settings(settings)
