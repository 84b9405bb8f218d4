"""What a rollout records while it runs, how it ended, and how a phase says it must stop."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from mlops_actions.steps.smoke_test import SmokeResult

Outcome = Literal["promoted", "rolled-back"]
Verdict = Literal["ok", "waiting", "failed", "metrics-unavailable"]
PhaseOutcome = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True)
class Check:
    """One analysis of one deployment's metrics during a phase."""

    at_seconds: float
    phase: str
    deployment: str
    verdict: Verdict
    detail: str
    requests: int | None = None
    error_rate: float | None = None
    p95_ms: float | None = None


@dataclass(frozen=True)
class Phase:
    """One phase of the rollout and how it ended."""

    name: str
    outcome: PhaseOutcome
    detail: str
    seconds: float
    traffic: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ShadowComparison:
    """The shadow deployment against the live one over the shadow phase."""

    live: str
    shadow: str
    live_requests: int
    shadow_requests: int
    live_error_rate: float | None
    shadow_error_rate: float | None
    live_p95_ms: float | None
    shadow_p95_ms: float | None
    agreement: float | None
    agreement_rows: int


@dataclass(frozen=True)
class CanaryResult:
    """How the rollout ended; `final_traffic` is what the endpoint routes by, read back."""

    outcome: Outcome
    reason: str
    final_traffic: dict[str, int]
    endpoint_url: str
    model_name: str
    model_version: str
    deployment: str
    previous_deployment: str | None
    previous_version: str | None
    strategy: str
    phases: tuple[Phase, ...]
    checks: tuple[Check, ...]
    smoke: SmokeResult | None
    shadow: ShadowComparison | None
    seconds: float
    notes: tuple[str, ...] = ()

    @property
    def promoted(self) -> bool:
        return self.outcome == "promoted"


class RolloutFailed(Exception):
    """The rollout must stop and roll back, for `reason` (a sentence for the user)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Aborted(BaseException):
    """SIGTERM arrived (the job was cancelled): roll back like a failure.

    A BaseException, so that no `except Exception` on the way swallows the cancellation.
    """
