"""The deployment spec on Azure ML: `deploy.azureml` settings and the SDK entities built from them.

`AzureEndpointSpec` is read from mlops.yaml; `deployment_entity` and `endpoint_entity` turn it
(and a `DeploymentSpec`) into azure-ai-ml entities, offline; `deployment_info` and `mirror_of`
read the service's entities back into the `Endpoint` interface's types. Importing this module
imports nothing heavy: azure-ai-ml is imported inside the builders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlops_actions.backends.endpoint import (
    DeploymentInfo,
    DeploymentSpec,
    DeploymentState,
    MirrorTraffic,
)
from mlops_actions.errors import InputError

if TYPE_CHECKING:
    from mlops_actions.config import Settings

MetricsSource = Literal["azure-monitor", "probe"]

_MODEL_ID = re.compile(r"/models/([^/]+)/versions/([^/]+)$", re.IGNORECASE)

_STATES: dict[str, DeploymentState] = {
    "succeeded": "ready",
    "creating": "starting",
    "updating": "starting",
    "scaling": "starting",
    "failed": "failed",
    "canceled": "failed",
    "deleting": "stopped",
}


@dataclass(frozen=True)
class Probe:
    """A liveness or readiness probe of a deployment (Azure ML's defaults)."""

    initial_delay_seconds: int = 10
    period_seconds: int = 10
    timeout_seconds: int = 2
    failure_threshold: int = 30
    success_threshold: int = 1

    @classmethod
    def from_settings(cls, probe: Any) -> Probe:
        """The probe of one `deploy.azureml.*_probe` settings block."""
        return cls(
            probe.initial_delay_seconds,
            probe.period_seconds,
            probe.timeout_seconds,
            probe.failure_threshold,
            probe.success_threshold,
        )


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
        """The spec that `deploy` (and `train.azureml.workspace`) name.

        Raises InputError when no workspace is configured, or when only one of
        `deploy.azureml.environment` and `scoring_script` is set.
        """
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
            liveness_probe=Probe.from_settings(azure.liveness_probe),
            readiness_probe=Probe.from_settings(azure.readiness_probe),
            metrics_source=source,
            metrics_region=azure.metrics_region,
        )


# ---------------------------------------------------------------------- building entities


def deployment_entity(settings: AzureEndpointSpec, spec: DeploymentSpec) -> Any:
    """The ManagedOnlineDeployment entity of `spec` on endpoint `settings.endpoint`.

    Offline: nothing is sent. The model is the workspace's registered `name:version`; with
    `environment` and `scoring_script` set, the deployment runs that script in that environment.
    """
    from azure.ai.ml.entities import (
        CodeConfiguration,
        ManagedOnlineDeployment,
        OnlineRequestSettings,
    )

    extra: dict[str, Any] = {}
    if settings.environment and settings.scoring_script is not None:
        extra["environment"] = environment_ref(settings.environment)
        extra["code_configuration"] = CodeConfiguration(
            code=str(settings.scoring_script.parent),
            scoring_script=settings.scoring_script.name,
        )
    return ManagedOnlineDeployment(
        name=spec.name,
        endpoint_name=settings.endpoint,
        model=f"azureml:{spec.model_name}:{spec.model_version}",
        instance_type=settings.instance_type,
        instance_count=settings.instance_count,
        request_settings=OnlineRequestSettings(
            request_timeout_ms=settings.request_timeout_ms,
            max_concurrent_requests_per_instance=settings.max_concurrent_requests_per_instance,
        ),
        liveness_probe=probe_settings(settings.liveness_probe),
        readiness_probe=probe_settings(settings.readiness_probe),
        environment_variables=dict(spec.environment) or None,
        tags={"mlops-actions.model": f"{spec.model_name}:{spec.model_version}"},
        **extra,
    )


def endpoint_entity(name: str) -> Any:
    """A new ManagedOnlineEndpoint called `name`: key authentication, no traffic."""
    from azure.ai.ml.entities import ManagedOnlineEndpoint

    return ManagedOnlineEndpoint(
        name=name,
        auth_mode="key",
        description="Managed by mlops-actions (canary-deploy).",
        tags={"managed-by": "mlops-actions"},
    )


def probe_settings(probe: Probe) -> Any:
    """The SDK's ProbeSettings of `probe`."""
    from azure.ai.ml.entities import ProbeSettings

    return ProbeSettings(
        initial_delay=probe.initial_delay_seconds,
        period=probe.period_seconds,
        timeout=probe.timeout_seconds,
        failure_threshold=probe.failure_threshold,
        success_threshold=probe.success_threshold,
    )


def environment_ref(ref: str) -> str:
    """`name:version` → `azureml:name:version`; labels (`name@latest`) and ids stay."""
    ref = ref.strip()
    if ref.startswith("azureml:") and "@" in ref and not ref.startswith("azureml://"):
        return ref[len("azureml:") :]  # the SDK resolves labels only without the prefix
    if "@" not in ref and not ref.startswith(("azureml:", "/")):
        return f"azureml:{ref}"
    return ref


# ---------------------------------------------------------------------- reading entities


def state_text(entity: Any) -> str:
    """The provisioning state the service reports ('deleted' for None, 'Unknown' when unset)."""
    if entity is None:
        return "deleted"
    state = getattr(entity, "provisioning_state", None)
    return str(getattr(state, "value", state) or "Unknown")


def deployment_info(entity: Any) -> DeploymentInfo:
    """A DeploymentInfo from an OnlineDeployment: model name and version from its reference."""
    name, version = model_ref(getattr(entity, "model", None))
    text = state_text(entity)
    state = _STATES.get(text.lower(), "starting")
    error = f"Azure ML reports provisioning state {text}" if state == "failed" else ""
    return DeploymentInfo(str(entity.name), name, version, state, error)


def model_ref(model: Any) -> tuple[str, str]:
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


def mirror_of(endpoint: Any) -> MirrorTraffic:
    """The mirror setting of an OnlineEndpoint entity (its first target by name, if several)."""
    live = {k: int(v) for k, v in (endpoint.mirror_traffic or {}).items() if v}
    if not live:
        return MirrorTraffic()
    name = sorted(live)[0]
    return MirrorTraffic(name, live[name])
