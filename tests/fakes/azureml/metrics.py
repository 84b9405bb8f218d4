"""Azure Monitor metrics of online endpoints: the batch API on
``<region>.metrics.monitor.azure.com`` (``POST /subscriptions/{sub}/metrics:getBatch``), computed
from ``fake.scoring_log``."""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from tests.fakes.azureml.model import (
    ONLINE_ENDPOINT_METRICS,
    FakeResponse,
    HttpError,
    MetricsFault,
    RecordedRequest,
)
from tests.fakes.azureml.routes import Route, route

METRICS_PATH = r"/subscriptions/(?P<sub>[^/]+)/metrics:getBatch"


class MetricsService:
    """Metrics faults and the batch route (mixed into ``FakeAzureML``)."""

    subscription_id: str
    location: str
    lock: Any
    endpoints: dict[str, dict[str, Any]]
    scoring_log: list[dict[str, Any]]
    _metrics_faults: list[MetricsFault]

    # metric -> (unit, dimensions); names as Azure Monitor lists them for online endpoints
    _ENDPOINT_METRICS: ClassVar[dict[str, tuple[str, tuple[str, ...]]]] = {
        "RequestsPerMinute": (
            "Count",
            ("deployment", "statusCode", "statusCodeClass", "modelStatusCode"),
        ),
        **{f"RequestLatency_P{q}": ("MilliSeconds", ("deployment",)) for q in (50, 90, 95, 99)},
    }

    def fail_metrics(
        self,
        status: int = 503,
        code: str = "ServiceUnavailable",
        message: str = "The metrics service is temporarily unavailable.",
        *,
        times: int | None = 1,
    ) -> None:
        """Make the next ``times`` Azure Monitor metrics queries (``None``: all) fail."""
        with self.lock:
            self._metrics_faults.append(MetricsFault(status, code, message, times))

    def restore_metrics(self) -> None:
        """Drop every pending metrics fault."""
        with self.lock:
            self._metrics_faults.clear()

    def _metrics_routes(self) -> list[Route]:
        return [route("POST", METRICS_PATH, self._route_metrics, re.IGNORECASE)]

    def _route_metrics(
        self, req: RecordedRequest, m: re.Match[str], *, region: str
    ) -> FakeResponse:
        """The metrics batch API (the one ``MetricsClient.query_resources`` calls), computed
        from ``scoring_log``: one bin per ``interval`` from ``starttime``; RequestsPerMinute is
        the request count of the bin, RequestLatency_PNN the nearest-rank percentile of the
        bin's latencies (bins without requests have no latency value)."""
        if m.group("sub") != self.subscription_id:
            raise HttpError(
                404, "SubscriptionNotFound", f"Subscription {m.group('sub')} not found."
            )
        self._raise_metrics_fault()
        if region.lower() != self.location.lower():
            raise HttpError(
                400, "BadRequest", f"The resources are in {self.location}, not in {region}."
            )
        query = self._metrics_query(req.query)
        values = []
        for resource_id in (req.json or {}).get("resourceids") or []:
            ep = self._endpoint_by_id(str(resource_id))
            entries = [
                e
                for e in self.scoring_log
                if e["endpoint"] == ep and query.start <= e["time"] < query.end
            ]
            values.append(
                {
                    "starttime": req.query["starttime"],
                    "endtime": req.query["endtime"],
                    "interval": _format_duration(query.step),
                    "namespace": query.namespace,
                    "resourceregion": self.location,
                    "resourceid": resource_id,
                    "value": [
                        self._metric_rest(resource_id, name, entries, query) for name in query.names
                    ],
                }
            )
        return FakeResponse(200, {"values": values})

    def _raise_metrics_fault(self) -> None:
        fault = self._metrics_faults[0] if self._metrics_faults else None
        if fault is not None:
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._metrics_faults.pop(0)
            raise HttpError(fault.status, fault.code, fault.message)

    def _metrics_query(self, q: dict[str, str]) -> MetricsQuery:
        namespace = q.get("metricnamespace", "")
        if namespace.lower() != ONLINE_ENDPOINT_METRICS.lower():
            raise HttpError(400, "BadRequest", f"Unsupported metric namespace {namespace!r}.")
        names = [n for n in q.get("metricnames", "").split(",") if n]
        for name in names:
            if name not in self._ENDPOINT_METRICS:
                raise HttpError(
                    400, "BadRequest", f"Metric {name} is not supported for {namespace}."
                )
        try:
            start = _parse_time(q["starttime"])
            end = _parse_time(q["endtime"])
        except (KeyError, ValueError):
            raise HttpError(400, "BadRequest", "starttime and endtime are required.") from None
        return MetricsQuery(
            namespace=namespace,
            names=names,
            start=start,
            end=end,
            step=_parse_duration(q.get("interval") or "PT1M"),
            aggregations=[a.lower() for a in (q.get("aggregation") or "average").split(",")],
            wanted=_parse_filter(q.get("filter") or ""),
        )

    def _endpoint_by_id(self, resource_id: str) -> str:
        for name, rest in self.endpoints.items():
            if rest["id"].lower() == resource_id.lower():
                return name
        raise HttpError(404, "ResourceNotFound", f"Resource {resource_id} not found.")

    def _metric_rest(
        self, resource_id: str, name: str, entries: list[dict[str, Any]], query: MetricsQuery
    ) -> dict[str, Any]:
        unit, dimensions = self._ENDPOINT_METRICS[name]
        known = {d.lower(): d for d in dimensions}
        for dim in query.wanted:
            if dim not in known:
                raise HttpError(
                    400, "BadRequest", f"Metric {name} has no dimension {dim!r} to filter on."
                )
        split = [known[d] for d, v in query.wanted.items() if v == "*"]
        fixed = {known[d]: v for d, v in query.wanted.items() if v != "*"}
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for entry in entries:
            values = _dimensions(entry)
            if all(values[d].lower() == v.lower() for d, v in fixed.items()):
                groups.setdefault(tuple(values[d] for d in split), []).append(entry)
        if not split and not groups:
            groups[()] = []
        timeseries = [
            {
                "metadatavalues": [
                    {"name": {"value": d, "localizedValue": d}, "value": v}
                    for d, v in zip(split, key, strict=True)
                ],
                "data": _series(name, members, query),
            }
            for key, members in sorted(groups.items())
        ]
        return {
            "id": f"{resource_id}/providers/Microsoft.Insights/metrics/{name}",
            "type": "Microsoft.Insights/metrics",
            "name": {"value": name, "localizedValue": name},
            "displayDescription": "",
            "unit": unit,
            "timeseries": timeseries,
            "errorCode": "Success",
        }


