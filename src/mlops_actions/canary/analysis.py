"""Analysis, as Flagger's: hold a split while reading one deployment's metrics against limits.

A read passes when the error rate is ≤ `deploy.max_error_rate` and the p95 latency ≤
`deploy.max_p95_latency_ms`; by the end of the hold at least `deploy.min_requests` requests
must have reached the deployment (no data is a failure, not a pass). A metrics read that fails
is counted apart: more than `analysis.max_metric_errors` of them fail the rollout.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from mlops_actions.backends.endpoint import DeploymentMetrics, MetricsUnavailable
from mlops_actions.canary.results import Check, RolloutFailed, Verdict

if TYPE_CHECKING:
    from mlops_actions.canary.rollout import Rollout
    from mlops_actions.config.schema import DeploySettings


def hold(rollout: Rollout, phase: str, deployment: str, duration: float) -> DeploymentMetrics:
    """Analyse `deployment` every interval for `duration` seconds; its metrics at the end.

    Each read is appended to `rollout.checks`. Raises RolloutFailed on a breach, too little
    traffic by the end, too many failed reads, or the progress deadline.
    """
    interval = rollout.deploy.analysis.interval_seconds
    start = time.monotonic()
    end = start + duration
    next_at = start + min(interval, duration)
    needed = max(rollout.deploy.min_requests, 1)
    while True:
        rollout.check_deadline()
        delay = next_at - time.monotonic()
        if delay > 0:
            rollout.sleep(min(delay, max(0.0, rollout.deadline - time.monotonic()) + 0.01))
            rollout.check_deadline()
        now = time.monotonic()
        final = now >= end - 1e-3
        window = max(now - start, 1e-3)
        metrics = read_metrics(rollout, deployment, window, phase=phase)
        if metrics is None:
            next_at = min(now + interval, end) if not final else now + 0.2
            continue
        problem = breach(rollout.deploy, metrics, final=final, needed=needed, seconds=window)
        verdict: Verdict = "failed" if problem else ("ok" if final else "waiting")
        if not problem and metrics.requests >= needed:
            verdict = "ok"
        rollout.checks.append(
            Check(
                round(now - rollout.started, 3),
                phase,
                deployment,
                verdict,
                problem or describe(metrics),
                metrics.requests,
                metrics.error_rate,
                metrics.p95_ms,
            )
        )
        if problem:
            raise RolloutFailed(f"{phase}: {problem}")
        if final:
            return metrics
        next_at = min(now + interval, end)


def read_metrics(
    rollout: Rollout, deployment: str, window: float, *, phase: str = "compare"
) -> DeploymentMetrics | None:
    """The metrics of `deployment` over the last `window` seconds, None when unreadable.

    An unreadable read is recorded as a check; raises RolloutFailed once there were more than
    `analysis.max_metric_errors` of them in the rollout.
    """
    try:
        return rollout.endpoint.metrics(deployment, window)
    except MetricsUnavailable as exc:
        rollout.metric_errors += 1
        limit = rollout.deploy.analysis.max_metric_errors
        rollout.checks.append(
            Check(
                round(rollout.elapsed(), 3),
                phase,
                deployment,
                "metrics-unavailable",
                f"{exc.message} ({rollout.metric_errors} of at most {limit})",
            )
        )
        if rollout.metric_errors > limit:
            raise RolloutFailed(
                f"the metrics of {deployment} could not be read {rollout.metric_errors} times "
                f"(analysis.max_metric_errors is {limit}): {exc.message}"
            ) from None
        return None


def breach(
    deploy: DeploySettings,
    metrics: DeploymentMetrics,
    *,
    final: bool,
    needed: int,
    seconds: float,
) -> str | None:
    """Why `metrics` fail the limits of `deploy`, or None.

    Rates are judged once `needed` requests arrived (or at the `final` read); at the final read
    fewer than `needed` requests is a failure in itself.
    """
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


def describe(metrics: DeploymentMetrics) -> str:
    """`120 requests, error rate 0.0%, p95 12.3 ms`."""
    rate = f"{metrics.error_rate:.1%}" if metrics.error_rate is not None else "n/a"
    p95 = f"{metrics.p95_ms:.1f} ms" if metrics.p95_ms is not None else "n/a"
    return f"{metrics.requests} requests, error rate {rate}, p95 {p95}"
