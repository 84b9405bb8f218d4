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
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal

from mlops_actions.backends.endpoint import (
    DeploymentFailed,
    DeploymentMetrics,
    DeploymentSpec,
    Endpoint,
    MetricsUnavailable,
    MirrorTraffic,
    TrafficSplit,
    deployment_name,
    scoring_payload,
)
from mlops_actions.errors import BackendError, InputError, MlopsError

if TYPE_CHECKING:
    from mlops_actions.config import Settings
    from mlops_actions.registry import ModelRegistry
    from mlops_actions.steps.smoke_test import SmokeResult

Outcome = Literal["promoted", "rolled-back"]
Verdict = Literal["ok", "waiting", "failed", "metrics-unavailable"]

PROBE_MIN_RATE = 20.0
PROBE_MAX_RATE = 200.0
AGREEMENT_ROWS = 50


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
    outcome: Literal["passed", "failed", "skipped"]
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


class _Failure(Exception):
    """The rollout must stop and roll back, for `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Aborted(BaseException):
    """SIGTERM arrived (the job was cancelled): roll back like a failure."""


# ---------------------------------------------------------------------- registry access


def _registry(settings: Settings) -> ModelRegistry:
    from mlops_actions.registry import ModelRegistry

    return ModelRegistry.from_settings(settings)


# ---------------------------------------------------------------------- probe traffic


class ProbeTraffic:
    """Holdout rows sent through the endpoint at a steady total rate from background threads.

    Several senders, so one slow deployment cannot throttle the traffic the others get. The
    answers are not checked here: the endpoint's metrics are what the analysis reads.
    """

    def __init__(
        self, endpoint: Endpoint, rows: list[dict[str, Any]], rate: float, senders: int = 4
    ) -> None:
        self.endpoint = endpoint
        self.payloads = [scoring_payload([row]) for row in rows]
        self.rate = rate
        self.senders = senders
        self.sent = 0
        self.failed = 0
        self.error: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> ProbeTraffic:
        for i in range(self.senders):
            thread = threading.Thread(
                target=self._run, args=(i,), name=f"probe-traffic-{i}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _run(self, index: int) -> None:
        period = self.senders / self.rate
        next_at = time.monotonic() + period * index / self.senders
        i = index
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            try:
                answer = self.endpoint.invoke(self.payloads[i % len(self.payloads)], source="probe")
            except Exception as exc:  # noqa: BLE001 - the endpoint is gone; the analysis will notice
                self.error = str(exc)
                return
            with self._lock:
                self.sent += 1
                self.failed += not answer.ok
            i += self.senders
            next_at += period
            if next_at < time.monotonic():
                next_at = time.monotonic()  # behind: do not burst to catch up


def probe_rate(min_requests: int, share_percent: float, seconds: float) -> float:
    """Requests per second so that `share_percent` % of them give ~2× `min_requests` in time."""
    if share_percent <= 0 or seconds <= 0:
        return PROBE_MIN_RATE
    needed = 2.0 * max(min_requests, 1) / (share_percent / 100.0) / seconds
    return float(min(PROBE_MAX_RATE, max(PROBE_MIN_RATE, math.ceil(needed))))


# ---------------------------------------------------------------------- the rollout


class _Rollout:
    def __init__(
        self,
        settings: Settings,
        endpoint: Endpoint,
        registry: ModelRegistry,
        *,
        version: str,
        ready_timeout: float,
        min_agreement: float | None,
        rollback_verify_seconds: float,
        probe_rows: list[dict[str, Any]],
        sleep: Callable[[float], None],
    ) -> None:
        self.settings = settings
        self.deploy = settings.deploy
        self.endpoint = endpoint
        self.registry = registry
        self.model = settings.model.name
        self.version = version
        self.name = deployment_name(self.model, version)
        self.ready_timeout = ready_timeout
        self.min_agreement = min_agreement
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

    # ---------------------------------------------------------------- helpers

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            raise _Failure(
                f"the progress deadline of {self.deploy.progress_deadline_seconds:g} s passed "
                f"before the rollout finished"
            )

    def _phase(
        self,
        name: str,
        outcome: Literal["passed", "failed", "skipped"],
        detail: str,
        started: float,
        traffic: TrafficSplit | None = None,
    ) -> None:
        self.phases.append(
            Phase(
                name,
                outcome,
                detail,
                round(time.monotonic() - started, 3),
                traffic.as_dict() if traffic is not None else {},
            )
        )

    def _route(self, split: TrafficSplit) -> None:
        """Set the live split and read it back; raises _Failure when it does not apply."""
        self._check_deadline()
        self.endpoint.set_traffic(split)
        now = self.endpoint.get_traffic()
        if now != split:
            raise _Failure(f"the endpoint routes {now} after being told {split}")

    def _mirror(self, mirror: MirrorTraffic) -> None:
        self.endpoint.set_mirror(mirror)
        now = self.endpoint.get_mirror()
        if now != mirror:
            raise _Failure(f"the endpoint mirrors {now} after being told {mirror}")

    def _probe(self, share: float, seconds: float) -> contextlib.AbstractContextManager[Any]:
        if self.deploy.analysis.source != "probe":
            return contextlib.nullcontext()
        rate = probe_rate(self.deploy.min_requests, share, seconds)
        return ProbeTraffic(self.endpoint, self.probe_rows, rate)

    # ---------------------------------------------------------------- phases

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

    def rollback_target(self) -> TrafficSplit:
        return TrafficSplit.only(self.champion) if self.champion else TrafficSplit({})

    def create(self) -> None:
        started = time.monotonic()
        timeout = max(1.0, min(self.ready_timeout, self.deadline - time.monotonic()))
        spec = DeploymentSpec(
            name=self.name,
            model_name=self.model,
            model_version=self.version,
            tracking_uri=self.settings.resolved_tracking_uri(),
            registry_uri=self.settings.registry_uri,
            ready_timeout_seconds=timeout,
        )
        try:
            info = self.endpoint.create_or_update_deployment(spec)
        except DeploymentFailed as exc:
            self._phase("create", "failed", exc.message, started)
            raise _Failure(
                f"the new deployment {self.name} never became healthy: {exc.message}"
            ) from None
        self._phase("create", "passed", f"{info.name} ready at 0 %", started)

    def smoke_test(self) -> None:
        from mlops_actions.steps.smoke_test import smoke_test

        started = time.monotonic()
        self._check_deadline()
        if self.offline_model is None:
            try:
                self.offline_model = self.registry.load_model(self.model, self.version)
            except BackendError as exc:
                detail = f"version {self.version} failed to load offline: {exc.message}"
                self._phase("smoke test", "failed", detail, started)
                raise _Failure(f"the smoke test of {self.name} failed: {detail}") from None
        result = smoke_test(
            self.settings,
            deployment=self.name,
            endpoint=self.endpoint,
            offline_model=self.offline_model,
        )
        self.smoke = result
        if not result.passed:
            detail = "; ".join(result.failures[:3])
            self._phase("smoke test", "failed", detail, started)
            raise _Failure(f"the smoke test of {self.name} failed: {detail}")
        self._phase("smoke test", "passed", f"{len(result.cases)} cases, parity ok", started)

    def shadow_phase(self) -> None:
        started = time.monotonic()
        if self.champion is None:
            self._phase("shadow", "skipped", "no live deployment to mirror", started)
            self.notes.append("shadow phase skipped: no live deployment to mirror")
            return
        pct = self.deploy.shadow_percent
        duration = self.deploy.shadow_duration_seconds
        self._check_deadline()
        self._mirror(MirrorTraffic(self.name, pct))
        with self._probe(pct, duration):
            shadow = self.hold(f"shadow {pct} %", self.name, duration)
        live = self._read_metrics(self.champion, max(shadow.window_seconds, 0.001))
        agreement, rows = self._agreement()
        self.shadow = ShadowComparison(
            live=self.champion,
            shadow=self.name,
            live_requests=live.requests if live else 0,
            shadow_requests=shadow.requests,
            live_error_rate=live.error_rate if live else None,
            shadow_error_rate=shadow.error_rate,
            live_p95_ms=live.p95_ms if live else None,
            shadow_p95_ms=shadow.p95_ms,
            agreement=agreement,
            agreement_rows=rows,
        )
        self._mirror(MirrorTraffic())
        if (
            self.min_agreement is not None
            and agreement is not None
            and agreement < self.min_agreement
        ):
            detail = (
                f"shadow and live agree on {agreement:.1%} of {rows} holdout rows, below "
                f"{self.min_agreement:.1%}"
            )
            self._phase("shadow", "failed", detail, started)
            raise _Failure(detail)
        agreed = f", agreement {agreement:.1%}" if agreement is not None else ""
        self._phase(
            "shadow",
            "passed",
            f"{shadow.requests} mirrored requests{agreed}",
            started,
            self.endpoint.get_traffic(),
        )

    def _agreement(self) -> tuple[float | None, int]:
        """Share of holdout rows on which the new and the live deployment predict the same."""
        from mlops_actions.scoring import difference, scalar, served_predictions

        assert self.champion is not None
        rows = self.probe_rows[:AGREEMENT_ROWS]
        same = compared = 0
        tolerance = self.settings.smoke.parity_tolerance
        for row in rows:
            payload = scoring_payload([row])
            a = self.endpoint.invoke(payload, deployment=self.name, source="smoke")
            b = self.endpoint.invoke(payload, deployment=self.champion, source="smoke")
            pa = served_predictions(a) if a.ok else None
            pb = served_predictions(b) if b.ok else None
            if not pa or not pb:
                continue
            compared += 1
            same += difference(scalar(pa[0]), scalar(pb[0])) <= tolerance
        return (same / compared if compared else None), compared

    def steps(self) -> None:
        for pct in self.deploy.steps:
            started = time.monotonic()
            if self.champion is None or pct >= 100:
                split = TrafficSplit.only(self.name)
            else:
                split = TrafficSplit({self.name: pct, self.champion: 100 - pct})
            self._route(split)
            duration = self.deploy.step_duration_seconds
            with self._probe(split.share(self.name), duration):
                metrics = self.hold(f"{split.share(self.name)} %", self.name, duration)
            self._phase(
                f"step {split.share(self.name)} %",
                "passed",
                _describe(metrics),
                started,
                split,
            )
            if pct >= 100 or self.champion is None:
                break

    def all_at_once(self, *, analyse: bool) -> None:
        started = time.monotonic()
        split = TrafficSplit.only(self.name)
        self._route(split)
        name = "blue-green 100 %" if analyse else "direct 100 %"
        if not analyse:
            self._phase(name, "passed", "switched after the smoke test", started, split)
            return
        duration = self.deploy.step_duration_seconds
        with self._probe(100, duration):
            metrics = self.hold("100 %", self.name, duration)
        self._phase(name, "passed", _describe(metrics), started, split)

    def hold(self, phase: str, deployment: str, duration: float) -> DeploymentMetrics:
        """Analyse `deployment` every interval for `duration` seconds; raises _Failure."""
        analysis = self.deploy.analysis
        start = time.monotonic()
        end = start + duration
        next_at = start + min(analysis.interval_seconds, duration)
        needed = max(self.deploy.min_requests, 1)
        while True:
            self._check_deadline()
            delay = next_at - time.monotonic()
            if delay > 0:
                self.sleep(min(delay, max(0.0, self.deadline - time.monotonic()) + 0.01))
                self._check_deadline()
            now = time.monotonic()
            final = now >= end - 1e-3
            window = max(now - start, 1e-3)
            metrics = self._read_metrics(deployment, window, phase=phase)
            if metrics is None:
                next_at = min(now + analysis.interval_seconds, end) if not final else now + 0.2
                continue
            problem = self._breach(metrics, final=final, needed=needed, seconds=window)
            verdict: Verdict = "failed" if problem else ("ok" if final else "waiting")
            if not problem and metrics.requests >= needed:
                verdict = "ok"
            self.checks.append(
                Check(
                    round(now - self.started, 3),
                    phase,
                    deployment,
                    verdict,
                    problem or _describe(metrics),
                    metrics.requests,
                    metrics.error_rate,
                    metrics.p95_ms,
                )
            )
            if problem:
                raise _Failure(f"{phase}: {problem}")
            if final:
                return metrics
            next_at = min(now + analysis.interval_seconds, end)

    def _read_metrics(
        self, deployment: str, window: float, *, phase: str = "compare"
    ) -> DeploymentMetrics | None:
        try:
            return self.endpoint.metrics(deployment, window)
        except MetricsUnavailable as exc:
            self.metric_errors += 1
            limit = self.deploy.analysis.max_metric_errors
            self.checks.append(
                Check(
                    round(self.elapsed(), 3),
                    phase,
                    deployment,
                    "metrics-unavailable",
                    f"{exc.message} ({self.metric_errors} of at most {limit})",
                )
            )
            if self.metric_errors > limit:
                raise _Failure(
                    f"the metrics of {deployment} could not be read {self.metric_errors} times "
                    f"(analysis.max_metric_errors is {limit}): {exc.message}"
                ) from None
            return None

    def _breach(
        self, metrics: DeploymentMetrics, *, final: bool, needed: int, seconds: float
    ) -> str | None:
        deploy = self.deploy
        if metrics.requests and (metrics.requests >= needed or final):
            rate = metrics.error_rate or 0.0
            if rate > deploy.max_error_rate:
                return (
                    f"error rate {rate:.1%} of {metrics.deployment} is above max_error_rate "
                    f"{deploy.max_error_rate:.1%} ({metrics.server_errors} of "
                    f"{metrics.requests} requests failed)"
                )
            if metrics.p95_ms is not None and metrics.p95_ms > deploy.max_p95_latency_ms:
                return (
                    f"p95 latency {metrics.p95_ms:.1f} ms of {metrics.deployment} is above "
                    f"max_p95_latency_ms {deploy.max_p95_latency_ms:g} ms"
                )
        if final and metrics.requests < needed:
            return (
                f"only {metrics.requests} requests reached {metrics.deployment} in "
                f"{seconds:.1f} s, fewer than min_requests {needed} (no data counts as failure)"
            )
        return None

    def promote(self) -> str | None:
        started = time.monotonic()
        self._check_deadline()
        try:
            previous = self.registry.promote(self.model, self.version)
        except Exception as exc:  # noqa: BLE001 (any failure here must roll traffic back)
            detail = str(exc)
            self._phase("promote", "failed", detail, started)
            raise _Failure(f"promotion of version {self.version} failed: {detail}") from None
        self._phase(
            "promote",
            "passed",
            f"champion → v{self.version}" + (f" (was v{previous})" if previous else ""),
            started,
        )
        return previous

    # ---------------------------------------------------------------- endings

    def roll_back(self, reason: str) -> TrafficSplit:
        """Champion back to 100 % and no mirror, read back until it matches; BackendError if not.

        Retries with backoff for `rollback_verify_seconds`. Then removes the failed deployment
        after the grace (a failure to remove it is a note, not an error).
        """
        started = time.monotonic()
        target = self.rollback_target()
        give_up = started + self.rollback_verify_seconds
        attempt = 0
        last = "nothing read back yet"
        while True:
            attempt += 1
            try:
                if self.endpoint.get_mirror() != MirrorTraffic():
                    self.endpoint.set_mirror(MirrorTraffic())
                self.endpoint.set_traffic(target)
                now, mirror = self.endpoint.get_traffic(), self.endpoint.get_mirror()
                if now == target and mirror == MirrorTraffic():
                    break
                last = f"traffic {now}, mirror {mirror}"
            except MlopsError as exc:
                last = str(exc)
            if time.monotonic() >= give_up:
                raise BackendError(
                    f"ROLLBACK NOT VERIFIED after {attempt} attempts in "
                    f"{time.monotonic() - started:.0f} s: wanted {target} and no mirror, "
                    f"last read: {last}. The rollout failed because: {reason};",
                    hint=f"the endpoint is in an unknown state: check "
                    f"{self.endpoint.inspect_hint} and set traffic by hand.",
                )
            time.sleep(min(2.0, 0.1 * 2**attempt))
        self._phase("rollback", "passed", f"verified after {attempt} attempt(s)", started, target)
        self._remove(self.name, keep=self.champion)
        return target

    def _remove(self, name: str, *, keep: str | None) -> None:
        if name == keep or name is None:
            return
        grace = self.deploy.rollback_grace_seconds
        if grace > 0:
            time.sleep(grace)
        try:
            if self.endpoint.get_deployment(name) is not None:
                self.endpoint.delete_deployment(name)
                self.notes.append(f"removed deployment {name}")
        except MlopsError as exc:
            self.notes.append(f"could not remove deployment {name}: {exc}")

    def finish(self) -> TrafficSplit:
        """After promotion: the new deployment alone, verified; the old one removed."""
        split = TrafficSplit.only(self.name)
        self._route(split)
        if self.champion is not None:
            self._remove(self.champion, keep=self.name)
        return split


def _describe(metrics: DeploymentMetrics) -> str:
    rate = f"{metrics.error_rate:.1%}" if metrics.error_rate is not None else "n/a"
    p95 = f"{metrics.p95_ms:.1f} ms" if metrics.p95_ms is not None else "n/a"
    return f"{metrics.requests} requests, error rate {rate}, p95 {p95}"


@contextlib.contextmanager
def _abort_on_sigterm() -> Iterator[None]:
    """SIGTERM raises _Aborted in the main thread (a cancelled job), restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise _Aborted(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """While rolling back, SIGTERM and SIGINT are ignored: a second cancel must not stop it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _probe_rows(settings: Settings) -> list[dict[str, Any]]:
    """Rows for probe traffic and agreement: holdout rows, else the smoke cases' inputs."""
    from mlops_actions.scoring import holdout_rows, json_records
    from mlops_actions.steps.smoke_test import load_cases

    holdout = holdout_rows(settings, 200)
    if holdout is not None and len(holdout):
        return json_records(holdout)
    if settings.smoke.cases is not None:
        return [dict(case.inputs) for case in load_cases(settings.smoke.cases)]
    return []


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
    ready_timeout_seconds: float = 300.0,
    min_agreement: float | None = None,
    rollback_verify_seconds: float = 60.0,
) -> CanaryResult:
    """Roll `model_version` of `model.name` out by `deploy.strategy`; see the module docstring.

    Returns a promoted or rolled-back result. Raises InputError for bad settings or an unknown
    version (before anything changes) and BackendError when a rollback cannot be verified.
    """
    from mlops_actions.backends.factory import open_endpoint
    from mlops_actions.steps.canary_recovery import recover

    validate(settings)
    version = str(model_version).strip()
    if not version.isdigit():
        raise InputError(
            f"--model-version must be a registered version number, got {model_version!r};"
        )
    registry = registry or _registry(settings)
    registry.get_version(settings.model.name, version)  # InputError when it does not exist
    probe_rows = _probe_rows(settings)
    if settings.deploy.analysis.source == "probe" and not probe_rows:
        raise InputError(
            "deploy.analysis.source 'probe' needs rows to send;",
            hint="set data.holdout (or smoke.cases) in mlops.yaml.",
        )
    endpoint = endpoint or open_endpoint(settings)
    # A rollout killed midway (kill -9, a lost runner) left traffic split or orphans: make the
    # endpoint safe before this one starts (see canary_recovery).
    recovery = recover(endpoint, registry, settings.model.name)
    rollout = _Rollout(
        settings,
        endpoint,
        registry,
        version=version,
        ready_timeout=ready_timeout_seconds,
        min_agreement=min_agreement,
        rollback_verify_seconds=rollback_verify_seconds,
        probe_rows=probe_rows,
        sleep=time.sleep,
    )
    if recovery.changed:
        rollout.notes.append(recovery.describe())
    rollout.find_champion()

    def result(outcome: Outcome, reason: str, final: TrafficSplit) -> CanaryResult:
        return CanaryResult(
            outcome=outcome,
            reason=reason,
            final_traffic=final.as_dict(),
            endpoint_url=endpoint.url,
            model_name=settings.model.name,
            model_version=version,
            deployment=rollout.name,
            previous_deployment=rollout.champion,
            previous_version=rollout.champion_version,
            strategy=settings.deploy.strategy,
            phases=tuple(rollout.phases),
            checks=tuple(rollout.checks),
            smoke=rollout.smoke,
            shadow=rollout.shadow,
            seconds=round(rollout.elapsed(), 3),
            notes=tuple(rollout.notes),
        )

    current = endpoint.get_traffic()
    if (
        current == TrafficSplit.only(rollout.name)
        and registry.champion_version(settings.model.name) == version
    ):
        return result("promoted", f"version {version} already serves all traffic", current)

    strategy = settings.deploy.strategy
    try:
        with _abort_on_sigterm():
            rollout.create()
            rollout.smoke_test()
            if strategy == "shadow":
                rollout.shadow_phase()
                rollout.steps()
            elif strategy == "canary":
                rollout.steps()
            elif strategy == "blue-green":
                rollout.all_at_once(analyse=True)
            else:
                rollout.all_at_once(analyse=False)
            previous = rollout.promote()
    except _Failure as failure:
        reason = failure.reason
    except (_Aborted, KeyboardInterrupt) as stop:
        reason = f"aborted by {stop or 'SIGINT'} during the rollout"
    except MlopsError as exc:
        reason = f"the rollout failed: {exc}"
    except Exception as exc:
        with _signals_deferred():
            rollout.roll_back(f"internal error: {exc!r}")
        raise
    else:
        who = f" (was v{previous})" if previous else ""
        try:
            final = rollout.finish()
        except (_Failure, MlopsError) as exc:
            # The registry already names the new version and it already had all traffic:
            # report what the endpoint routes by now rather than undo a promotion.
            rollout.notes.append(f"after promotion: {exc}")
            final = endpoint.get_traffic()
        return result("promoted", f"version {version} is champion{who}", final)
    with _signals_deferred():
        final = rollout.roll_back(reason)
    return result("rolled-back", reason, final)
