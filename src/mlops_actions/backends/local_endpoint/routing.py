"""Routing of the local endpoint's scoring requests: traffic split, mirroring, the prediction log.

The `azureml-model-deployment` header sends a request to that deployment and bypasses mirroring,
as on Azure ML; otherwise the live traffic split picks the deployment (smooth weighted
round-robin, so shares are exact over any 100 requests) and the mirror setting copies that share
of requests to the mirror target, whose answer is discarded (but logged, marked `shadow`). Every
successful prediction is appended to the prediction log before the answer is sent; the answer
carries the request id (`x-request-id`) and the deployment that served it. Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from mlops_actions.backends.local_endpoint.httpclient import TimedOut, Unreachable
from mlops_actions.backends.local_endpoint.metrics import RequestMetrics, status_class
from mlops_actions.backends.local_endpoint.payload import (
    PayloadError,
    answer_body,
    parse_body,
    rows_for_log,
)
from mlops_actions.backends.local_endpoint.predlog import PredictionLog, PredictionLogError
from mlops_actions.backends.local_endpoint.supervisor import Deployment

DEPLOYMENT_HEADER = "azureml-model-deployment"
REQUEST_ID_HEADER = "x-request-id"
SOURCE_HEADER = "x-mlops-source"
_SOURCE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class _NoRoute(Exception):
    """A scoring request that no deployment can answer (with the status to answer)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Routes:
    """The live traffic split and the mirror, and the counters that pick from them.

    Not thread-safe on its own: callers hold the router's lock.
    """

    def __init__(self) -> None:
        self.traffic: dict[str, int] = {}
        self.mirror: tuple[str, int] | None = None
        self._rr: dict[str, int] = {}
        self._mirror_acc = 0

    def set_traffic(self, weights: dict[str, int]) -> None:
        """Route by `weights` (deployments at 0 % are dropped); the round-robin starts over."""
        self.traffic = {k: v for k, v in sorted(weights.items()) if v > 0}
        self._rr = {}

    def set_mirror(self, mirror: tuple[str, int] | None) -> None:
        """Mirror (deployment, percent), or nothing; the mirror count starts over."""
        self.mirror = mirror
        self._mirror_acc = 0

    def mirror_dict(self) -> dict[str, Any]:
        mirror = self.mirror
        return {"deployment": mirror[0], "percent": mirror[1]} if mirror else {}

    def busiest(self) -> str | None:
        """The deployment with the most live traffic (ties: the first by name)."""
        live = sorted(self.traffic.items(), key=lambda item: (-item[1], item[0]))
        return live[0][0] if live else None

    def pick(self) -> str | None:
        """Smooth weighted round-robin over the live split (exact shares, no randomness)."""
        weights = self.traffic
        if not weights:
            return None
        total = sum(weights.values())
        best = None
        for name, weight in weights.items():
            current = self._rr.get(name, 0) + weight
            self._rr[name] = current
            if best is None or current > self._rr[best]:
                best = name
        assert best is not None
        self._rr[best] -= total
        return best

    def pick_mirror(self) -> str | None:
        """The mirror target when this request is one of its share, else None."""
        if self.mirror is None:
            return None
        name, pct = self.mirror
        self._mirror_acc += pct
        if self._mirror_acc >= 100:
            self._mirror_acc -= 100
            return name
        return None


