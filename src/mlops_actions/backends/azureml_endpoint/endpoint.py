"""`AzureMLEndpoint`: the `Endpoint` interface over the control plane, scoring and metrics parts.

See the package docstring for the behaviour; this class only wires `ControlPlane` (deployments,
traffic, deletion), `Scorer` (invoke, key refresh) and the two metrics sources together, sharing
one credential and one view of the endpoint (its scoring URI, ARM id and location).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlops_actions.backends.azureml_common import quiet_sdk_notices
from mlops_actions.backends.azureml_endpoint.control import ControlPlane
from mlops_actions.backends.azureml_endpoint.metrics import AzureMonitorMetrics, ProbeSamples
from mlops_actions.backends.azureml_endpoint.scoring import Scorer
from mlops_actions.backends.azureml_endpoint.spec import (
    AzureEndpointSpec,
    deployment_entity,
    deployment_info,
    mirror_of,
)
from mlops_actions.backends.endpoint import (
    DeploymentInfo,
    DeploymentMetrics,
    DeploymentSpec,
    Endpoint,
    Invocation,
    MetricsUnavailable,
    MirrorTraffic,
    TrafficSplit,
)
from mlops_actions.errors import BackendError

if TYPE_CHECKING:
    from mlops_actions.config import Settings


class AzureMLEndpoint(Endpoint):
    """An Azure ML managed online endpoint (see the package docstring and `Endpoint`)."""

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
        self._control = ControlPlane(spec, ml_client=ml_client, credential=credential)
        self._probe = ProbeSamples()
        self._scorer = Scorer(self._control, session, self._probe)
        self._monitor = AzureMonitorMetrics(
            lambda: self._control.credential, metrics_client_options
        )
        quiet_sdk_notices()

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> AzureMLEndpoint:
        """The endpoint `deploy` names; keyword arguments as for the constructor."""
        return cls(AzureEndpointSpec.from_settings(settings), **kwargs)

    # ------------------------------------------------------------------ clients

    @property
    def credential(self) -> Any:
        """The Azure credential: given, the MLClient's, or DefaultAzureCredential."""
        return self._control.credential

    @property
    def client(self) -> Any:
        """The workspace's MLClient, built on first use."""
        return self._control.client

    @property
    def session(self) -> Any:
        """The requests.Session that scoring requests go through."""
        return self._scorer.session

    # ------------------------------------------------------------------ reading

    @property
    def url(self) -> str:
        """The scoring URI; '' while the endpoint does not exist."""
        return self._scorer.url

    def get_deployment(self, name: str) -> DeploymentInfo | None:
        entity = self._control.read_deployment(name)
        return deployment_info(entity) if entity is not None else None

    def list_deployments(self) -> list[DeploymentInfo]:
        return self._control.list_deployments()

    def get_traffic(self) -> TrafficSplit:
        endpoint = self._control.read_endpoint()
        return (
            TrafficSplit(dict(endpoint.traffic or {})) if endpoint is not None else TrafficSplit()
        )

    def get_mirror(self) -> MirrorTraffic:
        endpoint = self._control.read_endpoint()
        return mirror_of(endpoint) if endpoint is not None else MirrorTraffic()

    # ------------------------------------------------------------------ changing

    def create_or_update_deployment(self, spec: DeploymentSpec) -> DeploymentInfo:
        """See `Endpoint`. Creates the endpoint first when it does not exist (an existing one is
        not touched, so its traffic stays). `spec.tracking_uri` is not used: the model version
        must be registered in the workspace (its MLflow registry when tracking_uri is the
        workspace's MLflow URI). Raises InputError for a model the workspace lacks or invalid
        settings, DeploymentFailed when the deployment fails (quota, a container that never
        gets ready) or is not ready within `spec.ready_timeout_seconds`."""
        return self._control.create_or_update_deployment(spec)

    def build_deployment(self, spec: DeploymentSpec) -> Any:
        """The ManagedOnlineDeployment entity for `spec` (offline; nothing is sent)."""
        return deployment_entity(self.spec, spec)

    def delete_deployment(self, name: str) -> None:
        """See `Endpoint`: waits for the deletion; a missing deployment (or endpoint) is fine."""
        self._control.delete_deployment(name)

    def set_traffic(self, split: TrafficSplit) -> None:
        """See `Endpoint`: one endpoint update, waited for; no update when nothing changes."""
        self._control.set_traffic(split)

    def set_mirror(self, mirror: MirrorTraffic) -> None:
        """See `Endpoint`: one endpoint update, waited for; no update when nothing changes."""
        self._control.set_mirror(mirror)

    # ------------------------------------------------------------------ scoring and metrics

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
        return self._scorer.invoke(
            payload,
            deployment=deployment,
            request_id=request_id,
            timeout_seconds=timeout_seconds,
            source=source,
        )

    def metrics(self, deployment: str, window_seconds: float) -> DeploymentMetrics:
        """See `Endpoint` and the package docstring for the two sources. Raises
        UnknownDeployment for a name the endpoint lacks and MetricsUnavailable when the
        deployment or Azure Monitor cannot be read."""
        control = self._control
        try:
            exists = control.read_deployment(deployment) is not None
        except BackendError as exc:
            raise MetricsUnavailable(
                f"could not check deployment {deployment}: {exc.message}", hint=exc.hint
            ) from None
        if not exists:
            control.unknown(deployment)
        if self.spec.metrics_source == "probe":
            return self._probe.metrics(deployment, window_seconds)
        if control.resource_id is None or control.location is None:
            control.read_endpoint()
        resource_id, region = control.resource_id, self.spec.metrics_region or control.location
        if not resource_id or not region:
            raise MetricsUnavailable(f"endpoint {self.name} does not exist on Azure ML")
        return self._monitor.metrics(resource_id, region, deployment, window_seconds)
