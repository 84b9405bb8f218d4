"""Which backend a configuration names: the one place that imports the implementations.

`backends.endpoint` and the compute interface define what a backend does; this module picks and
builds one from the settings, so nothing above it imports an implementation directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlops_actions.errors import InputError

if TYPE_CHECKING:
    from mlops_actions.backends.azureml_compute import AzureMLSpec, PollPolicy, SweepSpec
    from mlops_actions.backends.compute import ComputeBackend
    from mlops_actions.backends.endpoint import Endpoint
    from mlops_actions.config import Settings

COMPUTE_BACKENDS = ("local", "azureml")


def open_endpoint(settings: Settings, *, start: bool = True) -> Endpoint:
    """The endpoint that `deploy` settings name. The local one is started when `start` is true.

    Raises EndpointError when the local endpoint is not running and `start` is false. With
    `deploy.backend: azureml`, the Azure ML managed online endpoint `deploy.endpoint` (nothing is
    sent until it is used; `start` does not apply); InputError when its workspace is not set.
    """
    if settings.deploy.backend == "azureml":
        from mlops_actions.backends.azureml_endpoint import AzureMLEndpoint

        return AzureMLEndpoint.from_settings(settings)
    if settings.deploy.backend == "local":
        from mlops_actions.backends.local_endpoint import LocalEndpoint

        state_dir = settings.state_dir() / "endpoint"
        if start:
            return LocalEndpoint.up(
                state_dir,
                name=settings.deploy.endpoint or settings.model.name,
                tracking_uri=settings.resolved_tracking_uri(),
            )
        return LocalEndpoint.connect(state_dir)
    raise InputError(
        f"deploy.backend {settings.deploy.backend!r} is not available in this version;",
        hint="use `deploy.backend: local` or `azureml`.",
    )


def open_compute(
    settings: Settings,
    *,
    ml_client: Any | None = None,
    poll: PollPolicy | None = None,
    sleep: Callable[[float], None] | None = None,
) -> ComputeBackend:
    """The compute backend that `train.backend` names; nothing is sent until it runs a job.

    `ml_client`, `poll` and `sleep` apply to Azure ML only: an MLClient instead of one built
    with DefaultAzureCredential, how often the job is polled, and how the wait sleeps. Raises
    InputError for an unknown backend or missing Azure settings (see `azureml_spec`).
    """
    name = settings.train.backend
    if name == "local":
        from mlops_actions.backends.local_compute import LocalCompute

        return LocalCompute()
    if name == "azureml":
        from mlops_actions.backends.azureml_compute import AzureMLCompute

        kwargs: dict[str, Any] = {"ml_client": ml_client, "poll": poll}
        if sleep is not None:
            kwargs["sleep"] = sleep
        return AzureMLCompute(azureml_spec(settings), **kwargs)
    raise InputError(
        f"unknown training backend {name!r} (--backend or train.backend);",
        hint=f"use one of: {', '.join(COMPUTE_BACKENDS)}.",
    )


def azureml_spec(settings: Settings) -> AzureMLSpec:
    """`train.azureml` as the Azure ML backend's spec; raises InputError naming a missing key.

    The workspace falls back to `deploy.azureml.workspace`. Without a registered environment,
    the requirements are the pins of `train.lock_file`, else the runtime packages of the
    mlops-actions lock (else of what is installed). DVC-tracked training data becomes the
    `train` input at its remote location, unless `train.azureml.inputs` names one.
    """
    from mlops_actions.backends.azureml_compute import AzureMLSpec
    from mlops_actions.backends.compute import slug

    az = settings.train.azureml
    if az is None:
        raise InputError(
            "train.azureml is missing: the azureml backend needs it;",
            hint="add train.azureml with workspace (subscription_id, resource_group, workspace) "
            "and compute (or instance_type) to mlops.yaml.",
        )
    workspace = az.workspace or (
        settings.deploy.azureml.workspace if settings.deploy.azureml else None
    )
    if workspace is None:
        raise InputError(
            "train.azureml.workspace is missing;",
            hint="add subscription_id, resource_group and workspace under train.azureml.workspace "
            "(values may come from the environment: ${AZURE_SUBSCRIPTION_ID}).",
        )
    for key in ("subscription_id", "resource_group", "workspace"):
        if not str(getattr(workspace, key)).strip():
            raise InputError(
                f"train.azureml.workspace.{key} is empty;",
                hint="set it in mlops.yaml (or the environment variable it names).",
            )
    if not (az.compute or az.instance_type):
        raise InputError(
            "train.azureml.compute is missing;",
            hint="set train.azureml.compute to a compute cluster name, or "
            "train.azureml.instance_type for serverless compute.",
        )
    return AzureMLSpec(
        subscription_id=workspace.subscription_id,
        resource_group=workspace.resource_group,
        workspace=workspace.workspace,
        compute=az.compute,
        instance_type=az.instance_type,
        environment=az.environment,
        requirements=() if az.environment else _requirements(settings),
        environment_name=f"mlops-{slug(settings.model.name)}",
        inputs=_job_inputs(settings),
        sweep=_sweep(settings),
        experiment_name=az.experiment_name,
    )


def _requirements(settings: Settings) -> tuple[str, ...]:
    """The pins an environment built for the job installs (see `azureml_spec`)."""
    from mlops_actions import lineage
    from mlops_actions.backends.azureml_environment import (
        RUNTIME_PACKAGES,
        installed_pins,
        lock_pins,
    )

    if settings.train.lock_file is not None:
        return tuple(lock_pins(settings.train.lock_file))
    ours = lineage.default_lock_file()
    return tuple(lock_pins(ours, only=RUNTIME_PACKAGES) if ours else installed_pins())


def _job_inputs(settings: Settings) -> dict[str, str]:
    """`train.azureml.inputs`, plus DVC-tracked `data.train` as `train` when not given."""
    assert settings.train.azureml is not None
    inputs = dict(settings.train.azureml.inputs)
    train_data = settings.data.train
    if "train" not in inputs and train_data is not None:
        from mlops_actions.data import is_dvc_tracked

        if settings.data.dvc_rev is not None or is_dvc_tracked(train_data):
            from mlops_actions.backends.azureml_environment import dvc_input_uri

            inputs["train"] = "uri_file:" + dvc_input_uri(train_data, settings.data.dvc_rev)
    return inputs


def _sweep(settings: Settings) -> SweepSpec | None:
    """`train.sweep` as the backend's sweep spec; None without one."""
    from mlops_actions.backends.azureml_compute import SearchDimension, SweepSpec

    s = settings.train.sweep
    if s is None:
        return None
    return SweepSpec(
        search_space={
            key: SearchDimension(dim.type, tuple(dim.values or ()), dim.min, dim.max)
            for key, dim in s.search_space.items()
        },
        metric=s.metric,
        goal=s.goal,
        max_trials=s.max_trials,
        max_concurrent_trials=s.max_concurrent_trials,
        sampling=s.sampling,
    )
