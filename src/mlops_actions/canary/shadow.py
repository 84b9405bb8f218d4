"""The shadow phase: mirror live requests to the new deployment and compare it with the live one.

The new deployment gets `deploy.shadow_percent` % of live requests as copies (their answers go
nowhere) for `deploy.shadow_duration_seconds`, analysed like a traffic step. Then it is compared
with the live deployment: error rate and p95 latency over the same window, and agreement, the
share of holdout rows on which both predict the same (within `smoke.parity_tolerance`); below
`deploy.shadow_min_agreement` the rollout fails.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from mlops_actions.backends.endpoint import MirrorTraffic, scoring_payload
from mlops_actions.canary.analysis import hold, read_metrics
from mlops_actions.canary.results import RolloutFailed, ShadowComparison

if TYPE_CHECKING:
    from mlops_actions.backends.endpoint import DeploymentMetrics
    from mlops_actions.canary.rollout import Rollout

AGREEMENT_ROWS = 50


def shadow_phase(rollout: Rollout) -> None:
    """Mirror, analyse and compare (see the module docstring); the mirror is off afterwards.

    Skipped, with a note, when no live deployment exists. Raises RolloutFailed when the shadow
    breaches a limit or agrees too little with the live deployment.
    """
    started = time.monotonic()
    if rollout.champion is None:
        rollout.record("shadow", "skipped", "no live deployment to mirror", started)
        rollout.notes.append("shadow phase skipped: no live deployment to mirror")
        return
    pct = rollout.deploy.shadow_percent
    duration = rollout.deploy.shadow_duration_seconds
    rollout.check_deadline()
    rollout.mirror(MirrorTraffic(rollout.name, pct))
    with rollout.probe(pct, duration):
        mirrored = hold(rollout, f"shadow {pct} %", rollout.name, duration)
    live = read_metrics(rollout, rollout.champion, max(mirrored.window_seconds, 0.001))
    agreement, rows = agreement_on_rows(rollout, rollout.champion)
    rollout.shadow = _comparison((rollout.champion, rollout.name), live, mirrored, agreement, rows)
    rollout.mirror(MirrorTraffic())
    minimum = rollout.deploy.shadow_min_agreement
    if minimum is not None and agreement is not None and agreement < minimum:
        detail = (
            f"shadow and live agree on {agreement:.1%} of {rows} holdout rows, below {minimum:.1%}"
        )
        rollout.record("shadow", "failed", detail, started)
        raise RolloutFailed(detail)
    agreed = f", agreement {agreement:.1%}" if agreement is not None else ""
    rollout.record(
        "shadow",
        "passed",
        f"{mirrored.requests} mirrored requests{agreed}",
        started,
        rollout.endpoint.get_traffic(),
    )


def _comparison(
    names: tuple[str, str],
    live: DeploymentMetrics | None,
    shadow: DeploymentMetrics,
    agreement: float | None,
    rows: int,
) -> ShadowComparison:
    """The comparison of (live, shadow) `names` from their metrics over the same window."""
    return ShadowComparison(
        live=names[0],
        shadow=names[1],
        live_requests=live.requests if live else 0,
        shadow_requests=shadow.requests,
        live_error_rate=live.error_rate if live else None,
        shadow_error_rate=shadow.error_rate,
        live_p95_ms=live.p95_ms if live else None,
        shadow_p95_ms=shadow.p95_ms,
        agreement=agreement,
        agreement_rows=rows,
    )


def agreement_on_rows(rollout: Rollout, live: str) -> tuple[float | None, int]:
    """(share of rows on which the new and the `live` deployment predict the same, rows compared).

    Each of the first probe rows goes to both deployments directly; a row either one fails on
    is left out. The share is None when no row could be compared.
    """
    from mlops_actions.scoring import difference, scalar, served_predictions

    endpoint = rollout.endpoint
    same = compared = 0
    tolerance = rollout.settings.smoke.parity_tolerance
    for row in rollout.probe_rows[:AGREEMENT_ROWS]:
        payload = scoring_payload([row])
        a = endpoint.invoke(payload, deployment=rollout.name, source="smoke")
        b = endpoint.invoke(payload, deployment=live, source="smoke")
        pa = served_predictions(a) if a.ok else None
        pb = served_predictions(b) if b.ok else None
        if not pa or not pb:
            continue
        compared += 1
        same += difference(scalar(pa[0]), scalar(pb[0])) <= tolerance
    return (same / compared if compared else None), compared
