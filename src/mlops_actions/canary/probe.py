"""The step's own traffic: holdout rows sent through the endpoint while a phase is analysed.

With `deploy.analysis.source: probe` there may be no users (the local endpoint), so the rollout
sends requests itself, enough for `deploy.min_requests` to reach the new deployment's share.
"""

from __future__ import annotations

import math
import threading
import time
from typing import TYPE_CHECKING, Any

from mlops_actions.backends.endpoint import scoring_payload

if TYPE_CHECKING:
    from mlops_actions.backends.endpoint import Endpoint
    from mlops_actions.config import Settings

PROBE_MIN_RATE = 20.0
PROBE_MAX_RATE = 200.0


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


def probe_rows(settings: Settings) -> list[dict[str, Any]]:
    """Rows for probe traffic and agreement: holdout rows, else the smoke cases' inputs.

    Raises InputError for a smoke-case file that cannot be read.
    """
    from mlops_actions.scoring import holdout_rows, json_records
    from mlops_actions.steps.smoke_test import load_cases

    holdout = holdout_rows(settings, 200)
    if holdout is not None and len(holdout):
        return json_records(holdout)
    if settings.smoke.cases is not None:
        return [dict(case.inputs) for case in load_cases(settings.smoke.cases)]
    return []
