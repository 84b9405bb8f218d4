"""``FakeAzureML``: one fake Azure ML workspace, routed per host.

Each service lives in its own module and brings its routes; this module holds the state they
share, the host routing and the request log.
"""

from __future__ import annotations

import json
import random
import re
import threading
import uuid
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes.azureml.assets import ASSET_KINDS, AssetService
from tests.fakes.azureml.jobs import JobService
from tests.fakes.azureml.metrics import METRICS_PATH, MetricsService
from tests.fakes.azureml.model import (
    ARM_HOST,
    LOOPBACK_SCORING_PREFIX,
    METRICS_HOST_SUFFIX,
    FakeResponse,
    HttpError,
    Job,
    JobScript,
    MetricsFault,
    Operation,
    PendingScoring,
    ProvisioningFault,
    RecordedRequest,
    ScoringFault,
    ScoringHandler,
    SubmitFault,
    error_body,
)
from tests.fakes.azureml.online import OnlineService
from tests.fakes.azureml.operations import OPERATION_PATH, OperationService
from tests.fakes.azureml.routes import RouteTable, route
from tests.fakes.azureml.run_history import RunHistoryService
from tests.fakes.azureml.scoring import ScoringService
from tests.fakes.azureml.transport import fake_jwt
from tests.fakes.azureml.workspace import WORKSPACE_PATH, WorkspaceService

_METRICS_PATH_RE = re.compile(METRICS_PATH, re.IGNORECASE)


