"""`AzureMLEndpoint`: the `Endpoint` interface on an Azure ML managed online endpoint.

Control plane through azure-ai-ml (`MLClient`): the endpoint is created on first use (key auth),
each deployment serves a registered model version of the workspace (`azureml:<name>:<version>`,
an MLflow model deployed without code unless `deploy.azureml.environment` and `scoring_script`
are set), and traffic and mirror traffic are the endpoint's own `traffic` / `mirror_traffic`,
read back from the service on every call. Every long-running operation is waited for (the SDK's
progress dots are kept off stdout, so `--json` output stays clean).

Scoring does not use `online_endpoints.invoke` (it leaks the deployment header into later calls
in the same process): `invoke` POSTs to the scoring URI with the endpoint key
(`Authorization: Bearer`, fetched once, refreshed after a 401), the `azureml-model-deployment`
header when a deployment is named, and `x-request-id` / `x-ms-client-request-id`.

Request metrics come from one of two places (`deploy.analysis.source`):

- `azure-monitor` (also what `endpoint` means here): Azure Monitor's metrics of the endpoint
  resource (namespace `Microsoft.MachineLearningServices/workspaces/onlineEndpoints`):
  `RequestsPerMinute` split by `statusCode`, and `RequestLatency_P50/P95/P99`, both filtered by
  `deployment`, over one-minute bins. Azure publishes them with a delay of a minute or more and
  per minute, so give canary steps several minutes when analysing with them.
- `probe`: the requests this object itself sent through `invoke` (the canary step's probe
  traffic), counted for the deployment that answered (the `azureml-model-deployment` response
  header); exact and immediate, but blind to other clients' traffic.

Errors: Azure's authentication failures become `BackendError` with a hint about azure/login
(OIDC); other service failures `EndpointError`, failed or unhealthy deployments
`DeploymentFailed` (with the deployment's log tail), unknown names `UnknownDeployment`, invalid
settings `InputError`, metrics failures `MetricsUnavailable`.

Authentication is `DefaultAzureCredential` unless an `MLClient`, a credential, a requests session
or MetricsClient options (e.g. an azure-core `transport`) are passed in: the tests wire all of
them to a fake of the service. Importing this module imports nothing heavy.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import threading
import time
import types
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlops_actions.backends.azureml_common import (
    auth_failure,
    first_line,
    is_quota_error,
    quiet_sdk_notices,
    service_code,
    service_message,
    workspace_client,
)
from mlops_actions.backends.endpoint import (
    DEPLOYMENT_HEADER,
    ERROR_CLASSES,
    REQUEST_ID_HEADER,
    SOURCE_HEADER,
    DeploymentFailed,
    DeploymentInfo,
    DeploymentMetrics,
    DeploymentSpec,
    DeploymentState,
    Endpoint,
    EndpointError,
    Invocation,
    MetricsUnavailable,
    MirrorTraffic,
    TrafficSplit,
    UnknownDeployment,
)
from mlops_actions.backends.local_endpoint.metrics import percentile
from mlops_actions.errors import BackendError, InputError
from mlops_actions.redact import mask, redact_uri

if TYPE_CHECKING:
    from mlops_actions.config import Settings

MetricsSource = Literal["azure-monitor", "probe"]

METRIC_NAMESPACE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
REQUESTS_METRIC = "RequestsPerMinute"
LATENCY_METRICS = ("RequestLatency_P50", "RequestLatency_P95", "RequestLatency_P99")
CLIENT_REQUEST_ID_HEADER = "x-ms-client-request-id"
_MODEL_ID = re.compile(r"/models/([^/]+)/versions/([^/]+)$", re.IGNORECASE)

UPDATE_TIMEOUT_SECONDS = 900.0
"""How long traffic, mirror and endpoint updates and deletions may take on the service."""
LOG_TAIL_LINES = 50
MAX_SAMPLES = 200_000
SAMPLE_HORIZON_SECONDS = 3600.0

_STATES: dict[str, DeploymentState] = {
    "succeeded": "ready",
    "creating": "starting",
    "updating": "starting",
    "scaling": "starting",
    "failed": "failed",
    "canceled": "failed",
    "deleting": "stopped",
}


# ---------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Probe:
    """A liveness or readiness probe of a deployment (Azure ML's defaults)."""

    initial_delay_seconds: int = 10
    period_seconds: int = 10
    timeout_seconds: int = 2
    failure_threshold: int = 30
    success_threshold: int = 1


@dataclass(frozen=True)
class AzureEndpointSpec:
    """Which managed online endpoint, and how its deployments are built (`deploy.azureml`)."""

    subscription_id: str
    resource_group: str
    workspace: str
    endpoint: str
    instance_type: str = "Standard_DS3_v2"
    instance_count: int = 1
    environment: str | None = None
    """A registered environment with `scoring_script`; None deploys the MLflow model without
    code (Azure ML builds its inference server from the model's own requirements)."""
    scoring_script: Path | None = None
    request_timeout_ms: int = 5000
    max_concurrent_requests_per_instance: int = 1
    liveness_probe: Probe = field(default_factory=Probe)
    readiness_probe: Probe = field(default_factory=Probe)
    metrics_source: MetricsSource = "azure-monitor"
    metrics_region: str | None = None
    """Azure region for metrics queries; None: the endpoint's own location."""

    @classmethod
    def from_settings(cls, settings: Settings) -> AzureEndpointSpec:
        """The spec that `deploy` (and `train.azureml.workspace`) name; raises InputError."""
        deploy = settings.deploy
        azure = deploy.azureml
        workspace = azure.workspace if azure is not None else None
        if workspace is None and settings.train.azureml is not None:
            workspace = settings.train.azureml.workspace
        if workspace is None:
            raise InputError(
                "deploy.azureml.workspace is missing;",
                hint="add deploy.azureml.workspace (subscription_id, resource_group, workspace) "
                "to mlops.yaml, or set train.azureml.workspace.",
            )
        source: MetricsSource = "probe" if deploy.analysis.source == "probe" else "azure-monitor"
        base = cls(
            subscription_id=workspace.subscription_id,
            resource_group=workspace.resource_group,
            workspace=workspace.workspace,
            endpoint=deploy.endpoint or settings.model.name,
            metrics_source=source,
        )
        if azure is None:
            return base
        if bool(azure.environment) != bool(azure.scoring_script):
            raise InputError(
                "deploy.azureml.environment and deploy.azureml.scoring_script go together;",
                hint="set both (a registered environment and its scoring script), or neither to "
                "deploy the MLflow model without code.",
            )

        def probe(p: Any) -> Probe:
            return Probe(
                p.initial_delay_seconds,
                p.period_seconds,
                p.timeout_seconds,
                p.failure_threshold,
                p.success_threshold,
            )

        return cls(
            subscription_id=base.subscription_id,
            resource_group=base.resource_group,
            workspace=base.workspace,
            endpoint=base.endpoint,
            instance_type=azure.instance_type,
            instance_count=azure.instance_count,
            environment=azure.environment,
            scoring_script=azure.scoring_script,
            request_timeout_ms=azure.request_timeout_ms,
            max_concurrent_requests_per_instance=azure.max_concurrent_requests_per_instance,
            liveness_probe=probe(azure.liveness_probe),
            readiness_probe=probe(azure.readiness_probe),
            metrics_source=source,
            metrics_region=azure.metrics_region,
        )


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


# ---------------------------------------------------------------------- the endpoint


class AzureMLEndpoint(Endpoint):
    """An Azure ML managed online endpoint (see the module docstring and `Endpoint`)."""

    backend = "azureml"
    inspect_hint = "`az ml online-endpoint show`"

    def __init__(
        self,
        spec: AzureEndpointSpec,
        *,
        ml_client: Any | None = None,
        credential: Any | None = None,
        session: Any | None = None,
        metrics_client_options: Mapping[str, Any] | None = None,
    ) -> None:
        """`ml_client`, `credential` and `session` (a requests.Session for scoring) are built on
        first use when not given; `metrics_client_options` are extra keyword arguments of the
        azure-monitor MetricsClient (e.g. `transport=`)."""
        self.spec = spec
        self.name = spec.endpoint
        self._client = ml_client
        self._credential = credential
        self._session = session
        self._metrics_options = dict(metrics_client_options or {})
        self._metrics_clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._key_lock = threading.Lock()  # held while the keys are fetched, apart from _lock
        self._key: str | None = None
        self._scoring_uri: str | None = None
        self._resource_id: str | None = None
        self._location: str | None = None
        self._samples: deque[tuple[float, str, float, str]] = deque(maxlen=MAX_SAMPLES)
        quiet_sdk_notices()

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> AzureMLEndpoint:
        """The endpoint `deploy` names; keyword arguments as for the constructor."""
        return cls(AzureEndpointSpec.from_settings(settings), **kwargs)

    # ------------------------------------------------------------------ clients

    @property
    def credential(self) -> Any:
        """The Azure credential: given, the MLClient's, or DefaultAzureCredential."""
        if self._credential is None:
            from_client = getattr(self._client, "_credential", None)
            if from_client is not None:
                self._credential = from_client
            else:
                from mlops_actions.backends.azureml_common import default_credential

                self._credential = default_credential()
        return self._credential

    @property
    def client(self) -> Any:
        """The workspace's MLClient, built on first use."""
        if self._client is None:
            spec = self.spec
            self._client = workspace_client(
                spec.subscription_id,
                spec.resource_group,
                spec.workspace,
                credential=self.credential,
            )
        return self._client

    @property
    def session(self) -> Any:
        """The requests.Session that scoring requests go through."""
        if self._session is None:
            import requests

            self._session = requests.Session()
        return self._session

    def _metrics_client(self, region: str) -> Any:
        with self._lock:
            if region not in self._metrics_clients:
                from azure.monitor.querymetrics import MetricsClient

                # One quick retry: the canary analysis reads again every interval anyway.
                options: dict[str, Any] = {"retry_total": 1, "retry_backoff_factor": 0.2}
                options.update(self._metrics_options)
                self._metrics_clients[region] = MetricsClient(
                    f"https://{region}.metrics.monitor.azure.com", self.credential, **options
                )
            return self._metrics_clients[region]

    # ------------------------------------------------------------------ reading

    @property
    def url(self) -> str:
        """The scoring URI; '' while the endpoint does not exist."""
        if self._scoring_uri is None:
            self._endpoint()
        return self._scoring_uri or ""

    def _endpoint(self) -> Any | None:
        """The endpoint as the service reports it now, or None when it does not exist."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            endpoint = self.client.online_endpoints.get(self.name)
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise self._failure(exc, f"read endpoint {self.name}") from None
        self._scoring_uri = str(endpoint.scoring_uri or "") or None
        self._resource_id = str(endpoint.id or "") or None
        self._location = str(endpoint.location or "") or None
        return endpoint

    def _deployment(self, name: str) -> Any | None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            return self.client.online_deployments.get(name, self.name)
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise self._failure(exc, f"read deployment {name}") from None

    def _deployment_names(self) -> set[str]:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            return {str(d.name) for d in self.client.online_deployments.list(self.name)}
        except ResourceNotFoundError:
            return set()
        except AzureError as exc:
            raise self._failure(exc, f"list the deployments of {self.name}") from None

    def get_deployment(self, name: str) -> DeploymentInfo | None:
        entity = self._deployment(name)
        return _info(entity) if entity is not None else None

    def list_deployments(self) -> list[DeploymentInfo]:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            entities = list(self.client.online_deployments.list(self.name))
        except ResourceNotFoundError:
            return []
        except AzureError as exc:
            raise self._failure(exc, f"list the deployments of {self.name}") from None
        return sorted((_info(e) for e in entities), key=lambda info: info.name)

    def get_traffic(self) -> TrafficSplit:
        endpoint = self._endpoint()
        return (
            TrafficSplit(dict(endpoint.traffic or {})) if endpoint is not None else TrafficSplit()
        )

    def get_mirror(self) -> MirrorTraffic:
        endpoint = self._endpoint()
        return _mirror(endpoint) if endpoint is not None else MirrorTraffic()

    # ------------------------------------------------------------------ deployments

    def create_or_update_deployment(self, spec: DeploymentSpec) -> DeploymentInfo:
        """See `Endpoint`. Creates the endpoint first when it does not exist (an existing one is
        not touched, so its traffic stays). `spec.tracking_uri` is not used: the model version
        must be registered in the workspace (its MLflow registry when tracking_uri is the
        workspace's MLflow URI). Raises InputError for a model the workspace lacks or invalid
        settings, DeploymentFailed when the deployment fails (quota, a container that never
        gets ready) or is not ready within `spec.ready_timeout_seconds`."""
        deadline = time.monotonic() + spec.ready_timeout_seconds
        self._ensure_endpoint(deadline)
        current = self._deployment(spec.name)
        if current is not None:
            info = _info(current)
            wanted = (spec.model_name, str(spec.model_version))
            if info.ready and (info.model_name, info.model_version) == wanted:
                return info
        from azure.core.exceptions import AzureError

        entity = self.build_deployment(spec)
        poller = self._begin_deployment(entity, spec)
        try:
            done = self._wait(poller, deadline)
        except AzureError as exc:  # the operation ended Failed (or its polling failed)
            raise self._deployment_failed(spec, exc) from None
        if not done:
            state = _state_text(self._deployment(spec.name))
            raise DeploymentFailed(
                f"deployment {spec.name} did not become ready within "
                f"{spec.ready_timeout_seconds:g} s (Azure ML reports {state});",
                hint="see the log tail; raise deploy.ready_timeout_seconds (or --ready-timeout) "
                "if the model needs longer to load.",
                log_tail=self._log_tail(spec.name),
            )
        final = self._deployment(spec.name)
        ready = _info(final) if final is not None else None
        if ready is None or not ready.ready:
            raise DeploymentFailed(
                f"deployment {spec.name} ended {_state_text(final)} on Azure ML;",
                hint="see the log tail.",
                log_tail=self._log_tail(spec.name),
            )
        return ready

    def build_deployment(self, spec: DeploymentSpec) -> Any:
        """The ManagedOnlineDeployment entity for `spec` (offline; nothing is sent)."""
        from azure.ai.ml.entities import (
            CodeConfiguration,
            ManagedOnlineDeployment,
            OnlineRequestSettings,
        )

        settings = self.spec
        extra: dict[str, Any] = {}
        if settings.environment and settings.scoring_script is not None:
            extra["environment"] = _environment_ref(settings.environment)
            extra["code_configuration"] = CodeConfiguration(
                code=str(settings.scoring_script.parent),
                scoring_script=settings.scoring_script.name,
            )
        return ManagedOnlineDeployment(
            name=spec.name,
            endpoint_name=self.name,
            model=f"azureml:{spec.model_name}:{spec.model_version}",
            instance_type=settings.instance_type,
            instance_count=settings.instance_count,
            request_settings=OnlineRequestSettings(
                request_timeout_ms=settings.request_timeout_ms,
                max_concurrent_requests_per_instance=settings.max_concurrent_requests_per_instance,
            ),
            liveness_probe=_probe(settings.liveness_probe),
            readiness_probe=_probe(settings.readiness_probe),
            environment_variables=dict(spec.environment) or None,
            tags={"mlops-actions.model": f"{spec.model_name}:{spec.model_version}"},
            **extra,
        )

    def _ensure_endpoint(self, deadline: float) -> None:
        """Create the endpoint (key auth, no traffic) unless it exists; an existing one is not
        sent again, so its traffic and mirror stay as they are."""
        from azure.ai.ml.entities import ManagedOnlineEndpoint
        from azure.ai.ml.exceptions import MlException
        from azure.core.exceptions import AzureError

        existing = self._endpoint()
        if existing is not None:
            if _state_text(existing) == "Failed":
                raise EndpointError(
                    f"endpoint {self.name} is in state Failed on Azure ML;",
                    hint=f"delete it (`az ml online-endpoint delete -n {self.name}`) or set "
                    "another deploy.endpoint, then re-run.",
                )
            return
        entity = ManagedOnlineEndpoint(
            name=self.name,
            auth_mode="key",
            description="Managed by mlops-actions (canary-deploy).",
            tags={"managed-by": "mlops-actions"},
        )
        try:
            poller = _begin(lambda: self.client.online_endpoints.begin_create_or_update(entity))
            done = self._wait(poller, deadline)
        except MlException as exc:
            raise InputError(
                f"the Azure ML endpoint is invalid: {_validation_detail(exc)};",
                hint="fix deploy.endpoint (3–32 letters, digits and hyphens, a letter first).",
            ) from None
        except AzureError as exc:
            raise self._failure(exc, f"create endpoint {self.name}") from None
        if not done:
            raise EndpointError(
                f"endpoint {self.name} was not created within the ready timeout;",
                hint="raise deploy.ready_timeout_seconds, or check the endpoint in Azure ML "
                "studio.",
            )
        self._endpoint()

    def _begin_deployment(self, entity: Any, spec: DeploymentSpec) -> Any:
        from azure.ai.ml.exceptions import MlException
        from azure.core.exceptions import (
            AzureError,
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
        )

        try:
            return _begin(lambda: self.client.online_deployments.begin_create_or_update(entity))
        except MlException as exc:
            raise InputError(
                f"the Azure ML deployment {spec.name} is invalid: {_validation_detail(exc)};",
                hint="fix deploy.azureml in mlops.yaml.",
            ) from None
        except ClientAuthenticationError as exc:
            raise auth_failure(exc) from None
        except ResourceNotFoundError as exc:
            raise InputError(
                f"Azure ML: {service_message(exc).rstrip('.')};",
                hint=f"register version {spec.model_version} of model {spec.model_name} in "
                f"workspace {self.spec.workspace} (point tracking_uri at the workspace's MLflow "
                "URI so `register` writes there), and check deploy.azureml.environment.",
            ) from None
        except HttpResponseError as exc:
            raise self._deployment_failed(spec, exc) from None
        except AzureError as exc:
            raise self._failure(exc, f"create deployment {spec.name}") from None

    def _deployment_failed(self, spec: DeploymentSpec, exc: BaseException) -> BackendError:
        from azure.core.exceptions import ClientAuthenticationError

        if isinstance(exc, ClientAuthenticationError):
            return auth_failure(exc)
        code = service_code(exc)
        message = service_message(exc).rstrip(".")
        if is_quota_error(exc):
            hint = (
                f"request quota for {self.spec.instance_count} × {self.spec.instance_type} in "
                "the Azure portal (Quotas), or set deploy.azureml.instance_type / "
                "instance_count."
            )
        elif code == "ResourceNotReady":
            hint = (
                "the container did not start or failed its probes: see the log tail (model "
                "dependencies, the scoring script, deploy.azureml.readiness_probe)."
            )
        else:
            hint = (
                f"see the log tail, or `az ml online-deployment get-logs -n {spec.name} "
                f"-e {self.name}`."
            )
        return DeploymentFailed(
            f"deployment {spec.name} failed on Azure ML"
            + (f" ({code})" if code else "")
            + f": {message};",
            hint=hint,
            log_tail=self._log_tail(spec.name),
        )

    def _log_tail(self, name: str) -> str:
        """The deployment's last log lines ('' when they cannot be read)."""
        from azure.core.exceptions import AzureError

        try:
            return str(
                self.client.online_deployments.get_logs(name, self.name, lines=LOG_TAIL_LINES)
            )
        except (AzureError, ValueError):
            return ""

    def delete_deployment(self, name: str) -> None:
        """See `Endpoint`: waits for the deletion; a missing deployment (or endpoint) is fine."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        endpoint = self._endpoint()
        if endpoint is None:
            return
        live = int((endpoint.traffic or {}).get(name) or 0)
        mirrored = int((endpoint.mirror_traffic or {}).get(name) or 0)
        if live or mirrored:
            what = f"{live} % of live traffic" if live else f"{mirrored} % mirrored traffic"
            raise InputError(
                f"deployment {name} still receives {what}; it cannot be deleted;",
                hint="move its traffic to another deployment (and turn the mirror off) first.",
            )
        try:
            poller = _begin(lambda: self.client.online_deployments.begin_delete(name, self.name))
            done = self._wait(poller, time.monotonic() + UPDATE_TIMEOUT_SECONDS)
        except ResourceNotFoundError:
            return
        except AzureError as exc:
            raise self._failure(exc, f"delete deployment {name}") from None
        if not done:
            raise EndpointError(
                f"deleting deployment {name} did not finish within {UPDATE_TIMEOUT_SECONDS:g} s;",
                hint="check the deployment in Azure ML studio.",
            )

    # ------------------------------------------------------------------ traffic

    def set_traffic(self, split: TrafficSplit) -> None:
        """See `Endpoint`: one endpoint update, waited for; no update when nothing changes."""
        endpoint = self._endpoint()
        if endpoint is None:
            if split.weights:
                self._unknown(next(iter(split.weights)))
            return
        known = self._deployment_names()
        for name in split.weights:
            if name not in known:
                self._unknown(name)
        mirror = _mirror(endpoint)
        if mirror.deployment is not None and split.share(mirror.deployment):
            raise InputError(
                f"deployment {mirror.deployment} is the mirror target and cannot also receive "
                "live traffic;",
                hint="turn the mirror off first.",
            )
        if TrafficSplit(dict(endpoint.traffic or {})) == split:
            return
        endpoint.traffic = split.as_dict()
        self._update(endpoint, f"set the traffic of {self.name} to {split}")

    def set_mirror(self, mirror: MirrorTraffic) -> None:
        """See `Endpoint`: one endpoint update, waited for; no update when nothing changes."""
        endpoint = self._endpoint()
        if endpoint is None:
            if mirror.deployment is not None:
                self._unknown(mirror.deployment)
            return
        if mirror.deployment is not None:
            if mirror.deployment not in self._deployment_names():
                self._unknown(mirror.deployment)
            live = int((endpoint.traffic or {}).get(mirror.deployment) or 0)
            if live:
                raise InputError(
                    f"deployment {mirror.deployment} receives {live} % of live traffic and "
                    "cannot also be the mirror target;",
                    hint="mirror to a deployment without live traffic.",
                )
        if _mirror(endpoint) == mirror:
            return
        endpoint.mirror_traffic = mirror.as_dict()
        self._update(endpoint, f"set the mirror of {self.name} to {mirror}")

    def _update(self, endpoint: Any, what: str) -> None:
        from azure.core.exceptions import AzureError, HttpResponseError

        try:
            poller = _begin(lambda: self.client.online_endpoints.begin_create_or_update(endpoint))
            done = self._wait(poller, time.monotonic() + UPDATE_TIMEOUT_SECONDS)
        except HttpResponseError as exc:
            if exc.status_code == 400:
                raise InputError(f"Azure ML refused to {what}: {service_message(exc)};") from None
            raise self._failure(exc, what) from None
        except AzureError as exc:
            raise self._failure(exc, what) from None
        if not done:
            raise EndpointError(f"could not {what} within {UPDATE_TIMEOUT_SECONDS:g} s;")

    def _unknown(self, name: str) -> None:
        raise UnknownDeployment(
            f"endpoint {self.name} has no deployment named {name!r};",
            hint=f"see `az ml online-deployment list -e {self.name}`.",
        )

    # ------------------------------------------------------------------ scoring

    def _endpoint_key(self, stale: str | None = None) -> str:
        """The endpoint key, fetched once; fetched again when `stale` is the one we hold."""
        from azure.core.exceptions import AzureError

        with self._key_lock:
            if self._key is None or self._key == stale:
                try:
                    keys = self.client.online_endpoints.get_keys(self.name)
                except AzureError as exc:
                    raise self._failure(exc, f"read the keys of endpoint {self.name}") from None
                key = getattr(keys, "primary_key", None) or getattr(keys, "access_token", None)
                if not key:
                    raise EndpointError(
                        f"endpoint {self.name} gave no key;",
                        hint="deploy.endpoint must use key authentication (auth_mode: key).",
                    )
                self._key = str(key)
                # masked before anything could print it (a secondary key is as good as the first)
                mask(self._key)
                mask(str(getattr(keys, "secondary_key", None) or ""))
            return self._key

    def invoke(
        self,
        payload: Mapping[str, Any],
        *,
        deployment: str | None = None,
        request_id: str | None = None,
        timeout_seconds: float = 30.0,
        source: str | None = None,
    ) -> Invocation:
        """See `Endpoint`. A read timeout is returned as status 504; a connection failure raises
        EndpointError (both are recorded for `probe` metrics). A 401 refreshes the key once."""
        import requests

        url = self.url
        if not url:
            raise EndpointError(
                f"endpoint {self.name} does not exist on Azure ML;",
                hint="create a deployment first (mlops canary-deploy).",
            )
        rid = request_id or str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            REQUEST_ID_HEADER: rid,
            CLIENT_REQUEST_ID_HEADER: rid,
        }
        if deployment:
            headers[DEPLOYMENT_HEADER] = deployment
        if source:
            headers[SOURCE_HEADER] = source
        data = json.dumps(payload, default=str).encode()
        key: str | None = None
        attempts = 0
        while True:
            attempts += 1
            key = self._endpoint_key(stale=key)
            headers["Authorization"] = f"Bearer {key}"
            started = time.perf_counter()
            try:
                answer = self.session.post(url, data=data, headers=headers, timeout=timeout_seconds)
            except requests.ConnectTimeout as exc:
                self._record(deployment or "", _ms(started), "unavailable")
                raise self._unreachable(url, exc) from None
            except requests.Timeout:
                latency = _ms(started)
                self._record(deployment or "", latency, "timeout")
                return Invocation(504, "timed out", rid, deployment or "", latency)
            except requests.RequestException as exc:
                self._record(deployment or "", _ms(started), "unavailable")
                raise self._unreachable(url, exc) from None
            latency = _ms(started)
            if answer.status_code != 401 or attempts > 1:
                break  # a 401 means the key was rotated: fetch it again, once
        try:
            body: Any = answer.json()
        except ValueError:
            body = answer.text
        status = int(answer.status_code)
        if status == 404 and deployment and deployment not in self._deployment_names():
            self._unknown(deployment)
        answered_by = answer.headers.get(DEPLOYMENT_HEADER) or deployment or ""
        self._record(answered_by, latency, status_class(status))
        return Invocation(
            status, body, answer.headers.get(REQUEST_ID_HEADER) or rid, answered_by, latency
        )

    def _unreachable(self, url: str, exc: BaseException) -> EndpointError:
        return EndpointError(
            f"the Azure ML endpoint {self.name} cannot be reached at {redact_uri(url)} "
            f"({type(exc).__name__});",
            hint=f"check the network and `az ml online-endpoint show -n {self.name}`.",
        )

    def _record(self, deployment: str, latency_ms: float, klass: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._samples.append((now, deployment, latency_ms, klass))
            while self._samples and self._samples[0][0] < now - SAMPLE_HORIZON_SECONDS:
                self._samples.popleft()

    # ------------------------------------------------------------------ metrics

    def metrics(self, deployment: str, window_seconds: float) -> DeploymentMetrics:
        """See `Endpoint` and the module docstring for the two sources. Raises
        UnknownDeployment for a name the endpoint lacks and MetricsUnavailable when the
        deployment or Azure Monitor cannot be read."""
        try:
            exists = self._deployment(deployment) is not None
        except BackendError as exc:
            raise MetricsUnavailable(
                f"could not check deployment {deployment}: {exc.message}", hint=exc.hint
            ) from None
        if not exists:
            self._unknown(deployment)
        if self.spec.metrics_source == "probe":
            return self._probe_metrics(deployment, window_seconds)
        return self._monitor_metrics(deployment, window_seconds)

    def _probe_metrics(self, deployment: str, window_seconds: float) -> DeploymentMetrics:
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

    def _monitor_metrics(self, deployment: str, window_seconds: float) -> DeploymentMetrics:
        from azure.core.exceptions import AzureError, ClientAuthenticationError

        if self._resource_id is None or self._location is None:
            self._endpoint()
        resource_id, region = self._resource_id, self.spec.metrics_region or self._location
        if not resource_id or not region:
            raise MetricsUnavailable(f"endpoint {self.name} does not exist on Azure ML")
        end = datetime.now(UTC)
        span = (end - timedelta(seconds=window_seconds), end)
        quoted = deployment.replace("'", "''")
        try:
            client = self._metrics_client(region)
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
        requests, errors, per_bin = _count_requests(counted)
        latency = _latency_percentiles(timed, per_bin) if requests else {}
        return DeploymentMetrics(
            deployment=deployment,
            window_seconds=window_seconds,
            requests=requests,
            errors=errors,
            p50_ms=latency.get("RequestLatency_P50"),
            p95_ms=latency.get("RequestLatency_P95"),
            p99_ms=latency.get("RequestLatency_P99"),
        )

    # ------------------------------------------------------------------ helpers

    def _wait(self, poller: Any, deadline: float) -> bool:
        """Wait for a long-running operation until `deadline`; True when it finished.

        Raises the operation's error when it failed. When the deadline passes first, the SDK
        keeps polling in its background thread until the service ends the operation.
        """
        with _dots_to_stderr():
            # wait(), not result(): result() builds the entity, which fails while unfinished
            poller.wait(timeout=max(0.0, deadline - time.monotonic()))
        return bool(poller.done())

    def _failure(self, exc: BaseException, what: str) -> BackendError:
        from azure.core.exceptions import ClientAuthenticationError

        if isinstance(exc, ClientAuthenticationError):
            return auth_failure(exc)
        return EndpointError(
            f"could not {what} on Azure ML: {service_message(exc).rstrip('.')};",
            hint="check deploy.azureml.workspace and the service status, then re-run.",
        )


# ---------------------------------------------------------------------- module helpers


@contextlib.contextmanager
def _dots_to_stderr() -> Iterator[None]:
    """The SDK's pollers print one dot per poll on stdout: keep them off `--json` output."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def _begin(start: Callable[[], Any]) -> Any:
    """Start a long-running operation; its poller no longer prints a dot per poll.

    azure-ai-ml's `AzureMLPolling` only adds a `print(".")` to azure-core's ARM polling: this
    poller gets the parent's `update_status` back, so a poller still running after we stopped
    waiting (a ready timeout) cannot write into stdout later.
    """
    with _dots_to_stderr():
        poller = start()
        method = poller.polling_method() if hasattr(poller, "polling_method") else None
        if method is not None and type(method).__name__ == "AzureMLPolling":
            parent = next((c for c in type(method).__mro__[1:] if "update_status" in vars(c)), None)
            if parent is not None:
                method.update_status = types.MethodType(vars(parent)["update_status"], method)
    return poller


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _state_text(entity: Any) -> str:
    if entity is None:
        return "deleted"
    state = getattr(entity, "provisioning_state", None)
    return str(getattr(state, "value", state) or "Unknown")


def _info(entity: Any) -> DeploymentInfo:
    """A DeploymentInfo from an OnlineDeployment: model name and version from its reference."""
    name, version = _model_ref(getattr(entity, "model", None))
    state_text = _state_text(entity)
    state = _STATES.get(state_text.lower(), "starting")
    error = f"Azure ML reports provisioning state {state_text}" if state == "failed" else ""
    return DeploymentInfo(str(entity.name), name, version, state, error)


def _model_ref(model: Any) -> tuple[str, str]:
    """(name, version) of `azureml:name:version`, an ARM id `…/models/name/versions/v` or a
    Model entity; ('', '') when unknown."""
    if model is None:
        return "", ""
    if not isinstance(model, str):
        return str(getattr(model, "name", "") or ""), str(getattr(model, "version", "") or "")
    arm = _MODEL_ID.search(model)
    if arm:
        return arm.group(1), arm.group(2)
    if model.startswith("azureml:") and not model.startswith("azureml://"):
        name, _, version = model[len("azureml:") :].rpartition(":")
        return (name, version) if name else (version, "")
    return "", ""


def _mirror(endpoint: Any) -> MirrorTraffic:
    live = {k: int(v) for k, v in (endpoint.mirror_traffic or {}).items() if v}
    if not live:
        return MirrorTraffic()
    name = sorted(live)[0]
    return MirrorTraffic(name, live[name])


def _probe(probe: Probe) -> Any:
    from azure.ai.ml.entities import ProbeSettings

    return ProbeSettings(
        initial_delay=probe.initial_delay_seconds,
        period=probe.period_seconds,
        timeout=probe.timeout_seconds,
        failure_threshold=probe.failure_threshold,
        success_threshold=probe.success_threshold,
    )


def _environment_ref(ref: str) -> str:
    """`name:version` → `azureml:name:version`; labels (`name@latest`) and ids stay."""
    ref = ref.strip()
    if ref.startswith("azureml:") and "@" in ref and not ref.startswith("azureml://"):
        return ref[len("azureml:") :]  # the SDK resolves labels only without the prefix
    if "@" not in ref and not ref.startswith(("azureml:", "/")):
        return f"azureml:{ref}"
    return ref


def _validation_detail(exc: BaseException) -> str:
    """The SDK's validation message: its `(x) …` line, else the first line."""
    for line in str(getattr(exc, "message", "") or exc).splitlines():
        if line.strip().startswith("(x)"):
            return line.strip()[3:].strip().rstrip(".")
    return first_line(exc)


def _dimension(series: Any, name: str) -> str | None:
    values = {
        str(k).lower(): v for k, v in (getattr(series, "metadata_values", None) or {}).items()
    }
    value = values.get(name.lower())
    return str(value) if value is not None else None


def _count_requests(results: Any) -> tuple[int, dict[str, int], dict[datetime, float]]:
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
                code = _dimension(series, "statusCode")
                klass = _dimension(series, "statusCodeClass")
                if code and code.isdigit():
                    cls = status_class(int(code))
                elif klass and klass[:1].isdigit():
                    cls = status_class(int(klass[0]) * 100)
                else:
                    cls = "ok"
                if cls != "ok":
                    errors[cls] = errors.get(cls, 0) + round(n)
    return round(total), errors, per_bin


def _latency_percentiles(results: Any, per_bin: Mapping[datetime, float]) -> dict[str, float]:
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
