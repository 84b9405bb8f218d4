"""An in-process fake of the Azure ML control plane (ARM + regional hosts) and of online scoring.

The real ``azure-ai-ml`` ``MLClient`` talks to it through an injected azure-core transport, so the
SDK really serialises requests and parses responses; only the service is fake::

    fake = FakeAzureML()
    fake.add_compute("cpu-cluster")
    fake.add_environment("sklearn-env", "1")
    ml_client = make_ml_client(fake)
    job = ml_client.jobs.create_or_update(
        command(..., environment="sklearn-env@latest", compute="cpu-cluster")
    )

Hosts routed (all over ``https://``):

* ``management.azure.com``: workspace, computes, datastores, asset containers/versions
  (environments, models, data, codes), jobs (+ cancel), online endpoints (+ listKeys,
  regenerateKeys, token), online deployments (+ getLogs, skus), long-running operation URLs.
* ``<region>.api.azureml.ms``: ``/discovery`` and run history (``runs/{id}``, ``/details``,
  ``/children``).
* ``<endpoint>.<region>.inference.ml.azure.com``: ``POST /score`` (key auth, traffic, mirror,
  faults). Handlers run outside the fake's lock, so a slow model does not stall anything else;
  every answer is appended to ``fake.scoring_log`` (endpoint, deployment, mirrored, status, time,
  latency_ms, request_id, the deployment header the request carried).
* ``<region>.metrics.monitor.azure.com``: the Azure Monitor metrics batch API
  (``POST /subscriptions/{sub}/metrics:getBatch``) for online endpoints, computed from
  ``scoring_log``: ``RequestsPerMinute`` by deployment / statusCode / statusCodeClass /
  modelStatusCode and ``RequestLatency_P50/P90/P95/P99`` by deployment.

Faults: ``fail_deployment`` (an operation that ends Failed with a code: DeploymentFailed,
OutOfQuota, ResourceNotReady...), ``stall_deployment`` (never ready; deleting it cancels the
operation), ``fail_endpoint``, ``inject_scoring_fault`` (408/424/429/5xx answers),
``rotate_endpoint_keys`` (old keys get 401), ``fail_metrics`` / ``restore_metrics``.

Anything else answers 404 and is appended to ``fake.unhandled``; every request is appended to
``fake.requests``.  Long-running operations answer ``Retry-After-ms`` only: azure-core reads
``Retry-After`` first, and ``Retry-After: 0`` makes it fall back to the SDK's 5-30 s poll interval.

``serve_https`` serves the same fake on ``https://127.0.0.1:<port>`` (self-signed certificate);
point ``AZUREML_DEV_URL_MFE`` and ``REQUESTS_CA_BUNDLE`` at it.

Behaviour that is a guess about the real service (not measured) is marked ``ASSUMPTION`` below.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime as _dt
import io
import json
import random
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from urllib3 import HTTPResponse

__all__ = [
    "ARM_HOST",
    "FakeAzureML",
    "FakeAzureMLAdapter",
    "FakeCredential",
    "FakeResponse",
    "HttpError",
    "JobScript",
    "LoopbackServer",
    "RecordedRequest",
    "ScoringHandler",
    "fake_jwt",
    "make_ml_client",
    "make_session",
    "serve_https",
]

ARM_HOST = "management.azure.com"
METRICS_HOST_SUFFIX = ".metrics.monitor.azure.com"
ONLINE_ENDPOINT_METRICS = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
LOOPBACK_SCORING_PREFIX = "/_scoring"
PROVIDER = "Microsoft.MachineLearningServices"
TERMINAL_JOB_STATUSES = frozenset({"Completed", "Failed", "Canceled", "NotResponding", "Paused"})
DEFAULT_JOB_STATUSES = ("Queued", "Running", "Completed")

# (json body, headers) -> (status, body[, headers]); body may be any JSON value, str or bytes.
ScoringHandler = Callable[[Any, dict[str, str]], tuple[Any, ...]]


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _error_body(code: str, message: str, *, inner: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "details": [], "additionalInfo": []}
    if inner:
        error["innerError"] = {"code": inner}
    return {"error": error}


# --------------------------------------------------------------------------------------------------
# Plain data types
# --------------------------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request the fake received."""

    method: str
    url: str
    host: str
    path: str  # percent-decoded
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes | None
    json: Any = None

    def __repr__(self) -> str:
        return f"<{self.method} {self.host}{self.path}>"


