"""Which backend a configuration names: the one place that imports the implementations.

`backends.endpoint` and the compute interface define what a backend does; this module picks and
builds one from the settings, so nothing above it imports an implementation directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_actions.errors import InputError

if TYPE_CHECKING:
    from mlops_actions.backends.endpoint import Endpoint
    from mlops_actions.config import Settings


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
