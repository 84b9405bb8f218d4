"""The `Rollout`: one version's way onto the endpoint, phase by phase, and what it recorded."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlops_actions.backends.endpoint import MirrorTraffic, TrafficSplit, deployment_name
from mlops_actions.canary.results import (
    CanaryResult,
    Check,
    Outcome,
    Phase,
    PhaseOutcome,
    RolloutFailed,
    ShadowComparison,
)

if TYPE_CHECKING:
    from mlops_actions.backends.endpoint import Endpoint
    from mlops_actions.config import Settings
    from mlops_actions.registry import ModelRegistry
    from mlops_actions.steps.smoke_test import SmokeResult


class Rollout:
    """The state of one rollout of `version` of `settings.model.name` on `endpoint`.

    `canary.orchestrate.run_rollout` drives it: it creates the new deployment at 0 %,
    smoke-tests it, runs the strategy's phases (shadow, traffic steps, all at once) and
    promotes it in the registry. What that guarantees when anything stops the rollout — a
    failed phase, a breached limit, no data, unreadable metrics, the progress deadline, SIGTERM
    or SIGINT, a failed promotion, an unexpected exception: before `run_rollout` returns
    (outcome `rolled-back`) or raises, traffic is set back to 100 % on the champion deployment
    with the mirror off, and read back until it matches, so the split is never left behind.
    SIGTERM and SIGINT are ignored while it rolls back. When the endpoint does not read back the
    rollback within `rollback_verify_seconds`, BackendError (exit 3): the endpoint's state is
    unknown. The failed deployment is removed after `deploy.rollback_grace_seconds`; the
    registry changes only through a promotion that passed.

    The phases (`canary.phases`, `canary.shadow`) append to `phases`, `checks` and `notes`;
    `result()` freezes them into a `CanaryResult`.
    """

    def __init__(
        self,
        settings: Settings,
        endpoint: Endpoint,
        registry: ModelRegistry,
        *,
        version: str,
        ready_timeout: float,
        rollback_verify_seconds: float,
        probe_rows: list[dict[str, Any]],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.deploy = settings.deploy
        self.endpoint = endpoint
        self.registry = registry
        self.model = settings.model.name
        self.version = version
        self.name = deployment_name(self.model, version)
        self.ready_timeout = ready_timeout
        self.rollback_verify_seconds = rollback_verify_seconds
        self.probe_rows = probe_rows
        self.sleep = sleep
        self.started = time.monotonic()
        self.deadline = self.started + self.deploy.progress_deadline_seconds
        self.phases: list[Phase] = []
        self.checks: list[Check] = []
        self.notes: list[str] = []
        self.metric_errors = 0
        self.smoke: SmokeResult | None = None
        self.shadow: ShadowComparison | None = None
        self.champion: str | None = None
        self.champion_version: str | None = None
        self.offline_model: Any = None

    # ---------------------------------------------------------------- what phases share

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def check_deadline(self) -> None:
        """Raises RolloutFailed once `deploy.progress_deadline_seconds` have passed."""
        if time.monotonic() > self.deadline:
            raise RolloutFailed(
                f"the progress deadline of {self.deploy.progress_deadline_seconds:g} s passed "
                f"before the rollout finished"
            )

    def record(
        self,
        name: str,
        outcome: PhaseOutcome,
        detail: str,
        started: float,
        traffic: TrafficSplit | None = None,
    ) -> None:
        """Append the phase `name`, timed from `started` (a `time.monotonic()` reading)."""
        self.phases.append(
            Phase(
                name,
                outcome,
                detail,
                round(time.monotonic() - started, 3),
                traffic.as_dict() if traffic is not None else {},
            )
        )

    def route(self, split: TrafficSplit) -> None:
        """Set the live split and read it back; raises RolloutFailed when it does not apply."""
        self.check_deadline()
        self.endpoint.set_traffic(split)
        now = self.endpoint.get_traffic()
        if now != split:
            raise RolloutFailed(f"the endpoint routes {now} after being told {split}")

    def mirror(self, mirror: MirrorTraffic) -> None:
        """Set the mirror and read it back; raises RolloutFailed when it does not apply."""
        self.endpoint.set_mirror(mirror)
        now = self.endpoint.get_mirror()
        if now != mirror:
            raise RolloutFailed(f"the endpoint mirrors {now} after being told {mirror}")

    def probe(self, share: float, seconds: float) -> contextlib.AbstractContextManager[Any]:
        """Probe traffic for a phase where the new deployment gets `share` %, if configured."""
        from mlops_actions.canary.probe import ProbeTraffic, probe_rate

        if self.deploy.analysis.source != "probe":
            return contextlib.nullcontext()
        rate = probe_rate(self.deploy.min_requests, share, seconds)
        return ProbeTraffic(self.endpoint, self.probe_rows, rate)

    def rollback_target(self) -> TrafficSplit:
        return TrafficSplit.only(self.champion) if self.champion else TrafficSplit({})

    def find_champion(self) -> None:
        """The deployment that serves the champion now: the rollback target."""
        registered = self.registry.champion_version(self.model)
        traffic = self.endpoint.get_traffic()
        if registered is not None:
            candidate = deployment_name(self.model, registered)
            if candidate != self.name and self.endpoint.get_deployment(candidate) is not None:
                self.champion, self.champion_version = candidate, registered
                return
        leader = traffic.leader()
        if leader is not None and leader != self.name:
            self.champion = leader
            info = self.endpoint.get_deployment(leader)
            self.champion_version = info.model_version if info is not None else None

    def result(self, outcome: Outcome, reason: str, final: TrafficSplit) -> CanaryResult:
        """What was recorded so far, ending in `outcome` with `final` traffic."""
        return CanaryResult(
            outcome=outcome,
            reason=reason,
            final_traffic=final.as_dict(),
            endpoint_url=self.endpoint.url,
            model_name=self.model,
            model_version=self.version,
            deployment=self.name,
            previous_deployment=self.champion,
            previous_version=self.champion_version,
            strategy=self.deploy.strategy,
            phases=tuple(self.phases),
            checks=tuple(self.checks),
            smoke=self.smoke,
            shadow=self.shadow,
            seconds=round(self.elapsed(), 3),
            notes=tuple(self.notes),
        )