@dataclass
class FakeResponse:
    status: int
    body: Any = None  # JSON value, str, bytes or None
    headers: dict[str, str] = field(default_factory=dict)

    def content(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


class HttpError(Exception):
    """Raised inside handlers to answer with an ARM-format error."""

    def __init__(self, status: int, code: str, message: str, *, inner: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.inner = inner


@dataclass
class JobScript:
    """How a job evolves: one status per read (GET of the job or of its run details); the last
    status sticks.  Reads the SDK makes internally (after a cancel, an update) count too."""

    statuses: list[str] = field(default_factory=lambda: list(DEFAULT_JOB_STATUSES))
    error_code: str = "UserError"
    error_message: str | None = None
    # merged into properties.properties once the job is terminal (e.g. best_child_run_id for sweeps)
    properties: dict[str, str] = field(default_factory=dict)
    children: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Job:
    name: str
    body: dict[str, Any]
    script: JobScript
    index: int = -1  # -1: the state PUT answered with (NotStarted)
    canceled: bool = False
    created_at: str = field(default_factory=_now)

    @property
    def status(self) -> str:
        if self.canceled:
            return "Canceled"
        if self.index < 0:
            return "NotStarted"
        return self.script.statuses[min(self.index, len(self.script.statuses) - 1)]

    def advance(self) -> None:
        if not self.canceled and self.status not in TERMINAL_JOB_STATUSES:
            self.index += 1


@dataclass
class _Operation:
    id: str
    polls_left: int
    on_success: Callable[[], None] | None = None
    on_failure: Callable[[], None] | None = None
    error: dict[str, Any] | None = None  # {"code":..., "message":...} when it ends Failed
    status: str = "InProgress"
    target: tuple[str, str] | None = None  # (endpoint, deployment) the operation updates
    start: str = field(default_factory=_now)
    end: str | None = None


@dataclass
class _Fault:
    code: str
    message: str
    polls: int = 1  # operation polls answered InProgress before it fails
    persistent: bool = False


@dataclass
class _SubmitFault:
    status: int
    code: str
    message: str
    inner: str | None
    times: int | None  # None: every submission


@dataclass
class _ScoringFault:
    status: int
    body: Any
    headers: dict[str, str]
    times: int | None


@dataclass
class _MetricsFault:
    status: int
    code: str
    message: str
    times: int | None


@dataclass
class _PendingScoring:
    """A routed scoring request, answered outside the fake's lock (a slow model must not stall
    the control plane, the metrics API or the other scoring requests)."""

    fake: FakeAzureML
    endpoint: str
    request: RecordedRequest
    target: str
    mirror: str | None

    def run(self) -> FakeResponse:
        if self.mirror is not None:
            # ASSUMPTION: the service mirrors asynchronously; here the copy is scored first.
            self.fake._score(self.endpoint, self.mirror, self.request, mirrored=True)
        return self.fake._score(self.endpoint, self.target, self.request, mirrored=False)


# --------------------------------------------------------------------------------------------------
# The fake service
# --------------------------------------------------------------------------------------------------


class FakeAzureML:
    """State and behaviour of one fake Azure ML workspace (see module docstring)."""

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
        self.assets: dict[str, dict[str, dict[str, dict[str, Any]]]] = {
            k: {} for k in ("environments", "models", "data", "codes", "components")
        }
        self.code_hashes: dict[str, tuple[str, str]] = {}  # content hash -> (name, version)
        self.jobs: dict[str, _Job] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.endpoint_keys: dict[str, dict[str, str]] = {}
        self.deployments: dict[str, dict[str, dict[str, Any]]] = {}  # endpoint -> name -> rest
        self.deployment_logs: dict[tuple[str, str], str] = {}
        self.operations: dict[str, _Operation] = {}

        self._job_scripts_by_name: dict[str, JobScript] = {}
        self._job_scripts_queue: list[JobScript] = []
        self.default_job_script = JobScript()
        self._submit_faults: list[_SubmitFault] = []
        self._endpoint_faults: dict[str, _Fault] = {}
        self._deployment_faults: dict[tuple[str, str], _Fault] = {}
        self._scoring_handlers: dict[tuple[str, str], ScoringHandler] = {}
        self._scoring_faults: dict[tuple[str, str | None], list[_ScoringFault]] = {}
        self._metrics_faults: list[_MetricsFault] = []

        self.add_datastore("workspaceblobstore", default=True)
        self.add_datastore("workspaceartifactstore")

    # ---------------------------------------------------------------- ids and urls

    @property
    def workspace_arm_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/{PROVIDER}/workspaces/{self.workspace}"
        )

    @property
    def api_host(self) -> str:
        return f"{self.location}.api.azureml.ms"

    @property
    def arm_base(self) -> str:
        return self.loopback_base or f"https://{ARM_HOST}"

    @property
    def api_base(self) -> str:
        return self.loopback_base or f"https://{self.api_host}"

    @property
    def discovery_url(self) -> str:
        return f"{self.api_base}/discovery"

    @property
    def mlflow_tracking_uri(self) -> str:
        host = urlsplit(self.api_base).netloc
        return f"azureml://{host}/mlflow/v1.0{self.workspace_arm_id}"

    def scoring_uri(self, endpoint: str) -> str:
        if self.loopback_base:
            return f"{self.loopback_base}{LOOPBACK_SCORING_PREFIX}/{endpoint}/score"
        return f"https://{endpoint}.{self.location}.inference.ml.azure.com/score"

    def asset_id(self, kind: str, name: str, version: str | None = None) -> str:
        rid = f"{self.workspace_arm_id}/{kind}/{name}"
        return f"{rid}/versions/{version}" if version is not None else rid

    def _system_data(self) -> dict[str, Any]:
        now = _now()
        return {
            "createdAt": now,
            "createdBy": "fake-user@example.com",
            "createdByType": "User",
            "lastModifiedAt": now,
            "lastModifiedBy": "fake-user@example.com",
            "lastModifiedByType": "User",
        }

    def workspace_rest(self) -> dict[str, Any]:
        rg = f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}/providers"
        return {
            "id": self.workspace_arm_id,
            "name": self.workspace,
            "type": f"{PROVIDER}/workspaces",
            "location": self.location,
            "kind": "Default",
            "tags": {},
            "identity": {
                "type": "SystemAssigned",
                "principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, self.workspace_id)),
                "tenantId": self.tenant_id,
            },
            "sku": {"name": "Basic", "tier": "Basic"},
            "systemData": self._system_data(),
            "properties": {
                "friendlyName": self.workspace,
                "description": "",
                "workspaceId": self.workspace_id,
                "storageAccount": f"{rg}/Microsoft.Storage/storageAccounts/fakestorage",
                "keyVault": f"{rg}/Microsoft.KeyVault/vaults/fake-kv",
                "applicationInsights": f"{rg}/Microsoft.insights/components/fake-ai",
                "containerRegistry": f"{rg}/Microsoft.ContainerRegistry/registries/fakeacr",
                "discoveryUrl": self.discovery_url,
                "mlFlowTrackingUri": self.mlflow_tracking_uri,
                "provisioningState": "Succeeded",
                "publicNetworkAccess": "Enabled",
                "hbiWorkspace": False,
                "v1LegacyMode": False,
                "tenantId": self.tenant_id,
                "storageHnsEnabled": False,
            },
        }

    def discovery_rest(self) -> dict[str, str]:
        base = self.api_base
        return {
            "api": base,
            "catalog": base,
            "experimentation": base,
            "gallery": f"{base}/marketplace/api",
            "history": base,
            "hyperdrive": base,
            "labeling": base,
            "modelmanagement": base,
            "pipelines": base,
            "studio": "https://ml.azure.com",
        }

    # ---------------------------------------------------------------- seeding

    def add_compute(
        self,
        name: str,
        *,
        compute_type: str = "AmlCompute",
        vm_size: str = "STANDARD_DS3_V2",
        max_nodes: int = 4,
    ) -> dict[str, Any]:
        rest = {
            "id": f"{self.workspace_arm_id}/computes/{name}",
            "name": name,
            "type": f"{PROVIDER}/workspaces/computes",
            "location": self.location,
            "tags": {},
            "systemData": self._system_data(),
            "properties": {
                "computeType": compute_type,
                "computeLocation": self.location,
                "provisioningState": "Succeeded",
                "isAttachedCompute": False,
                "disableLocalAuth": True,
                "properties": {
                    "vmSize": vm_size,
                    "vmPriority": "Dedicated",
                    "osType": "Linux",
                    "scaleSettings": {
                        "minNodeCount": 0,
                        "maxNodeCount": max_nodes,
                        "nodeIdleTimeBeforeScaleDown": "PT120S",
                    },
                    "allocationState": "Steady",
                    "currentNodeCount": 0,
                    "targetNodeCount": 0,
                },
            },
        }
        with self.lock:
            self.computes[name] = rest
        return rest

    def add_datastore(self, name: str, *, default: bool = False) -> dict[str, Any]:
        rest = {
            "id": f"{self.workspace_arm_id}/datastores/{name}",
            "name": name,
            "type": f"{PROVIDER}/workspaces/datastores",
            "systemData": self._system_data(),
            "properties": {
                "datastoreType": "AzureBlob",
                "accountName": "fakestorage",
                "containerName": f"azureml-blobstore-{self.workspace_id}",
                "endpoint": "core.windows.net",
                "protocol": "https",
                "serviceDataAccessAuthIdentity": "WorkspaceSystemAssignedIdentity",
                "credentials": {"credentialsType": "None"},
                "isDefault": default,
                "tags": {},
                "properties": {},
            },
        }
        with self.lock:
            self.datastores[name] = rest
        return rest

    def _version_rest(
        self, kind: str, name: str, version: str, props: dict[str, Any]
    ) -> dict[str, Any]:
        base_props: dict[str, Any] = {
            "description": None,
            "tags": {},
            "properties": {},
            "isAnonymous": False,
            "isArchived": False,
            "provisioningState": "Succeeded",
        }
        base_props.update(props)
        return {
            "id": self.asset_id(kind, name, version),
            "name": version,
            "type": f"{PROVIDER}/workspaces/{kind}/versions",
            "systemData": self._system_data(),
            "properties": base_props,
        }

    def _store_version(self, kind: str, name: str, version: str, rest: dict[str, Any]) -> None:
        with self.lock:
            self.assets[kind].setdefault(name, {})[version] = rest

    def add_environment(
        self,
        name: str,
        version: str = "1",
        *,
        image: str = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest",
        conda_file: str | None = None,
    ) -> dict[str, Any]:
        props: dict[str, Any] = {
            "image": image,
            "osType": "Linux",
            "environmentType": "UserCreated",
        }
        if conda_file:
            props["condaFile"] = conda_file
        rest = self._version_rest("environments", name, version, props)
        self._store_version("environments", name, version, rest)
        return rest

    def add_model(
        self,
        name: str,
        version: str = "1",
        *,
        model_type: str = "mlflow_model",
        path: str | None = None,
        job_name: str | None = None,
        tags: dict[str, str] | None = None,
        properties: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        uri = path or (
            f"azureml://subscriptions/{self.subscription_id}/resourcegroups/{self.resource_group}"
            f"/workspaces/{self.workspace}/datastores/workspaceartifactstore/paths/models/{name}/{version}"
        )
        props = {
            "modelUri": uri,
            "modelType": model_type,
            "flavors": {},
            "jobName": job_name,
            "tags": dict(tags or {}),
            "properties": dict(properties or {}),
        }
        rest = self._version_rest("models", name, version, props)
        self._store_version("models", name, version, rest)
        return rest

    def add_data(
        self,
        name: str,
        version: str = "1",
        *,
        path: str | None = None,
        data_type: str = "uri_folder",
    ) -> dict[str, Any]:
        uri = path or f"azureml://datastores/workspaceblobstore/paths/data/{name}/{version}/"
        rest = self._version_rest("data", name, version, {"dataUri": uri, "dataType": data_type})
        self._store_version("data", name, version, rest)
        return rest

    def add_code(
        self, name: str, version: str = "1", *, content_hash: str | None = None
    ) -> dict[str, Any]:
        uri = f"https://fakestorage.blob.core.windows.net/azureml-blobstore-{self.workspace_id}/LocalUpload/{name}"
        rest = self._version_rest("codes", name, version, {"codeUri": uri})
        self._store_version("codes", name, version, rest)
        if content_hash:
            with self.lock:
                self.code_hashes[content_hash] = (name, version)
        return rest

    # ---------------------------------------------------------------- job scripting / faults

    def script_job(
        self,
        statuses: Iterable[str] = DEFAULT_JOB_STATUSES,
        *,
        name: str | None = None,
        error_message: str | None = None,
        error_code: str = "UserError",
        properties: dict[str, str] | None = None,
        children: list[dict[str, Any]] | None = None,
    ) -> JobScript:
        """Script the status sequence of the job called ``name`` or, without a name, of the next job
        submitted (FIFO).  Each read of the job (GET job, GET run details) moves one step."""
        script = JobScript(
            statuses=list(statuses),
            error_code=error_code,
            error_message=error_message,
            properties=dict(properties or {}),
            children=list(children or []),
        )
        if not script.statuses:
            raise ValueError("statuses must not be empty")
        with self.lock:
            if name is None:
                self._job_scripts_queue.append(script)
            else:
                self._job_scripts_by_name[name] = script
        return script

    def set_job_status(self, name: str, status: str, *, error_message: str | None = None) -> None:
        """Force a job into ``status`` now (sticks)."""
        with self.lock:
            job = self.jobs[name]
            job.script = JobScript(
                statuses=[status],
                error_code=job.script.error_code,
                error_message=error_message or job.script.error_message,
                properties=job.script.properties,
                children=job.script.children,
            )
            job.index = 0
            job.canceled = status == "Canceled"

    def reject_job_submission(
        self,
        status: int = 400,
        code: str = "UserError",
        message: str = "Job validation failed.",
        *,
        inner: str | None = None,
        times: int | None = 1,
    ) -> None:
        """Make the next ``times`` job PUTs (``None``: all) fail with an ARM error."""
        with self.lock:
            self._submit_faults.append(_SubmitFault(status, code, message, inner, times))

    def reject_job_quota(
        self,
        message: str = "Not enough quota available for Standard_DS3_v2 in the subscription.",
        *,
        times: int | None = 1,
    ) -> None:
        """ASSUMPTION: quota rejections at submit come back as 400 UserError / QuotaExceeded."""
        self.reject_job_submission(400, "UserError", message, inner="QuotaExceeded", times=times)

    # ---------------------------------------------------------------- endpoint/deployment faults

    def fail_deployment(
        self,
        endpoint: str,
        deployment: str,
        code: str = "DeploymentFailed",
        message: str = "Deployment failed: the container crashed while starting.",
        *,
        polls: int = 1,
        persistent: bool = False,
    ) -> None:
        """Make the next create/update of ``endpoint/deployment`` end ``Failed`` with ``code``
        (e.g. ``DeploymentFailed``, ``OutOfQuota``, ``ResourceNotReady``)."""
        with self.lock:
            self._deployment_faults[(endpoint, deployment)] = _Fault(
                code, message, polls, persistent
            )

    def fail_endpoint(
        self,
        endpoint: str,
        code: str = "EndpointProvisioningFailed",
        message: str = "Endpoint provisioning failed.",
        *,
        polls: int = 1,
        persistent: bool = False,
    ) -> None:
        with self.lock:
            self._endpoint_faults[endpoint] = _Fault(code, message, polls, persistent)

    def stall_deployment(self, endpoint: str, deployment: str) -> None:
        """Make the next create/update of ``endpoint/deployment`` stay ``Creating``/``Updating``
        until the deployment is deleted (which cancels the operation), like a container that
        never passes its readiness probe."""
        with self.lock:
            self._deployment_faults[(endpoint, deployment)] = _Fault(
                "Canceled", "The deployment operation was canceled.", polls=10**9
            )

    def set_deployment_logs(self, endpoint: str, deployment: str, text: str) -> None:
        with self.lock:
            self.deployment_logs[(endpoint, deployment)] = text

    def rotate_endpoint_keys(self, endpoint: str) -> None:
        """Replace both keys of ``endpoint`` (as `regenerateKeys` twice): old keys get 401."""
        with self.lock:
            self.endpoint_keys[endpoint] = {
                "primaryKey": uuid.uuid4().hex,
                "secondaryKey": uuid.uuid4().hex,
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
            self._metrics_faults.append(_MetricsFault(status, code, message, times))

    def restore_metrics(self) -> None:
        """Drop every pending metrics fault."""
        with self.lock:
            self._metrics_faults.clear()

    # ---------------------------------------------------------------- scoring

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
        fault = _ScoringFault(
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

    # ---------------------------------------------------------------- inspection helpers

    def calls(
        self, method: str | None = None, path_contains: str | None = None, host: str | None = None
    ) -> list[RecordedRequest]:
        with self.lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method.upper())
                and (path_contains is None or path_contains in r.path)
                and (host is None or r.host == host)
            ]

    def complete_operations(self) -> None:
        """Finish every pending long-running operation as if it had been polled to the end."""
        with self.lock:
            for op in list(self.operations.values()):
                while op.status == "InProgress":
                    self._tick_operation(op)

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
        routed: FakeResponse | _PendingScoring | None
        with self.lock:
            self.requests.append(rec)
            try:
                routed = self._route(rec)
            except HttpError as exc:
                routed = FakeResponse(
                    exc.status, _error_body(exc.code, exc.message, inner=exc.inner)
                )
            if routed is None:
                self.unhandled.append(rec)
                routed = FakeResponse(
                    404, _error_body("NoRoute", f"fake Azure ML has no route for {method} {url}")
                )
        resp = routed.run() if isinstance(routed, _PendingScoring) else routed
        resp.headers.setdefault("x-ms-request-id", str(uuid.uuid4()))
        if resp.body is not None and not isinstance(resp.body, bytes | str):
            resp.headers.setdefault("Content-Type", "application/json; charset=utf-8")
        return resp

    def _route(self, req: RecordedRequest) -> FakeResponse | _PendingScoring | None:
        if self.loopback_base and urlsplit(req.url).netloc == urlsplit(self.loopback_base).netloc:
            return self._route_loopback(req)
        if req.host == ARM_HOST:
            self._check_bearer(req)
            return self._route_arm(req)
        if req.host == self.api_host:
            self._check_bearer(req)
            return self._route_regional(req)
        if req.host.endswith(METRICS_HOST_SUFFIX):
            self._check_bearer(req)
            return self._route_metrics(req, req.host[: -len(METRICS_HOST_SUFFIX)])
        m = re.fullmatch(
            rf"([a-z0-9-]+)\.{re.escape(self.location)}\.inference\.ml\.azure\.com", req.host
        )
        if m:
            return self._route_scoring(m.group(1), req)
        return None

    def _route_loopback(self, req: RecordedRequest) -> FakeResponse | _PendingScoring | None:
        """One host serves everything: dispatch on the path instead."""
        if req.path.startswith(LOOPBACK_SCORING_PREFIX + "/"):
            rest = req.path[len(LOOPBACK_SCORING_PREFIX) + 1 :]
            ep, _, tail = rest.partition("/")
            scoring = copy.copy(req)
            scoring.path = "/" + tail
            return self._route_scoring(ep, scoring)
        self._check_bearer(req)
        if req.path == "/discovery" or req.path.startswith("/history/"):
            return self._route_regional(req)
        if self._METRICS_RE.fullmatch(req.path):
            return self._route_metrics(req, self.location)
        return self._route_arm(req)

    def _check_bearer(self, req: RecordedRequest) -> None:
        if req.path == "/discovery":
            return
        if req.headers.get("authorization") != f"Bearer {self.token}":
            raise HttpError(401, "AuthenticationFailed", "Missing or invalid bearer token.")

    # ---------------------------------------------------------------- ARM routes

    _WS_RE = re.compile(
        rf"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/{PROVIDER}"
        r"/workspaces/(?P<ws>[^/]+)(?P<rest>/.*)?",
        re.IGNORECASE,
    )
    _OP_RE = re.compile(
        rf"/subscriptions/[^/]+/providers/{PROVIDER}/locations/[^/]+"
        r"/(?P<kind>mfeOperationsStatus|mfeOperationResults)/(?P<id>[^/]+)",
        re.IGNORECASE,
    )

    def _route_arm(self, req: RecordedRequest) -> FakeResponse | None:
        m = self._OP_RE.fullmatch(req.path)
        if m and req.method == "GET":
            return self._get_operation(m.group("kind"), m.group("id"))
        m = self._WS_RE.fullmatch(req.path)
        if not m:
            return None
        if (
            m.group("sub") != self.subscription_id
            or m.group("rg").lower() != self.resource_group.lower()
            or m.group("ws").lower() != self.workspace.lower()
        ):
            raise HttpError(
                404, "ResourceNotFound", f"Workspace {m.group('ws')} not found in {m.group('rg')}."
            )
        rest = m.group("rest") or ""
        segs = [s for s in rest.split("/") if s]
        meth = req.method
        if not segs:
            return FakeResponse(200, self.workspace_rest()) if meth == "GET" else None
        head = segs[0].lower()
        if head == "computes":
            return self._computes(meth, segs)
        if head == "datastores":
            return self._datastores(meth, segs)
        if head in self.assets:
            return self._assets(req, head, segs)
        if head == "jobs":
            return self._jobs(req, segs)
        if head == "onlineendpoints":
            return self._online(req, segs)
        return None

    def _computes(self, meth: str, segs: list[str]) -> FakeResponse | None:
        if meth != "GET":
            return None
        if len(segs) == 1:
            return FakeResponse(200, {"value": list(self.computes.values())})
        if len(segs) == 2:
            if segs[1] not in self.computes:
                raise HttpError(404, "ResourceNotFound", f"Compute {segs[1]} was not found.")
            return FakeResponse(200, self.computes[segs[1]])
        return None

    def _datastores(self, meth: str, segs: list[str]) -> FakeResponse | None:
        if len(segs) == 1 and meth == "GET":
            return FakeResponse(200, {"value": list(self.datastores.values())})
        if len(segs) >= 2 and segs[1] not in self.datastores:
            raise HttpError(404, "UserError", f"Datastore {segs[1]} not found.", inner="NotFound")
        if len(segs) == 2 and meth == "GET":
            return FakeResponse(200, self.datastores[segs[1]])
        if len(segs) == 3 and segs[2] == "listSecrets" and meth == "POST":
            return FakeResponse(200, {"secretsType": "None"})
        return None

    # ---- versioned assets

    def _assets(self, req: RecordedRequest, kind: str, segs: list[str]) -> FakeResponse | None:
        store = self.assets[kind]
        meth = req.method
        if len(segs) == 1 and meth == "GET":  # containers
            return FakeResponse(
                200, {"value": [self._container_rest(kind, n) for n in sorted(store)]}
            )
        name = segs[1]
        if len(segs) == 2:
            if meth == "GET":
                if name not in store:
                    raise HttpError(
                        404, "UserError", f"{kind} container {name} not found.", inner="NotFound"
                    )
                return FakeResponse(200, self._container_rest(kind, name))
            if meth == "PUT":
                store.setdefault(name, {})
                return FakeResponse(200, self._container_rest(kind, name))
            return None
        if segs[2].lower() != "versions":
            return None
        if len(segs) == 3 and meth == "GET":
            return FakeResponse(200, {"value": self._list_versions(kind, name, req.query)})
        if len(segs) != 4:
            return None
        version = segs[3]
        if meth == "GET":
            found = store.get(name, {}).get(version)
            if found is None:
                raise HttpError(
                    404,
                    "UserError",
                    f"Could not find asset with name {name} and version {version} in {kind}.",
                    inner="NotFound",
                )
            return FakeResponse(200, found)
        if meth == "PUT":
            return self._put_version(kind, name, version, req.json or {})
        if meth == "DELETE":
            store.get(name, {}).pop(version, None)
            return FakeResponse(200)
        return None

    def _container_rest(self, kind: str, name: str) -> dict[str, Any]:
        versions = sorted(self.assets[kind].get(name, {}), key=_version_key)
        latest = versions[-1] if versions else None
        return {
            "id": self.asset_id(kind, name),
            "name": name,
            "type": f"{PROVIDER}/workspaces/{kind}",
            "systemData": self._system_data(),
            "properties": {
                "description": None,
                "tags": {},
                "properties": {},
                "isArchived": False,
                "latestVersion": latest,
                "nextVersion": str(int(latest) + 1) if latest and latest.isdigit() else "1",
            },
        }

    def _list_versions(self, kind: str, name: str, query: dict[str, str]) -> list[dict[str, Any]]:
        if kind == "codes" and "hash" in query:
            return self._code_hash_lookup(name, query["hash"])
        items = list(self.assets[kind].get(name, {}).values())
        order = query.get("$orderBy", query.get("$orderby", "")).lower()
        if "createdtime" in order and "desc" in order:
            items.reverse()  # insertion order is creation order
        top = query.get("$top")
        if top:
            items = items[: int(top)]
        return items

    def _code_hash_lookup(self, name: str, content_hash: str) -> list[dict[str, Any]]:
        known = self.code_hashes.get(content_hash)
        if known is None and self.auto_match_code_hashes:
            version = "1"
            self.add_code(name, version, content_hash=content_hash)
            known = (name, version)
        if known is None:
            return []
        return [self.assets["codes"][known[0]][known[1]]]

    def _put_version(
        self, kind: str, name: str, version: str, body: dict[str, Any]
    ) -> FakeResponse:
        existing = self.assets[kind].get(name, {}).get(version)
        props = dict(body.get("properties") or {})
        if kind == "models":
            props.setdefault("flavors", {})
        props.setdefault("provisioningState", "Succeeded")
        rest = self._version_rest(kind, name, version, props)
        if existing is not None:
            rest["systemData"] = existing["systemData"]
        self._store_version(kind, name, version, rest)
        return FakeResponse(200 if existing is not None else 201, rest)

    # ---- jobs

    def _jobs(self, req: RecordedRequest, segs: list[str]) -> FakeResponse | None:
        meth = req.method
        if len(segs) == 1 and meth == "GET":
            return FakeResponse(200, {"value": [self._job_rest(j) for j in self.jobs.values()]})
        name = segs[1]
        if len(segs) == 2:
            if meth == "PUT":
                return self._put_job(name, req.json or {})
            job = self.jobs.get(name)
            if job is None:
                raise HttpError(404, "UserError", f"Job {name} not found.", inner="NotFound")
            if meth == "GET":
                job.advance()
                return FakeResponse(200, self._job_rest(job))
            if meth == "DELETE":
                del self.jobs[name]
                return self._start_operation(None, None, status=202)
            return None
        if len(segs) == 3 and segs[2].lower() == "cancel" and meth == "POST":
            job = self.jobs.get(name)
            if job is None:
                raise HttpError(404, "UserError", f"Job {name} not found.", inner="NotFound")
            if job.status not in TERMINAL_JOB_STATUSES:
                job.canceled = True
            return self._start_operation(None, None, status=202, location=True)
        return None

    def _put_job(self, name: str, body: dict[str, Any]) -> FakeResponse:
        for fault in list(self._submit_faults):
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._submit_faults.remove(fault)
            raise HttpError(fault.status, fault.code, fault.message, inner=fault.inner)
        props = body.get("properties") or {}
        if name in self.jobs:
            return self._update_job(self.jobs[name], props)
        self._validate_job_refs(props)
        script = self._job_scripts_by_name.pop(name, None)
        if script is None and self._job_scripts_queue:
            script = self._job_scripts_queue.pop(0)
        if script is None:
            script = copy.deepcopy(self.default_job_script)
        job = _Job(name=name, body=copy.deepcopy(body), script=script)
        self.jobs[name] = job
        return FakeResponse(201, self._job_rest(job))

    _MUTABLE_JOB_FIELDS = frozenset(
        {"tags", "description", "displayName", "properties", "isArchived", "status", "services"}
    )

    def _update_job(self, job: _Job, props: dict[str, Any]) -> FakeResponse:
        """ASSUMPTION: a PUT on an existing job may change only tags, description, display name."""
        current = job.body.setdefault("properties", {})
        changed = sorted(
            k
            for k in set(props) | set(current)
            if k not in self._MUTABLE_JOB_FIELDS and props.get(k) != current.get(k)
        )
        if changed:
            raise HttpError(
                400,
                "UserError",
                f"Job {job.name} already exists; only tags, description and displayName can be "
                f"updated (changed: {', '.join(changed)}).",
            )
        for key in ("tags", "description", "displayName"):
            if key in props:
                current[key] = props[key]
        return FakeResponse(200, self._job_rest(job))

    def _validate_job_refs(self, props: dict[str, Any]) -> None:
        """The real service checks at submit that referenced compute/assets exist."""
        compute = props.get("computeId")
        if compute and not str(compute).startswith("azureml:"):
            cname = str(compute).rstrip("/").split("/")[-1]
            if cname not in self.computes:
                raise HttpError(
                    404,
                    "UserError",
                    f"Compute {cname} not found in workspace {self.workspace}.",
                    inner="NotFound",
                )
        refs: list[tuple[str, Any]] = [
            ("environments", props.get("environmentId")),
            ("codes", props.get("codeId")),
        ]
        trial = props.get("trial") or {}
        refs += [("environments", trial.get("environmentId")), ("codes", trial.get("codeId"))]
        for inp in (props.get("inputs") or {}).values():
            if isinstance(inp, dict) and isinstance(inp.get("uri"), str):
                refs.append(("data", inp["uri"]))
        for kind, ref in refs:
            if not ref:
                continue
            parsed = self._parse_asset_ref(kind, str(ref))
            if parsed is None:
                continue
            name, version = parsed
            if version not in self.assets[kind].get(name, {}):
                singular = {"environments": "Environment", "codes": "Code", "data": "Data"}[kind]
                raise HttpError(
                    404,
                    "UserError",
                    f"{singular} {name}:{version} not found in workspace {self.workspace}.",
                    inner="NotFound",
                )

    def _parse_asset_ref(self, kind: str, ref: str) -> tuple[str, str] | None:
        m = re.search(rf"/workspaces/[^/]+/{kind}/([^/]+)/versions/([^/]+)$", ref, re.IGNORECASE)
        if m:
            return m.group(1), m.group(2)
        if ref.startswith("azureml:") and not ref.startswith("azureml://"):
            short = ref[len("azureml:") :]
            if short.startswith("AzureML-") or short.startswith("azureml-"):
                return None  # curated environment, expanded by the service
            if ":" in short:
                n, v = short.rsplit(":", 1)
                return n, v
        return None

    def _job_rest(self, job: _Job) -> dict[str, Any]:
        rest = copy.deepcopy(job.body)
        rest["id"] = f"{self.workspace_arm_id}/jobs/{job.name}"
        rest["name"] = job.name
        rest["type"] = f"{PROVIDER}/workspaces/jobs"
        rest["systemData"] = {
            "createdAt": job.created_at,
            "createdBy": "fake-user@example.com",
            "createdByType": "User",
        }
        props = rest.setdefault("properties", {})
        status = job.status
        props["status"] = status
        props.setdefault("experimentName", "Default")
        props.setdefault("displayName", job.name)
        inner = dict(props.get("properties") or {})
        if status in TERMINAL_JOB_STATUSES:
            inner.update(job.script.properties)
        props["properties"] = inner
        props["services"] = {
            "Tracking": {"jobServiceType": "Tracking", "endpoint": self.mlflow_tracking_uri},
            "Studio": {
                "jobServiceType": "Studio",
                "endpoint": f"https://ml.azure.com/runs/{job.name}?wsid={self.workspace_arm_id}",
            },
        }
        outputs = props.get("outputs")
        if isinstance(outputs, dict):
            for oname, out in outputs.items():
                if isinstance(out, dict) and not out.get("uri"):
                    out["uri"] = (
                        f"azureml://datastores/workspaceartifactstore/ExperimentRun/dcid.{job.name}/{oname}"
                    )
        return rest

    def _job_error(self, job: _Job) -> dict[str, Any] | None:
        if job.status != "Failed":
            return None
        return {
            "error": {
                "code": job.script.error_code,
                "message": job.script.error_message or "Job failed.",
                "severity": None,
                "messageFormat": None,
                "messageParameters": {},
                "details": [],
            },
            "componentName": "fake-azureml",
            "time": _now(),
        }

    # ---- online endpoints and deployments

    def _online(self, req: RecordedRequest, segs: list[str]) -> FakeResponse | None:
        meth = req.method
        if len(segs) == 1:
            if meth == "GET":
                return FakeResponse(200, {"value": list(self.endpoints.values())})
            return None
        ep = segs[1]
        if len(segs) == 2:
            if meth in ("PUT", "PATCH"):
                return self._put_endpoint(ep, req.json or {}, patch=meth == "PATCH")
            if ep not in self.endpoints:
                raise HttpError(
                    404, "UserError", f"Online endpoint {ep} not found.", inner="NotFound"
                )
            if meth == "GET":
                return FakeResponse(200, self.endpoints[ep])
            if meth == "DELETE":
                return self._delete_endpoint(ep)
            return None
        if ep not in self.endpoints:
            raise HttpError(404, "UserError", f"Online endpoint {ep} not found.", inner="NotFound")
        action = segs[2]
        if len(segs) == 3 and meth == "POST":
            if action == "listKeys":
                return FakeResponse(200, self.endpoint_keys[ep])
            if action == "regenerateKeys":
                key_type = str((req.json or {}).get("keyType", "Primary")).lower()
                self.endpoint_keys[ep][f"{key_type}Key"] = uuid.uuid4().hex
                return self._start_operation(None, None, status=202, location=True)
            if action == "token":
                return FakeResponse(
                    200,
                    {
                        "accessToken": f"aml-token-{ep}",
                        "tokenType": "Bearer",
                        "expiryTimeUtc": int(time.time()) + 3600,
                        "refreshAfterTimeUtc": int(time.time()) + 1800,
                    },
                )
            return None
        if action.lower() != "deployments":
            return None
        deps = self.deployments.setdefault(ep, {})
        if len(segs) == 3:
            return FakeResponse(200, {"value": list(deps.values())}) if meth == "GET" else None
        name = segs[3]
        if len(segs) == 4:
            if meth in ("PUT", "PATCH"):
                return self._put_deployment(ep, name, req.json or {}, patch=meth == "PATCH")
            if name not in deps:
                raise HttpError(
                    404,
                    "UserError",
                    f"Deployment {name} not found in endpoint {ep}.",
                    inner="NotFound",
                )
            if meth == "GET":
                return FakeResponse(200, deps[name])
            if meth == "DELETE":
                return self._delete_deployment(ep, name)
            return None
        if name not in deps:
            raise HttpError(
                404, "UserError", f"Deployment {name} not found in endpoint {ep}.", inner="NotFound"
            )
        if len(segs) == 5 and segs[4] == "getLogs" and meth == "POST":
            text = self.deployment_logs.get(
                (ep, name),
                f"Fake inference-server log for {ep}/{name}\nListening on 0.0.0.0:5001\n",
            )
            tail = (req.json or {}).get("tail")
            if tail:
                text = "\n".join(text.splitlines()[-int(tail) :])
            return FakeResponse(200, {"content": text})
        if len(segs) == 5 and segs[4] == "skus" and meth == "GET":
            return FakeResponse(200, {"value": []})
        return None

    def _validate_traffic(self, ep: str, props: dict[str, Any]) -> None:
        deps = self.deployments.get(ep, {})
        traffic = props.get("traffic") or {}
        mirror = props.get("mirrorTraffic") or {}
        for kind, mapping in (("traffic", traffic), ("mirror traffic", mirror)):
            for dep, pct in mapping.items():
                if dep not in deps:
                    raise HttpError(
                        400,
                        "BadArgument",
                        f"Deployment {dep} named in {kind} does not exist in endpoint {ep}.",
                    )
                if not isinstance(pct, int) or not 0 <= pct <= 100:
                    raise HttpError(400, "BadArgument", f"Invalid {kind} value {pct!r} for {dep}.")
        total = sum(traffic.values())
        if traffic and total not in (0, 100):
            raise HttpError(
                400, "BadArgument", f"Traffic values must sum to 0 or 100; got {total}."
            )
        if len(mirror) > 1 or sum(mirror.values()) > 50:
            raise HttpError(
                400,
                "BadArgument",
                "Mirror traffic can target one deployment with at most 50 percent.",
            )

    def _put_endpoint(self, ep: str, body: dict[str, Any], *, patch: bool) -> FakeResponse:
        existing = self.endpoints.get(ep)
        if patch and existing is None:
            raise HttpError(404, "UserError", f"Online endpoint {ep} not found.", inner="NotFound")
        if existing is not None:
            rest = copy.deepcopy(existing)
            for key in ("tags", "identity", "kind", "sku"):
                if key in body:
                    rest[key] = body[key]
            new_props = body.get("properties") or {}
            for key, value in new_props.items():
                if key not in ("scoringUri", "swaggerUri", "provisioningState"):
                    rest["properties"][key] = value
            rest["systemData"]["lastModifiedAt"] = _now()
        else:
            rest = copy.deepcopy(body)
            rest.update(
                id=f"{self.workspace_arm_id}/onlineEndpoints/{ep}",
                name=ep,
                type=f"{PROVIDER}/workspaces/onlineEndpoints",
                location=body.get("location") or self.location,
                systemData=self._system_data(),
            )
            rest.setdefault("tags", {})
            rest.setdefault("kind", None)
            identity = rest.get("identity") or {"type": "SystemAssigned"}
            if identity.get("type", "").lower().startswith("systemassigned"):
                identity.setdefault("principalId", str(uuid.uuid5(uuid.NAMESPACE_URL, ep)))
                identity.setdefault("tenantId", self.tenant_id)
            rest["identity"] = identity
            props = rest.setdefault("properties", {})
            props.setdefault("authMode", "Key")
            props["scoringUri"] = self.scoring_uri(ep)
            props["swaggerUri"] = self.scoring_uri(ep).replace("/score", "/swagger.json")
            props.setdefault("publicNetworkAccess", "Enabled")
            props.setdefault("properties", {})
            props["properties"].setdefault("azureml.onlineendpointid", rest["id"])
        props = rest["properties"]
        props.setdefault("traffic", {})
        props.setdefault("mirrorTraffic", {})
        if props["traffic"] is None:
            props["traffic"] = {}
        if props["mirrorTraffic"] is None:
            props["mirrorTraffic"] = {}
        self._validate_traffic(ep, props)
        props["provisioningState"] = "Updating" if existing is not None else "Creating"
        self.endpoints[ep] = rest
        if existing is None:
            self.endpoint_keys[ep] = {
                "primaryKey": uuid.uuid4().hex,
                "secondaryKey": uuid.uuid4().hex,
            }
            self.deployments.setdefault(ep, {})
        fault = self._endpoint_faults.get(ep)
        if fault and not fault.persistent:
            del self._endpoint_faults[ep]

        def ok() -> None:
            if ep in self.endpoints:
                self.endpoints[ep]["properties"]["provisioningState"] = "Succeeded"

        def failed() -> None:
            if ep in self.endpoints:
                self.endpoints[ep]["properties"]["provisioningState"] = "Failed"

        return self._start_operation(
            ok,
            failed,
            status=200 if existing is not None else 201,
            body=rest,
            fault=fault,
        )

    def _delete_endpoint(self, ep: str) -> FakeResponse:
        self.endpoints[ep]["properties"]["provisioningState"] = "Deleting"

        def done() -> None:
            self.endpoints.pop(ep, None)
            self.deployments.pop(ep, None)
            self.endpoint_keys.pop(ep, None)

        return self._start_operation(done, None, status=202, location=True)

    def _put_deployment(
        self, ep: str, name: str, body: dict[str, Any], *, patch: bool
    ) -> FakeResponse:
        if ep not in self.endpoints:
            raise HttpError(404, "UserError", f"Online endpoint {ep} not found.", inner="NotFound")
        deps = self.deployments.setdefault(ep, {})
        existing = deps.get(name)
        if patch and existing is None:
            raise HttpError(404, "UserError", f"Deployment {name} not found.", inner="NotFound")
        if existing is not None:
            rest = copy.deepcopy(existing)
            if "sku" in body:
                rest["sku"] = body["sku"]
            if "tags" in body:
                rest["tags"] = body["tags"]
            for key, value in (body.get("properties") or {}).items():
                if key != "provisioningState":
                    rest["properties"][key] = value
            rest["systemData"]["lastModifiedAt"] = _now()
        else:
            rest = copy.deepcopy(body)
            rest.update(
                id=f"{self.workspace_arm_id}/onlineEndpoints/{ep}/deployments/{name}",
                name=name,
                type=f"{PROVIDER}/workspaces/onlineEndpoints/deployments",
                location=body.get("location") or self.location,
                systemData=self._system_data(),
            )
            rest.setdefault("tags", {})
        props = rest.setdefault("properties", {})
        props.setdefault("endpointComputeType", "Managed")
        props.setdefault("scaleSettings", {"scaleType": "Default"})
        if not props["scaleSettings"]:
            props["scaleSettings"] = {"scaleType": "Default"}
        props.setdefault("appInsightsEnabled", False)
        props.setdefault("egressPublicNetworkAccess", "Enabled")
        props.setdefault("properties", {})
        sku = rest.get("sku") or {}
        sku.setdefault("name", "Default")
        sku.setdefault("capacity", 1)
        rest["sku"] = sku
        self._validate_deployment_refs(props)
        props["provisioningState"] = "Updating" if existing is not None else "Creating"
        deps[name] = rest
        fault = self._deployment_faults.get((ep, name))
        if fault and not fault.persistent:
            del self._deployment_faults[(ep, name)]

        def ok() -> None:
            dep = self.deployments.get(ep, {}).get(name)
            if dep is not None:
                dep["properties"]["provisioningState"] = "Succeeded"

        def failed() -> None:
            dep = self.deployments.get(ep, {}).get(name)
            if dep is not None:
                dep["properties"]["provisioningState"] = "Failed"

        return self._start_operation(
            ok,
            failed,
            status=200 if existing is not None else 201,
            body=rest,
            fault=fault,
            target=(ep, name),
        )

    def _validate_deployment_refs(self, props: dict[str, Any]) -> None:
        refs = [("models", props.get("model")), ("environments", props.get("environmentId"))]
        code_cfg = props.get("codeConfiguration") or {}
        refs.append(("codes", code_cfg.get("codeId")))
        for kind, ref in refs:
            if not ref:
                continue
            parsed = self._parse_asset_ref(kind, str(ref))
            if parsed and parsed[1] not in self.assets[kind].get(parsed[0], {}):
                raise HttpError(
                    404,
                    "UserError",
                    f"{kind[:-1].capitalize()} {parsed[0]}:{parsed[1]} not found.",
                    inner="NotFound",
                )

    def _delete_deployment(self, ep: str, name: str) -> FakeResponse:
        traffic = self.endpoints[ep]["properties"].get("traffic") or {}
        if traffic.get(name):
            raise HttpError(
                400,
                "BadArgument",
                f"Deployment {name} receives {traffic[name]}% of traffic; "
                "set it to 0 before deleting.",
            )
        self.deployments[ep][name]["properties"]["provisioningState"] = "Deleting"
        # ASSUMPTION: deleting a deployment ends its pending create/update as Canceled.
        for op in self.operations.values():
            if op.target == (ep, name) and op.status == "InProgress":
                op.status, op.end = "Canceled", _now()
                op.error = {"code": "Canceled", "message": f"Deployment {name} was deleted."}

        def done() -> None:
            self.deployments.get(ep, {}).pop(name, None)
            props = self.endpoints.get(ep, {}).get("properties", {})
            for key in ("traffic", "mirrorTraffic"):
                (props.get(key) or {}).pop(name, None)

        return self._start_operation(done, None, status=202, location=True)

    # ---- long-running operations

    def _op_urls(self, op_id: str) -> tuple[str, str]:
        base = (
            f"{self.arm_base}/subscriptions/{self.subscription_id}/providers/{PROVIDER}"
            f"/locations/{self.location}"
        )
        return (
            f"{base}/mfeOperationsStatus/{op_id}?api-version=2023-04-01",
            f"{base}/mfeOperationResults/{op_id}?api-version=2023-04-01",
        )

    def _retry_headers(self) -> dict[str, str]:
        return {
            "Retry-After-ms": str(self.retry_after_ms),
            "x-ms-retry-after-ms": str(self.retry_after_ms),
        }

    def _start_operation(
        self,
        on_success: Callable[[], None] | None,
        on_failure: Callable[[], None] | None,
        *,
        status: int,
        body: Any = None,
        fault: _Fault | None = None,
        location: bool = False,
        target: tuple[str, str] | None = None,
    ) -> FakeResponse:
        op_id = f"{uuid.uuid4()}"
        op = _Operation(
            id=op_id,
            polls_left=fault.polls if fault else self.lro_polls,
            on_success=on_success,
            on_failure=on_failure,
            error={"code": fault.code, "message": fault.message} if fault else None,
            target=target,
        )
        self.operations[op_id] = op
        status_url, result_url = self._op_urls(op_id)
        headers = {"Azure-AsyncOperation": status_url, **self._retry_headers()}
        if location:
            headers["Location"] = result_url
        return FakeResponse(status, copy.deepcopy(body) if body is not None else None, headers)

    def _tick_operation(self, op: _Operation) -> None:
        if op.status != "InProgress":
            return
        if op.polls_left > 0:
            op.polls_left -= 1
            return
        op.end = _now()
        if op.error:
            op.status = "Failed"
            if op.on_failure:
                op.on_failure()
        else:
            op.status = "Succeeded"
            if op.on_success:
                op.on_success()

    def _get_operation(self, kind: str, op_id: str) -> FakeResponse:
        op = self.operations.get(op_id)
        if op is None:
            raise HttpError(404, "NotFound", f"Operation {op_id} not found.")
        self._tick_operation(op)
        if kind.lower() == "mfeoperationresults":
            if op.status == "InProgress":
                _, result_url = self._op_urls(op_id)
                return FakeResponse(202, None, {"Location": result_url, **self._retry_headers()})
            return FakeResponse(200, None)
        body: dict[str, Any] = {
            "id": urlsplit(self._op_urls(op_id)[0]).path,
            "name": op_id,
            "status": op.status,
            "startTime": op.start,
        }
        if op.end:
            body["endTime"] = op.end
        if op.status in ("Failed", "Canceled") and op.error:
            body["error"] = {**op.error, "details": []}
        headers = self._retry_headers() if op.status == "InProgress" else {}
        return FakeResponse(200, body, headers)

    # ---------------------------------------------------------------- regional host

    _HIST_RE = re.compile(
        r"/history/v1\.0/subscriptions/[^/]+/resourceGroups/[^/]+/providers/"
        rf"{PROVIDER}/workspaces/[^/]+(?:/experiments/[^/]+|/experimentids/[^/]+)?"
        r"/runs/(?P<run>[^/]+)(?P<rest>/.*)?",
        re.IGNORECASE,
    )

    def _route_regional(self, req: RecordedRequest) -> FakeResponse | None:
        if req.path == "/discovery" and req.method == "GET":
            return FakeResponse(200, self.discovery_rest())
        m = self._HIST_RE.fullmatch(req.path)
        if not m or req.method not in ("GET", "PATCH"):
            return None
        job = self.jobs.get(m.group("run"))
        if job is None:
            raise HttpError(404, "UserError", f"Run {m.group('run')} not found.", inner="NotFound")
        rest = m.group("rest") or ""
        if req.method == "PATCH":
            if rest:
                return None
            return self._patch_run(job, req.json or {})
        if rest == "/details":
            job.advance()
            return FakeResponse(200, self._run_rest(job, details=True))
        if rest == "":
            return FakeResponse(200, self._run_rest(job, details=False))
        if rest == "/children":
            children = [self._child_run(job, c) for c in job.script.children]
            return FakeResponse(200, {"value": children, "continuationToken": None})
        return None

    def _patch_run(self, job: _Job, body: dict[str, Any]) -> FakeResponse:
        """Run-history PATCH (``jobs.update`` and create_or_update of a fetched job): merges
        tags and properties, sets display name / description, ``hidden`` archives."""
        props = job.body.setdefault("properties", {})
        for key in ("tags", "properties"):
            if body.get(key):
                props[key] = {**(props.get(key) or {}), **body[key]}
        for key in ("displayName", "description"):
            if body.get(key) is not None:
                props[key] = body[key]
        if body.get("hidden") is not None:
            props["isArchived"] = bool(body["hidden"])
        return FakeResponse(200, self._run_rest(job, details=False))

    def _run_rest(self, job: _Job, *, details: bool) -> dict[str, Any]:
        props = job.body.get("properties") or {}
        status = job.status
        rest: dict[str, Any] = {
            "runId": job.name,
            "runUuid": str(uuid.uuid5(uuid.NAMESPACE_URL, job.name)),
            "status": status,
            "target": str(props.get("computeId") or "").split("/")[-1] or None,
            "startTimeUtc": job.created_at if status not in ("NotStarted", "Queued") else None,
            "endTimeUtc": _now() if status in TERMINAL_JOB_STATUSES else None,
            "tags": dict(props.get("tags") or {}),
            "properties": dict(props.get("properties") or {}),
            "error": self._job_error(job),
            "warnings": [],
        }
        if status in TERMINAL_JOB_STATUSES:
            rest["properties"].update(job.script.properties)
        if details:
            rest["logFiles"] = {}
            rest["runDefinition"] = {}
        else:
            rest["displayName"] = props.get("displayName") or job.name
            rest["experimentId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, "Default"))
            rest["parentRunId"] = None
            rest["runType"] = "azureml.scriptrun"
        return rest

    def _child_run(self, parent: _Job, child: dict[str, Any]) -> dict[str, Any]:
        return {
            "runId": child["name"],
            "parentRunId": parent.name,
            "rootRunId": parent.name,
            "status": child.get("status", "Completed"),
            "displayName": child.get("name"),
            "tags": dict(child.get("tags") or {}),
            "properties": dict(child.get("properties") or {}),
            "runType": "azureml.scriptrun",
            "createdUtc": parent.created_at,
        }

    # ---------------------------------------------------------------- scoring host

    def _route_scoring(
        self, ep: str, req: RecordedRequest
    ) -> FakeResponse | _PendingScoring | None:
        if req.path != "/score" or req.method != "POST":
            return None
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
        return _PendingScoring(self, ep, req, target, mirror_target)

    def _take_scoring_fault(self, ep: str, dep: str) -> _ScoringFault | None:
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

    # ---------------------------------------------------------------- Azure Monitor metrics

    _METRICS_RE = re.compile(r"/subscriptions/(?P<sub>[^/]+)/metrics:getBatch", re.IGNORECASE)
    # metric -> (unit, dimensions); names as Azure Monitor lists them for online endpoints
    _ENDPOINT_METRICS: ClassVar[dict[str, tuple[str, tuple[str, ...]]]] = {
        "RequestsPerMinute": (
            "Count",
            ("deployment", "statusCode", "statusCodeClass", "modelStatusCode"),
        ),
        **{f"RequestLatency_P{q}": ("MilliSeconds", ("deployment",)) for q in (50, 90, 95, 99)},
    }

    def _route_metrics(self, req: RecordedRequest, region: str) -> FakeResponse | None:
        """``POST /subscriptions/{sub}/metrics:getBatch``: the metrics batch API (the one
        ``azure.monitor.querymetrics.MetricsClient.query_resources`` calls), computed from
        ``scoring_log``: one bin per ``interval`` from ``starttime``; RequestsPerMinute is the
        request count of the bin, RequestLatency_PNN the nearest-rank percentile of the bin's
        latencies (bins without requests have no latency value)."""
        m = self._METRICS_RE.fullmatch(req.path)
        if not m or req.method != "POST":
            return None
        if m.group("sub") != self.subscription_id:
            raise HttpError(
                404, "SubscriptionNotFound", f"Subscription {m.group('sub')} not found."
            )
        fault = self._metrics_faults[0] if self._metrics_faults else None
        if fault is not None:
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._metrics_faults.pop(0)
            raise HttpError(fault.status, fault.code, fault.message)
        q = req.query
        if region.lower() != self.location.lower():
            raise HttpError(
                400, "BadRequest", f"The resources are in {self.location}, not in {region}."
            )
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
        step = _parse_duration(q.get("interval") or "PT1M")
        aggregations = [a.lower() for a in (q.get("aggregation") or "average").split(",")]
        wanted = _parse_filter(q.get("filter") or "")
        values = []
        for resource_id in (req.json or {}).get("resourceids") or []:
            ep = self._endpoint_by_id(str(resource_id))
            entries = [
                e for e in self.scoring_log if e["endpoint"] == ep and start <= e["time"] < end
            ]
            metrics = [
                self._metric_rest(
                    resource_id, name, entries, wanted, start, end, step, aggregations
                )
                for name in names
            ]
            values.append(
                {
                    "starttime": q["starttime"],
                    "endtime": q["endtime"],
                    "interval": _format_duration(step),
                    "namespace": namespace,
                    "resourceregion": self.location,
                    "resourceid": resource_id,
                    "value": metrics,
                }
            )
        return FakeResponse(200, {"values": values})

    def _endpoint_by_id(self, resource_id: str) -> str:
        for name, rest in self.endpoints.items():
            if rest["id"].lower() == resource_id.lower():
                return name
        raise HttpError(404, "ResourceNotFound", f"Resource {resource_id} not found.")

    def _metric_rest(
        self,
        resource_id: str,
        name: str,
        entries: list[dict[str, Any]],
        wanted: dict[str, str],
        start: float,
        end: float,
        step: float,
        aggregations: list[str],
    ) -> dict[str, Any]:
        unit, dimensions = self._ENDPOINT_METRICS[name]
        known = {d.lower(): d for d in dimensions}
        for dim in wanted:
            if dim not in known:
                raise HttpError(
                    400, "BadRequest", f"Metric {name} has no dimension {dim!r} to filter on."
                )
        split = [known[d] for d, v in wanted.items() if v == "*"]
        fixed = {known[d]: v for d, v in wanted.items() if v != "*"}

        def dims(entry: dict[str, Any]) -> dict[str, str]:
            status = int(entry["status"])
            return {
                "deployment": entry["deployment"],
                "statusCode": str(status),
                "statusCodeClass": f"{status // 100}xx",
                "modelStatusCode": str(status),
            }

        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for entry in entries:
            values = dims(entry)
            if all(values[d].lower() == v.lower() for d, v in fixed.items()):
                groups.setdefault(tuple(values[d] for d in split), []).append(entry)
        if not split and not groups:
            groups[()] = []
        bins = max(1, int((end - start) // step) + (1 if (end - start) % step else 0))
        timeseries = []
        for key, members in sorted(groups.items()):
            data = []
            for i in range(bins):
                lo = start + i * step
                inside = [e for e in members if lo <= e["time"] < lo + step]
                point: dict[str, Any] = {
                    "timeStamp": _dt.datetime.fromtimestamp(lo, _dt.UTC).strftime(
                        "%Y-%m-%dT%H:%M:%SZ"
                    )
                }
                if name == "RequestsPerMinute":
                    value: float | None = float(len(inside))
                else:
                    latencies = sorted(e["latency_ms"] for e in inside)
                    value = _nearest_rank(latencies, int(name.rsplit("_P", 1)[1]))
                if value is not None:
                    for agg in aggregations:
                        point[agg] = value if agg != "count" else float(bool(inside))
                data.append(point)
            timeseries.append(
                {
                    "metadatavalues": [
                        {"name": {"value": d, "localizedValue": d}, "value": v}
                        for d, v in zip(split, key, strict=True)
                    ],
                    "data": data,
                }
            )
        return {
            "id": f"{resource_id}/providers/Microsoft.Insights/metrics/{name}",
            "type": "Microsoft.Insights/metrics",
            "name": {"value": name, "localizedValue": name},
            "displayDescription": "",
            "unit": unit,
            "timeseries": timeseries,
            "errorCode": "Success",
        }


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


def _version_key(v: str) -> tuple[int, int | str]:
    return (0, int(v)) if v.isdigit() else (1, v)


# --------------------------------------------------------------------------------------------------
# Transport glue
# --------------------------------------------------------------------------------------------------


class FakeAzureMLAdapter(BaseAdapter):
    """A ``requests`` adapter that answers every request from a :class:`FakeAzureML`."""

    def __init__(self, fake: FakeAzureML) -> None:
        super().__init__()
        self.fake = fake

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        body = request.body
        if hasattr(body, "read"):
            body = body.read()  # type: ignore[union-attr]
        if isinstance(body, str):
            body = body.encode()
        result = self.fake.handle(
            request.method or "GET", request.url or "", dict(request.headers), body or None
        )
        content = result.content()
        raw_headers = {**result.headers, "Content-Length": str(len(content))}
        raw = HTTPResponse(
            body=io.BytesIO(content),
            headers=raw_headers,
            status=result.status,
            preload_content=False,
            decode_content=False,
            request_url=request.url,
        )
        response = requests.Response()
        response.status_code = result.status
        response.headers = CaseInsensitiveDict(raw_headers)
        response.raw = raw
        response.reason = raw.reason or ""
        response.url = request.url or ""
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        response.request = request
        response.connection = self  # type: ignore[assignment]
        return response

    def close(self) -> None:
        pass


def fake_jwt(tenant_id: str, *, oid: str = "00000000-0000-0000-0000-0000000000bb") -> str:
    """An unsigned-looking JWT with the claims azure-ai-ml reads (``tid``, ``oid``)."""

    def enc(obj: Any) -> str:
        raw = json.dumps(obj, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = {"alg": "RS256", "typ": "JWT"}
    claims = {
        "aud": "https://management.azure.com/",
        "iss": f"https://sts.windows.net/{tenant_id}/",
        "tid": tenant_id,
        "oid": oid,
        "upn": "fake-user@example.com",
        "exp": 4102444800,
    }
    return f"{enc(header)}.{enc(claims)}.{enc('fake-signature')}"


class FakeCredential:
    """A ``TokenCredential`` that hands out the fake's bearer token."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.scopes_requested: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.scopes_requested.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


def make_session(fake: FakeAzureML) -> requests.Session:
    """A ``requests.Session`` whose ``https://`` (and ``http://``) traffic goes to ``fake``."""
    session = requests.Session()
    adapter = FakeAzureMLAdapter(fake)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.trust_env = False
    return session


def make_ml_client(fake: FakeAzureML, **kwargs: Any) -> Any:
    """A real ``azure.ai.ml.MLClient`` wired to ``fake`` through a requests transport."""
    from azure.ai.ml import MLClient
    from azure.core.pipeline.transport import RequestsTransport

    session = make_session(fake)
    client = MLClient(
        FakeCredential(fake.token),
        fake.subscription_id,
        fake.resource_group,
        fake.workspace,
        transport=RequestsTransport(session=session, session_owner=False),
        **kwargs,
    )
    return client


# --------------------------------------------------------------------------------------------------
# Optional: the same fake over real HTTPS on 127.0.0.1
# --------------------------------------------------------------------------------------------------


@dataclass
class LoopbackServer:
    base_url: str  # https://127.0.0.1:<port>; use as AZUREML_DEV_URL_MFE
    ca_file: str  # the self-signed certificate; use as REQUESTS_CA_BUNDLE / verify=


def _self_signed_cert(directory: str) -> tuple[str, str]:
    import ipaddress
    import os

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-azureml.localhost")])
    now = _dt.datetime.now(_dt.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path = os.path.join(directory, "fake-azureml.pem")
    key_path = os.path.join(directory, "fake-azureml.key")
    with open(cert_path, "wb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as fh:
        fh.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return cert_path, key_path


@contextlib.contextmanager
def serve_https(fake: FakeAzureML, directory: str) -> Iterator[LoopbackServer]:
    """Serve ``fake`` on ``https://127.0.0.1:<free port>`` with a fresh self-signed certificate
    written to ``directory``.  While it runs, every URL the fake returns points back at it."""
    import ssl
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    cert_path, key_path = _self_signed_cert(directory)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms stalls

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            host = self.headers.get("Host") or f"127.0.0.1:{server.server_address[1]}"
            result = fake.handle(
                self.command, f"https://{host}{self.path}", dict(self.headers.items()), body
            )
            content = result.content()
            self.send_response(result.status)
            for key, value in result.headers.items():
                if key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(content)

        do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            # a client that gave up (timed out) before the answer: nothing to report
            if not isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLError):
                super().handle_error(request, client_address)

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="fake-azureml-https", daemon=True
    )
    thread.start()
    base = f"https://127.0.0.1:{server.server_address[1]}"
    previous = fake.loopback_base
    fake.loopback_base = base
    try:
        yield LoopbackServer(base_url=base, ca_file=cert_path)
    finally:
        fake.loopback_base = previous
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
