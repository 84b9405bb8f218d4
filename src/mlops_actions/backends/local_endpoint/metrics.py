"""Per-deployment rolling request metrics, kept by the router in memory."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Any

HORIZON_SECONDS = 3600.0
MAX_SAMPLES = 200_000


def status_class(status: int) -> str:
    """The error class of an HTTP status ('ok' for success)."""
    if status < 400:
        return "ok"
    if status == 504:
        return "timeout"
    if status == 502:
        return "unavailable"
    return "4xx" if status < 500 else "5xx"


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


class RequestMetrics:
    """(time, latency, class) samples per deployment for the last hour."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: dict[str, deque[tuple[float, float, str]]] = {}

    def record(self, deployment: str, latency_ms: float, klass: str) -> None:
        now = time.monotonic()
        with self._lock:
            samples = self._samples.get(deployment)
            if samples is None:
                samples = self._samples[deployment] = deque(maxlen=MAX_SAMPLES)
            samples.append((now, latency_ms, klass))
            while samples and samples[0][0] < now - HORIZON_SECONDS:
                samples.popleft()

    def forget(self, deployment: str) -> None:
        with self._lock:
            self._samples.pop(deployment, None)

    def query(self, deployment: str, window_seconds: float) -> dict[str, Any]:
        """Counts, errors by class and latency percentiles over the last `window_seconds`."""
        since = time.monotonic() - window_seconds
        recent: list[tuple[float, float, str]] = []
        with self._lock:
            for sample in reversed(self._samples.get(deployment, ())):
                if sample[0] < since:
                    break
                recent.append(sample)
        errors = {"4xx": 0, "5xx": 0, "timeout": 0, "unavailable": 0}
        latencies = []
        for _, latency, klass in recent:
            latencies.append(latency)
            if klass != "ok":
                errors[klass] = errors.get(klass, 0) + 1
        latencies.sort()
        return {
            "deployment": deployment,
            "window_seconds": window_seconds,
            "requests": len(recent),
            "errors": errors,
            "p50_ms": percentile(latencies, 50),
            "p95_ms": percentile(latencies, 95),
            "p99_ms": percentile(latencies, 99),
        }