class FakeAzureML(
    WorkspaceService,
    AssetService,
    JobService,
    RunHistoryService,
    OnlineService,
    OperationService,
    ScoringService,
    MetricsService,
):
    """State and behaviour of one fake Azure ML workspace (see ``tests.fakes.azureml_rest``)."""

    def __init__(
        self,
        subscription_id: str = "00000000-0000-0000-0000-000000000001",
        resource_group: str = "rg-mlops",
        workspace: str = "ws-mlops",
        location: str = "westeurope",
        *,
        tenant_id: str = "00000000-0000-0000-0000-0000000000aa",
        token: str | None = None,
        lro_polls: int = 1,
        retry_after_ms: int = 10,
        auto_match_code_hashes: bool = True,
        seed: int = 0,
    ) -> None:
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.workspace = workspace
        self.location = location
        self.tenant_id = tenant_id
        # the SDK decodes the ARM token as a JWT (unverified) to read the tenant id
        self.token = token or fake_jwt(tenant_id)
        self.workspace_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{subscription_id}/{workspace}"))
        self.lro_polls = lro_polls
        self.retry_after_ms = retry_after_ms
        self.auto_match_code_hashes = auto_match_code_hashes
        self.rng = random.Random(seed)
        self.lock = threading.RLock()
        # set by serve_https(): every URL the fake hands out then points at https://127.0.0.1:<port>
        self.loopback_base: str | None = None

        self.requests: list[RecordedRequest] = []
        self.unhandled: list[RecordedRequest] = []
        self.scoring_log: list[dict[str, Any]] = []

        self.computes: dict[str, dict[str, Any]] = {}
        self.datastores: dict[str, dict[str, Any]] = {}
        # kind (environments|models|data|codes|components) -> name -> version -> rest body
        self.assets: dict[str, dict[str, dict[str, dict[str, Any]]]] = {k: {} for k in ASSET_KINDS}
        self.code_hashes: dict[str, tuple[str, str]] = {}  # content hash -> (name, version)
        self.jobs: dict[str, Job] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.endpoint_keys: dict[str, dict[str, str]] = {}
        self.deployments: dict[str, dict[str, dict[str, Any]]] = {}  # endpoint -> name -> rest
        self.deployment_logs: dict[tuple[str, str], str] = {}
        self.operations: dict[str, Operation] = {}

        self._job_scripts_by_name: dict[str, JobScript] = {}
        self._job_scripts_queue: list[JobScript] = []
        self.default_job_script = JobScript()
        self._submit_faults: list[SubmitFault] = []
        self._endpoint_faults: dict[str, ProvisioningFault] = {}
        self._deployment_faults: dict[tuple[str, str], ProvisioningFault] = {}
        self._scoring_handlers: dict[tuple[str, str], ScoringHandler] = {}
        self._scoring_faults: dict[tuple[str, str | None], list[ScoringFault]] = {}
        self._metrics_faults: list[MetricsFault] = []

        self.add_datastore("workspaceblobstore", default=True)
        self.add_datastore("workspaceartifactstore")
        self._build_route_tables()

    def _build_route_tables(self) -> None:
        # workspace-scoped ARM paths, after the workspace prefix (empty segments dropped)
        self._workspace_table = RouteTable(
            [
                *self._workspace_routes(),
                *self._asset_routes(),
                *self._job_routes(),
                *self._online_routes(),
            ]
        )
        self._arm_table = RouteTable(
            [
                route("GET", OPERATION_PATH, self._operation_route, re.IGNORECASE),
                route("*", WORKSPACE_PATH, self._workspace_route, re.IGNORECASE),
            ]
        )
        self._regional_table = RouteTable(self._regional_routes())
        self._scoring_table = RouteTable(self._scoring_routes())
        self._metrics_table = RouteTable(self._metrics_routes())

    # ---------------------------------------------------------------- inspection helpers

    def calls(
        self, method: str | None = None, path_contains: str | None = None, host: str | None = None
    ) -> list[RecordedRequest]:
        """The recorded requests with this method, path fragment and host (each optional)."""
        with self.lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method.upper())
                and (path_contains is None or path_contains in r.path)
                and (host is None or r.host == host)
            ]

    # ---------------------------------------------------------------- dispatch

    def handle(
        self,
        method: str,
        url: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> FakeResponse:
        """Answer one HTTP request (used by the requests adapter and the HTTPS server)."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        path = unquote(parts.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        hdrs = {k.lower(): v for k, v in (headers or {}).items()}
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                parsed = None
        rec = RecordedRequest(method.upper(), url, host, path, query, hdrs, body, parsed)
        routed: FakeResponse | PendingScoring | None
        with self.lock:
            self.requests.append(rec)
            try:
                routed = self._route(rec)
            except HttpError as exc:
                routed = FakeResponse(
                    exc.status, error_body(exc.code, exc.message, inner=exc.inner)
                )
            if routed is None:
                self.unhandled.append(rec)
                routed = FakeResponse(
                    404, error_body("NoRoute", f"fake Azure ML has no route for {method} {url}")
                )
        resp = routed.run() if isinstance(routed, PendingScoring) else routed
        resp.headers.setdefault("x-ms-request-id", str(uuid.uuid4()))
        if resp.body is not None and not isinstance(resp.body, bytes | str):
            resp.headers.setdefault("Content-Type", "application/json; charset=utf-8")
        return resp

    def _route(self, req: RecordedRequest) -> FakeResponse | PendingScoring | None:
        """Pick the service by host; each answers from its route table."""
        if self.loopback_base and urlsplit(req.url).netloc == urlsplit(self.loopback_base).netloc:
            return self._route_loopback(req)
        if req.host == ARM_HOST:
            self._check_bearer(req)
            return self._arm_table.dispatch(req)
        if req.host == self.api_host:
            self._check_bearer(req)
            return self._regional_table.dispatch(req)
        if req.host.endswith(METRICS_HOST_SUFFIX):
            self._check_bearer(req)
            region = req.host[: -len(METRICS_HOST_SUFFIX)]
            return self._metrics_table.dispatch(req, region=region)
        m = re.fullmatch(
            rf"([a-z0-9-]+)\.{re.escape(self.location)}\.inference\.ml\.azure\.com", req.host
        )
        if m:
            return self._scoring_table.dispatch(req, endpoint_name=m.group(1))
        return None

    def _route_loopback(self, req: RecordedRequest) -> FakeResponse | PendingScoring | None:
        """One host serves everything: pick the service by path instead."""
        if req.path.startswith(LOOPBACK_SCORING_PREFIX + "/"):
            rest = req.path[len(LOOPBACK_SCORING_PREFIX) + 1 :]
            ep, _, tail = rest.partition("/")
            return self._scoring_table.dispatch(req, "/" + tail, endpoint_name=ep)
        self._check_bearer(req)
        if req.path == "/discovery" or req.path.startswith("/history/"):
            return self._regional_table.dispatch(req)
        if _METRICS_PATH_RE.fullmatch(req.path):
            return self._metrics_table.dispatch(req, region=self.location)
        return self._arm_table.dispatch(req)

    def _check_bearer(self, req: RecordedRequest) -> None:
        if req.path == "/discovery":
            return
        if req.headers.get("authorization") != f"Bearer {self.token}":
            raise HttpError(401, "AuthenticationFailed", "Missing or invalid bearer token.")