@dataclass
class MetricsQuery:
    """The parsed query string of one batch request."""

    namespace: str
    names: list[str]
    start: float
    end: float
    step: float
    aggregations: list[str]
    wanted: dict[str, str]  # lower-cased dimension -> value ("*": split by it)


def _dimensions(entry: dict[str, Any]) -> dict[str, str]:
    status = int(entry["status"])
    return {
        "deployment": entry["deployment"],
        "statusCode": str(status),
        "statusCodeClass": f"{status // 100}xx",
        "modelStatusCode": str(status),
    }


def _series(name: str, members: list[dict[str, Any]], query: MetricsQuery) -> list[dict[str, Any]]:
    """The data points of one time series: one per bin of ``query.step`` seconds."""
    start, end, step = query.start, query.end, query.step
    bins = max(1, int((end - start) // step) + (1 if (end - start) % step else 0))
    data = []
    for i in range(bins):
        lo = start + i * step
        inside = [e for e in members if lo <= e["time"] < lo + step]
        point: dict[str, Any] = {
            "timeStamp": _dt.datetime.fromtimestamp(lo, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        }
        if name == "RequestsPerMinute":
            value: float | None = float(len(inside))
        else:
            latencies = sorted(e["latency_ms"] for e in inside)
            value = _nearest_rank(latencies, int(name.rsplit("_P", 1)[1]))
        if value is not None:
            for agg in query.aggregations:
                point[agg] = value if agg != "count" else float(bool(inside))
        data.append(point)
    return data


def _parse_time(text: str) -> float:
    return _dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+")).timestamp()


def _parse_duration(text: str) -> float:
    m = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?", text.upper())
    if not m or not any(m.groups()):
        raise HttpError(400, "BadRequest", f"Invalid interval {text!r}.")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in m.groups())
    return hours * 3600 + minutes * 60 + seconds


def _format_duration(seconds: float) -> str:
    if seconds % 60 == 0:
        return f"PT{int(seconds // 60)}M"
    return f"PT{seconds:g}S"


def _parse_filter(text: str) -> dict[str, str]:
    """``dim eq 'value' and dim2 eq '*'`` -> {dim: value} (lower-cased names; no ``or``)."""
    wanted: dict[str, str] = {}
    for clause in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE) if text.strip() else []:
        m = re.fullmatch(r"\s*(\w+)\s+eq\s+'([^']*)'\s*", clause, re.IGNORECASE)
        if not m:
            raise HttpError(400, "BadRequest", f"Unsupported filter clause {clause!r}.")
        wanted[m.group(1).lower()] = m.group(2)
    return wanted


def _nearest_rank(ordered: list[float], q: int) -> float | None:
    if not ordered:
        return None
    rank = max(1, -(-q * len(ordered) // 100))
    return ordered[min(rank, len(ordered)) - 1]