class Dispatcher:
    """Answers scoring requests: picks the deployment, forwards, mirrors, logs, counts."""

    def __init__(
        self,
        *,
        lock: threading.RLock,
        deployments: dict[str, Deployment],
        routes: Routes,
        metrics: RequestMetrics,
        log: PredictionLog,
        request_timeout: float,
    ) -> None:
        """`deployments` and `routes` are the router's own (read under `lock`)."""
        self.lock = lock
        self.deployments = deployments
        self.routes = routes
        self.metrics = metrics
        self.log = log
        self.request_timeout = request_timeout
        self.mirror_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mirror")

    def close(self) -> None:
        """Drop pending mirror requests; later scoring requests are not mirrored."""
        self.mirror_pool.shutdown(wait=False, cancel_futures=True)

    def score(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        """(status, body, headers) of the answer to one scoring request.

        400 for a body that is not a scoring payload, 404 for an unknown deployment header, 503
        without live traffic, the deployment's status when it fails, 502 (504) when it cannot
        be reached (does not answer in time), 500 when the prediction could not be logged.
        """
        given = headers.get(REQUEST_ID_HEADER, "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        label = headers.get(SOURCE_HEADER, "")
        source = label if _SOURCE.match(label) else None
        out_headers = {REQUEST_ID_HEADER: request_id}
        try:
            payload, style = parse_body(body)
        except PayloadError as exc:
            return 400, json_bytes({"error": str(exc)}), out_headers
        target = headers.get(DEPLOYMENT_HEADER, "").strip()
        try:
            with self.lock:
                dep, mirror_dep = self._choose(target)
        except _NoRoute as exc:
            return exc.status, json_bytes({"error": str(exc)}), out_headers
        out_headers[DEPLOYMENT_HEADER] = dep.name
        status, answer, latency = self.forward(dep, body)
        self.metrics.record(dep.name, latency, status_class(status))
        if mirror_dep is not None:
            with contextlib.suppress(RuntimeError):  # pool closed while shutting down
                self.mirror_pool.submit(self._mirror, mirror_dep, body, payload, request_id, source)
        if status != 200:
            return status, json_bytes({"error": answer.get("error", "failed")}), out_headers
        predictions = answer.get("predictions")
        if not isinstance(predictions, list):
            error = {"error": "the deployment answered without predictions"}
            return 502, json_bytes(error), out_headers
        try:
            self.log.append(prediction_records(dep, request_id, payload, answer, latency, source))
        except PredictionLogError as exc:
            return 500, json_bytes({"error": f"prediction not logged: {exc}"}), out_headers
        return 200, answer_body(style, predictions), out_headers

    def _choose(self, target: str) -> tuple[Deployment, Deployment | None]:
        """(the deployment, the mirror target or None); the caller holds the lock.

        Raises _NoRoute for an unknown `target` or when no deployment receives traffic.
        """
        if target:
            dep = self.deployments.get(target)
            if dep is None:
                raise _NoRoute(404, f"no deployment named {target!r}")
            return dep, None
        name = self.routes.pick()
        if name is None:
            raise _NoRoute(503, "no deployment receives traffic on this endpoint")
        mirror_name = self.routes.pick_mirror()
        mirror_dep = self.deployments.get(mirror_name) if mirror_name else None
        return self.deployments[name], mirror_dep

    def forward(self, dep: Deployment, body: bytes) -> tuple[int, dict[str, Any], float]:
        """(status, parsed answer, latency in ms) of `body` sent to `dep`'s worker.

        502 when it is not ready or unreachable, 504 when it does not answer in time; an
        answer that is not a JSON object becomes `{"error": …}`.
        """
        client = dep.client
        started = time.perf_counter()
        if dep.state != "ready" or client is None:
            latency = (time.perf_counter() - started) * 1000
            return 502, {"error": f"deployment {dep.name} is {dep.state}"}, latency
        try:
            answer = client.request("POST", "/score", body, timeout=self.request_timeout)
        except TimedOut:
            latency = (time.perf_counter() - started) * 1000
            return 504, {"error": f"deployment {dep.name} did not answer in time"}, latency
        except Unreachable:
            latency = (time.perf_counter() - started) * 1000
            return 502, {"error": f"deployment {dep.name} is unreachable"}, latency
        latency = (time.perf_counter() - started) * 1000
        try:
            parsed = json.loads(answer.body)
        except ValueError:
            parsed = {"error": answer.body[:500].decode("utf-8", errors="replace")}
        if not isinstance(parsed, dict):
            parsed = {"error": "the deployment answered something that is not a JSON object"}
        return answer.status, parsed, latency

    def _mirror(
        self,
        dep: Deployment,
        body: bytes,
        payload: dict[str, Any],
        request_id: str,
        source: str | None,
    ) -> None:
        status, answer, latency = self.forward(dep, body)
        self.metrics.record(dep.name, latency, status_class(status))
        if status == 200 and isinstance(answer.get("predictions"), list):
            with contextlib.suppress(PredictionLogError):
                records = prediction_records(dep, request_id, payload, answer, latency, source)
                for record in records:
                    record["shadow"] = True
                self.log.append(records, wait=False)


def prediction_records(
    dep: Deployment,
    request_id: str,
    payload: dict[str, Any],
    answer: dict[str, Any],
    latency: float,
    source: str | None = None,
) -> list[dict[str, Any]]:
    """The prediction log's records of one answer: one per row, with its inputs and score."""
    now = time.time()
    stamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
    predictions: list[Any] = answer["predictions"]
    scores = answer.get("scores")
    rows = rows_for_log(payload)
    records = []
    for i, output in enumerate(predictions):
        score = scores[i] if isinstance(scores, list) and i < len(scores) else None
        if score is None and isinstance(output, (int, float)) and not isinstance(output, bool):
            score = output
        records.append(
            {
                "request_id": request_id,
                "row": i,
                "time": stamp,
                "ts": round(now, 6),
                "deployment": dep.name,
                "model_name": dep.model_name,
                "model_version": dep.model_version,
                "inputs": rows[i] if i < len(rows) else None,
                "output": output,
                "score": score,
                "latency_ms": round(latency, 3),
                **({"source": source} if source else {}),
            }
        )
    return records


def json_bytes(value: Any) -> bytes:
    """`value` as compact JSON."""
    return json.dumps(value, separators=(",", ":")).encode()
