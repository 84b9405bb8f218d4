"""The scoring host ``<endpoint>.<region>.inference.ml.azure.com``: ``POST /score``.

Key auth, routing by traffic weights, mirror traffic and the deployment header, and injected
faults. The model runs outside the fake's lock (see ``PendingScoring``); every answer is appended
to ``fake.scoring_log``.
"""

from __future__ import annotations

import re
import time
import uuid
from random import Random
from typing import Any

from tests.fakes.azureml.model import (
    FakeResponse,
    PendingScoring,
    RecordedRequest,
    ScoringFault,
    ScoringHandler,
)
from tests.fakes.azureml.routes import Route, route


class ScoringService:
    """Scoring handlers, faults and the ``/score`` route (mixed into ``FakeAzureML``)."""

    rng: Random
    lock: Any
    endpoints: dict[str, dict[str, Any]]
    endpoint_keys: dict[str, dict[str, str]]
    deployments: dict[str, dict[str, dict[str, Any]]]
    scoring_log: list[dict[str, Any]]
    _scoring_handlers: dict[tuple[str, str], ScoringHandler]
    _scoring_faults: dict[tuple[str, str | None], list[ScoringFault]]

    def set_scoring_handler(self, endpoint: str, deployment: str, handler: ScoringHandler) -> None:
        """``handler(json_body, headers) -> (status, body)`` or ``(status, body, headers)``."""
        with self.lock:
            self._scoring_handlers[(endpoint, deployment)] = handler

    def inject_scoring_fault(
        self,
        endpoint: str,
        status: int,
        *,
        deployment: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        times: int | None = 1,
    ) -> None:
        """The next ``times`` scoring calls (``None``: all) routed to ``deployment`` (or to any
        deployment of ``endpoint``) answer ``status`` (408, 424, 429, 5xx...)."""
        default = {
            408: "Request timed out.",
            424: "An unexpected error occurred in the scoring script.",
            429: "Too many requests.",
        }.get(status, "Upstream error.")
        fault = ScoringFault(
            status, body if body is not None else {"message": default}, dict(headers or {}), times
        )
        with self.lock:
            self._scoring_faults.setdefault((endpoint, deployment), []).append(fault)

    @staticmethod
    def default_scoring_handler(deployment: str) -> ScoringHandler:
        """Answer one ``0`` per input row (``input_data.data`` / ``data`` / ``inputs`` list)."""

        def handler(body: Any, headers: dict[str, str]) -> tuple[int, Any]:
            rows: Any = None
            if isinstance(body, dict):
                rows = body.get("input_data", body)
                if isinstance(rows, dict):
                    rows = rows.get("data", rows.get("inputs"))
            n = len(rows) if isinstance(rows, list) else 1
            return 200, [0] * n

        return handler

    # ---------------------------------------------------------------- routes

    def _scoring_routes(self) -> list[Route]:
        return [route("POST", "/score", self._route_scoring)]

    def _route_scoring(
        self, req: RecordedRequest, m: re.Match[str], *, endpoint_name: str
    ) -> FakeResponse | PendingScoring:
        ep = endpoint_name
        endpoint = self.endpoints.get(ep)
        if endpoint is None:
            return FakeResponse(404, {"message": f"Endpoint {ep} not found."})
        keys = self.endpoint_keys.get(ep, {})
        auth = req.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[len("Bearer ") :] not in keys.values():
            return FakeResponse(401, {"message": "Invalid or missing key."})
        props = endpoint["properties"]
        deps = self.deployments.get(ep, {})
        wanted = req.headers.get("azureml-model-deployment")
        mirror_target: str | None = None
        if wanted:
            if wanted not in deps:
                return FakeResponse(404, {"message": f"Deployment {wanted} not found."})
            target = wanted
        else:
            # ASSUMPTION: with no deployment taking traffic the service answers 404.
            weights = {d: w for d, w in (props.get("traffic") or {}).items() if w > 0 and d in deps}
            if not weights:
                return FakeResponse(
                    404,
                    {
                        "message": "No valid deployments to route to. Please check that the "
                        "endpoint has at least one deployment with positive weight values or use "
                        "a deployment specific header to route."
                    },
                )
            target = self.rng.choices(list(weights), weights=list(weights.values()))[0]
            for dep, pct in (props.get("mirrorTraffic") or {}).items():
                if dep in deps and self.rng.random() * 100 < pct:
                    mirror_target = dep
        return PendingScoring(self, ep, req, target, mirror_target)

    def _take_scoring_fault(self, ep: str, dep: str) -> ScoringFault | None:
        for key in ((ep, dep), (ep, None)):
            queue = self._scoring_faults.get(key)
            if queue:
                fault = queue[0]
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        queue.pop(0)
                return fault
        return None

    def _score(self, ep: str, dep: str, req: RecordedRequest, *, mirrored: bool) -> FakeResponse:
        """One deployment answers one request; called without the lock held."""
        # ASSUMPTION: the service answers with the request's x-request-id (or a new one) and
        # echoes x-ms-client-request-id.
        request_id = req.headers.get("x-request-id") or str(uuid.uuid4())
        headers = {"azureml-model-deployment": dep, "x-request-id": request_id}
        if req.headers.get("x-ms-client-request-id"):
            headers["x-ms-client-request-id"] = req.headers["x-ms-client-request-id"]
        received = time.time()
        started = time.perf_counter()
        with self.lock:
            fault = self._take_scoring_fault(ep, dep)
            deployment = self.deployments.get(ep, {}).get(dep)
            state = deployment["properties"].get("provisioningState") if deployment else None
            handler = self._scoring_handlers.get((ep, dep)) or self.default_scoring_handler(dep)
        if fault is not None:
            resp = FakeResponse(fault.status, fault.body, {**headers, **fault.headers})
        elif state != "Succeeded":
            resp = FakeResponse(503, {"message": f"Deployment {dep} is {state}."}, headers)
        else:
            result = handler(req.json, dict(req.headers))
            extra = result[2] if len(result) > 2 else {}
            resp = FakeResponse(result[0], result[1], {**headers, **extra})
        entry: dict[str, Any] = {
            "endpoint": ep,
            "deployment": dep,
            "mirrored": mirrored,
            "body": req.json,
            "status": resp.status,
            "time": received,
            "latency_ms": (time.perf_counter() - started) * 1000,
            "request_id": request_id,
            "deployment_header": req.headers.get("azureml-model-deployment"),
        }
        with self.lock:
            self.scoring_log.append(entry)
        return resp
