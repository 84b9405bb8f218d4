"""Request metrics of a managed online endpoint's deployments, from one of two sources.

- `AzureMonitorMetrics`: Azure Monitor's metrics of the endpoint resource (namespace
  `Microsoft.MachineLearningServices/workspaces/onlineEndpoints`): `RequestsPerMinute` split by
  `statusCode`, and `RequestLatency_P50/P95/P99`, both filtered by `deployment`, over one-minute
  bins. Azure publishes them with a delay of a minute or more and per minute.
- `ProbeSamples`: the requests this process itself sent through `invoke`, counted for the
  deployment that answered; exact and immediate, but blind to other clients' traffic.

Importing this module imports nothing heavy: azure-monitor-querymetrics is imported on first use.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from mlops_actions.backends.azureml_common import auth_failure, first_line, service_message
from mlops_actions.backends.endpoint import ERROR_CLASSES, DeploymentMetrics, MetricsUnavailable
from mlops_actions.backends.local_endpoint.metrics import percentile

METRIC_NAMESPACE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
REQUESTS_METRIC = "RequestsPerMinute"
LATENCY_METRICS = ("RequestLatency_P50", "RequestLatency_P95", "RequestLatency_P99")
MAX_SAMPLES = 200_000
SAMPLE_HORIZON_SECONDS = 3600.0


def status_class(status: int) -> str:
    """The error class of a scoring answer ('ok' for success): 408 and 504 are timeouts, 429 is
    'unavailable' (no capacity), other 5xx and 424 (the scoring code failed) are '5xx'."""
    if status < 400:
        return "ok"
    if status in (408, 504):
        return "timeout"
    if status == 429:
        return "unavailable"
    if status >= 500 or status == 424:
        return "5xx"
    return "4xx"


class ProbeSamples:
    """The outcomes of the requests this process sent, kept for an hour (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: deque[tuple[float, str, float, str]] = deque(maxlen=MAX_SAMPLES)

    def record(self, deployment: str, latency_ms: float, klass: str) -> None:
        """Count one request answered by `deployment` (error class `klass`, 'ok' for success)."""
        now = time.monotonic()
        with self._lock:
            self._samples.append((now, deployment, latency_ms, klass))
            while self._samples and self._samples[0][0] < now - SAMPLE_HORIZON_SECONDS:
                self._samples.popleft()

    def metrics(self, deployment: str, window_seconds: float) -> DeploymentMetrics:
        """The metrics of `deployment` over the last `window_seconds` of recorded requests."""
        since = time.monotonic() - window_seconds
        with self._lock:
            recent = [s for s in self._samples if s[0] >= since and s[1] == deployment]
        errors = dict.fromkeys(ERROR_CLASSES, 0)
        for _, _, _, klass in recent:
            if klass != "ok":
                errors[klass] = errors.get(klass, 0) + 1
        latencies = sorted(s[2] for s in recent)
        return DeploymentMetrics(
            deployment=deployment,
            window_seconds=window_seconds,
            requests=len(recent),
            errors=errors,
            p50_ms=percentile(latencies, 50),
            p95_ms=percentile(latencies, 95),
            p99_ms=percentile(latencies, 99),
        )


class AzureMonitorMetrics:
    """Azure Monitor's request metrics of one endpoint resource, one MetricsClient per region."""

    def __init__(
        self, credential: Callable[[], Any], client_options: Mapping[str, Any] | None = None
    ) -> None:
        """`credential` is a callable returning the Azure credential (read on first query);
        `client_options` are extra keyword arguments of the MetricsClient (e.g. `transport=`)."""
        self._credential = credential
        self._options = dict(client_options or {})
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _client(self, region: str) -> Any:
        with self._lock:
            if region not in self._clients:
                from azure.monitor.querymetrics import MetricsClient

                # One quick retry: the canary analysis reads again every interval anyway.
                options: dict[str, Any] = {"retry_total": 1, "retry_backoff_factor": 0.2}
                options.update(self._options)
                self._clients[region] = MetricsClient(
                    f"https://{region}.metrics.monitor.azure.com", self._credential(), **options
                )
            return self._clients[region]

    def metrics(
        self, resource_id: str, region: str, deployment: str, window_seconds: float
    ) -> DeploymentMetrics:
        """The metrics of `deployment` of endpoint `resource_id` over the last `window_seconds`.

        Raises MetricsUnavailable when Azure Monitor fails or answers something unusable.
        """
        from azure.core.exceptions import AzureError, ClientAuthenticationError

        end = datetime.now(UTC)
        span = (end - timedelta(seconds=window_seconds), end)
        quoted = deployment.replace("'", "''")
        try:
            client = self._client(region)
            counted = client.query_resources(
                resource_ids=[resource_id],
                metric_namespace=METRIC_NAMESPACE,
                metric_names=[REQUESTS_METRIC],
                timespan=span,
                granularity=timedelta(minutes=1),
                aggregations=["Total", "Average"],
                filter=f"deployment eq '{quoted}' and statusCode eq '*'",
            )
            timed = client.query_resources(
                resource_ids=[resource_id],
                metric_namespace=METRIC_NAMESPACE,
                metric_names=list(LATENCY_METRICS),
                timespan=span,
                granularity=timedelta(minutes=1),
                aggregations=["Average"],
                filter=f"deployment eq '{quoted}'",
            )
        except (AzureError, ValueError, KeyError, TypeError) as exc:
            # a malformed answer is as unusable as a failed one: both count as a metrics error
            detail = service_message(exc) if isinstance(exc, AzureError) else first_line(exc)
            hint = (
                auth_failure(exc).hint
                if isinstance(exc, ClientAuthenticationError)
                else "the analysis reads again at its next interval (analysis.max_metric_errors)."
            )
            raise MetricsUnavailable(
                f"Azure Monitor metrics of {deployment} could not be read: {detail}", hint=hint
            ) from None
        requests, errors, per_bin = count_requests(counted)
        latency = latency_percentiles(timed, per_bin) if requests else {}
        return DeploymentMetrics(
            deployment=deployment,
            window_seconds=window_seconds,
            requests=requests,
            errors=errors,
            p50_ms=latency.get("RequestLatency_P50"),
            p95_ms=latency.get("RequestLatency_P95"),
            p99_ms=latency.get("RequestLatency_P99"),
        )


def _dimension(series: Any, name: str) -> str | None:
    values = {
        str(k).lower(): v for k, v in (getattr(series, "metadata_values", None) or {}).items()
    }
    value = values.get(name.lower())
    return str(value) if value is not None else None


def _series_class(series: Any) -> str:
    """The error class of a series split by `statusCode` (or `statusCodeClass`)."""
    code = _dimension(series, "statusCode")
    klass = _dimension(series, "statusCodeClass")
    if code and code.isdigit():
        return status_class(int(code))
    if klass and klass[:1].isdigit():
        return status_class(int(klass[0]) * 100)
    return "ok"


def count_requests(results: Any) -> tuple[int, dict[str, int], dict[datetime, float]]:
    """(requests, errors by class, requests per bin) from RequestsPerMinute split by status."""
    errors = dict.fromkeys(ERROR_CLASSES, 0)
    per_bin: dict[datetime, float] = {}
    total = 0.0
    for result in results:
        for metric in result.metrics:
            if metric.name != REQUESTS_METRIC:
                continue
            for series in metric.timeseries:
                n = 0.0
                for point in series.data:
                    # ASSUMPTION: a one-minute bin's Total (or Average) is its request count.
                    value = point.total if point.total is not None else point.average
                    if value:
                        n += float(value)
                        per_bin[point.timestamp] = per_bin.get(point.timestamp, 0.0) + value
                total += n
                cls = _series_class(series)
                if cls != "ok":
                    errors[cls] = errors.get(cls, 0) + round(n)
    return round(total), errors, per_bin


def latency_percentiles(results: Any, per_bin: Mapping[datetime, float]) -> dict[str, float]:
    """Each latency metric over the window: the bins' values weighted by their request counts
    (a plain mean when no bin has a count)."""
    out: dict[str, float] = {}
    for result in results:
        for metric in result.metrics:
            points = [
                (point.timestamp, float(point.average))
                for series in metric.timeseries
                for point in series.data
                if point.average is not None
            ]
            if not points:
                continue
            weights = [per_bin.get(stamp, 0.0) for stamp, _ in points]
            if sum(weights) > 0:
                value = sum(w * v for w, (_, v) in zip(weights, points, strict=True)) / sum(weights)
            else:
                value = sum(v for _, v in points) / len(points)
            out[str(metric.name)] = value
    return out
