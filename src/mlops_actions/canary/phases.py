"""The phases every strategy is made of: create at 0 %, smoke test, traffic, promotion.

Each takes the `Rollout`, records itself in `rollout.phases` and raises RolloutFailed when the
rollout must stop (the rollout then rolls back; see `Rollout`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from mlops_actions.backends.endpoint import DeploymentFailed, DeploymentSpec, TrafficSplit
from mlops_actions.canary.analysis import describe, hold
from mlops_actions.canary.results import RolloutFailed
from mlops_actions.errors import BackendError

if TYPE_CHECKING:
    from mlops_actions.canary.rollout import Rollout


def create(rollout: Rollout) -> None:
    """The new deployment at 0 %, healthy within the ready timeout (or what is left of the
    progress deadline, whichever is shorter)."""
    started = time.monotonic()
    timeout = max(1.0, min(rollout.ready_timeout, rollout.deadline - time.monotonic()))
    spec = DeploymentSpec(
        name=rollout.name,
        model_name=rollout.model,
        model_version=rollout.version,
        tracking_uri=rollout.settings.resolved_tracking_uri(),
        registry_uri=rollout.settings.registry_uri,
        ready_timeout_seconds=timeout,
    )
    try:
        info = rollout.endpoint.create_or_update_deployment(spec)
    except DeploymentFailed as exc:
        rollout.record("create", "failed", exc.message, started)
        raise RolloutFailed(
            f"the new deployment {rollout.name} never became healthy: {exc.message}"
        ) from None
    rollout.record("create", "passed", f"{info.name} ready at 0 %", started)


def smoke_test(rollout: Rollout) -> None:
    """`steps.smoke_test` on the new deployment, against the version loaded offline."""
    from mlops_actions.steps.smoke_test import smoke_test as run_smoke_test

    started = time.monotonic()
    rollout.check_deadline()
    if rollout.offline_model is None:
        try:
            rollout.offline_model = rollout.registry.load_model(rollout.model, rollout.version)
        except BackendError as exc:
            detail = f"version {rollout.version} failed to load offline: {exc.message}"
            rollout.record("smoke test", "failed", detail, started)
            raise RolloutFailed(f"the smoke test of {rollout.name} failed: {detail}") from None
    result = run_smoke_test(
        rollout.settings,
        deployment=rollout.name,
        endpoint=rollout.endpoint,
        offline_model=rollout.offline_model,
    )
    rollout.smoke = result
    if not result.passed:
        detail = "; ".join(result.failures[:3])
        rollout.record("smoke test", "failed", detail, started)
        raise RolloutFailed(f"the smoke test of {rollout.name} failed: {detail}")
    rollout.record("smoke test", "passed", f"{len(result.cases)} cases, parity ok", started)


def traffic_steps(rollout: Rollout) -> None:
    """Each of `deploy.steps` in turn, held and analysed for `step_duration_seconds`.

    Without a champion to split with, the first step is already 100 %.
    """
    duration = rollout.deploy.step_duration_seconds
    for pct in rollout.deploy.steps:
        started = time.monotonic()
        if rollout.champion is None or pct >= 100:
            split = TrafficSplit.only(rollout.name)
        else:
            split = TrafficSplit({rollout.name: pct, rollout.champion: 100 - pct})
        rollout.route(split)
        share = split.share(rollout.name)
        with rollout.probe(share, duration):
            metrics = hold(rollout, f"{share} %", rollout.name, duration)
        rollout.record(f"step {share} %", "passed", describe(metrics), started, split)
        if pct >= 100 or rollout.champion is None:
            break


def all_at_once(rollout: Rollout, *, analyse: bool) -> None:
    """100 % on the new deployment at once; blue-green (`analyse`) then holds it one step."""
    started = time.monotonic()
    split = TrafficSplit.only(rollout.name)
    rollout.route(split)
    name = "blue-green 100 %" if analyse else "direct 100 %"
    if not analyse:
        rollout.record(name, "passed", "switched after the smoke test", started, split)
        return
    duration = rollout.deploy.step_duration_seconds
    with rollout.probe(100, duration):
        metrics = hold(rollout, "100 %", rollout.name, duration)
    rollout.record(name, "passed", describe(metrics), started, split)


def promote(rollout: Rollout) -> str | None:
    """Move the registry's champion to the new version; the version it named before."""
    started = time.monotonic()
    rollout.check_deadline()
    try:
        previous = rollout.registry.promote(rollout.model, rollout.version)
    except Exception as exc:  # noqa: BLE001 (any failure here must roll traffic back)
        detail = str(exc)
        rollout.record("promote", "failed", detail, started)
        raise RolloutFailed(f"promotion of version {rollout.version} failed: {detail}") from None
    rollout.record(
        "promote",
        "passed",
        f"champion → v{rollout.version}" + (f" (was v{previous})" if previous else ""),
        started,
    )
    return previous
