"""The control plane of an Azure ML managed online endpoint: deployments, traffic, deletion.

Everything goes through azure-ai-ml's `MLClient`. The endpoint is created on first use (key
auth); traffic and mirror traffic are the endpoint's own `traffic` / `mirror_traffic`, read back
from the service on every call. Every long-running operation is waited for, with the SDK's
progress dots kept off stdout (so `--json` output stays clean). Importing this module imports
nothing heavy.
"""

from __future__ import annotations

import contextlib
import sys
import time
import types
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

from mlops_actions.backends.azureml_common import (
    auth_failure,
    first_line,
    is_quota_error,
    service_code,
    service_message,
    workspace_client,
)
from mlops_actions.backends.azureml_endpoint.spec import (
    AzureEndpointSpec,
    deployment_entity,
    deployment_info,
    endpoint_entity,
    mirror_of,
    state_text,
)
from mlops_actions.backends.endpoint import (
    DeploymentFailed,
    DeploymentInfo,
    DeploymentSpec,
    EndpointError,
    MirrorTraffic,
    TrafficSplit,
    UnknownDeployment,
)
from mlops_actions.errors import BackendError, InputError

UPDATE_TIMEOUT_SECONDS = 900.0
"""How long traffic, mirror and endpoint updates and deletions may take on the service."""
LOG_TAIL_LINES = 50


class ControlPlane:
    """Reads and changes one managed online endpoint through its workspace's MLClient.

    The scoring URI, ARM id and location of the endpoint are remembered from the last read
    (`read_endpoint`), for scoring and metrics.
    """

    def __init__(
        self, spec: AzureEndpointSpec, *, ml_client: Any | None, credential: Any | None
    ) -> None:
        self.spec = spec
        self.name = spec.endpoint
        self._client = ml_client
        self._credential = credential
        self.scoring_uri: str | None = None
        self.resource_id: str | None = None
        self.location: str | None = None

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

    # ------------------------------------------------------------------ reading

    def read_endpoint(self) -> Any | None:
        """The endpoint as the service reports it now, or None when it does not exist.

        Raises BackendError (auth) or EndpointError when the service cannot be read.
        """
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            endpoint = self.client.online_endpoints.get(self.name)
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise self.failure(exc, f"read endpoint {self.name}") from None
        self.scoring_uri = str(endpoint.scoring_uri or "") or None
        self.resource_id = str(endpoint.id or "") or None
        self.location = str(endpoint.location or "") or None
        return endpoint

    def read_deployment(self, name: str) -> Any | None:
        """The OnlineDeployment called `name`, or None; raises as `read_endpoint`."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            return self.client.online_deployments.get(name, self.name)
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise self.failure(exc, f"read deployment {name}") from None

    def deployment_names(self) -> set[str]:
        """The names of the endpoint's deployments (none when it does not exist)."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            return {str(d.name) for d in self.client.online_deployments.list(self.name)}
        except ResourceNotFoundError:
            return set()
        except AzureError as exc:
            raise self.failure(exc, f"list the deployments of {self.name}") from None

    def list_deployments(self) -> list[DeploymentInfo]:
        """Every deployment, sorted by name (none when the endpoint does not exist)."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            entities = list(self.client.online_deployments.list(self.name))
        except ResourceNotFoundError:
            return []
        except AzureError as exc:
            raise self.failure(exc, f"list the deployments of {self.name}") from None
        return sorted((deployment_info(e) for e in entities), key=lambda info: info.name)

    # ------------------------------------------------------------------ deployments

    def create_or_update_deployment(self, spec: DeploymentSpec) -> DeploymentInfo:
        """Create or replace deployment `spec.name` and wait until it is ready (see `Endpoint`)."""
        deadline = time.monotonic() + spec.ready_timeout_seconds
        self.ensure_endpoint(deadline)
        current = self.read_deployment(spec.name)
        if current is not None:
            info = deployment_info(current)
            wanted = (spec.model_name, str(spec.model_version))
            if info.ready and (info.model_name, info.model_version) == wanted:
                return info
        from azure.core.exceptions import AzureError

        poller = self._begin_deployment(deployment_entity(self.spec, spec), spec)
        try:
            done = wait(poller, deadline)
        except AzureError as exc:  # the operation ended Failed (or its polling failed)
            raise self._deployment_failed(spec, exc) from None
        if not done:
            state = state_text(self.read_deployment(spec.name))
            raise DeploymentFailed(
                f"deployment {spec.name} did not become ready within "
                f"{spec.ready_timeout_seconds:g} s (Azure ML reports {state});",
                hint="see the log tail; raise deploy.ready_timeout_seconds (or --ready-timeout) "
                "if the model needs longer to load.",
                log_tail=self.log_tail(spec.name),
            )
        final = self.read_deployment(spec.name)
        ready = deployment_info(final) if final is not None else None
        if ready is None or not ready.ready:
            raise DeploymentFailed(
                f"deployment {spec.name} ended {state_text(final)} on Azure ML;",
                hint="see the log tail.",
                log_tail=self.log_tail(spec.name),
            )
        return ready

    def ensure_endpoint(self, deadline: float) -> None:
        """Create the endpoint (key auth, no traffic) unless it exists.

        An existing one is not sent again, so its traffic and mirror stay as they are; one in
        state Failed raises EndpointError, an invalid name InputError.
        """
        from azure.ai.ml.exceptions import MlException
        from azure.core.exceptions import AzureError

        existing = self.read_endpoint()
        if existing is not None:
            if state_text(existing) == "Failed":
                raise EndpointError(
                    f"endpoint {self.name} is in state Failed on Azure ML;",
                    hint=f"delete it (`az ml online-endpoint delete -n {self.name}`) or set "
                    "another deploy.endpoint, then re-run.",
                )
            return
        entity = endpoint_entity(self.name)
        try:
            poller = begin(lambda: self.client.online_endpoints.begin_create_or_update(entity))
            done = wait(poller, deadline)
        except MlException as exc:
            raise InputError(
                f"the Azure ML endpoint is invalid: {validation_detail(exc)};",
                hint="fix deploy.endpoint (3–32 letters, digits and hyphens, a letter first).",
            ) from None
        except AzureError as exc:
            raise self.failure(exc, f"create endpoint {self.name}") from None
        if not done:
            raise EndpointError(
                f"endpoint {self.name} was not created within the ready timeout;",
                hint="raise deploy.ready_timeout_seconds, or check the endpoint in Azure ML "
                "studio.",
            )
        self.read_endpoint()

    def _begin_deployment(self, entity: Any, spec: DeploymentSpec) -> Any:
        from azure.ai.ml.exceptions import MlException
        from azure.core.exceptions import (
            AzureError,
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
        )

        try:
            return begin(lambda: self.client.online_deployments.begin_create_or_update(entity))
        except MlException as exc:
            raise InputError(
                f"the Azure ML deployment {spec.name} is invalid: {validation_detail(exc)};",
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
            raise self.failure(exc, f"create deployment {spec.name}") from None

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
            log_tail=self.log_tail(spec.name),
        )

    def log_tail(self, name: str) -> str:
        """The deployment's last log lines ('' when they cannot be read)."""
        from azure.core.exceptions import AzureError

        try:
            return str(
                self.client.online_deployments.get_logs(name, self.name, lines=LOG_TAIL_LINES)
            )
        except (AzureError, ValueError):
            return ""

    def delete_deployment(self, name: str) -> None:
        """Delete a deployment and wait (see `Endpoint`); a missing one (or endpoint) is fine."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        endpoint = self.read_endpoint()
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
            poller = begin(lambda: self.client.online_deployments.begin_delete(name, self.name))
            done = wait(poller, time.monotonic() + UPDATE_TIMEOUT_SECONDS)
        except ResourceNotFoundError:
            return
        except AzureError as exc:
            raise self.failure(exc, f"delete deployment {name}") from None
        if not done:
            raise EndpointError(
                f"deleting deployment {name} did not finish within {UPDATE_TIMEOUT_SECONDS:g} s;",
                hint="check the deployment in Azure ML studio.",
            )

    # ------------------------------------------------------------------ traffic

    def set_traffic(self, split: TrafficSplit) -> None:
        """One endpoint update, waited for; no update when nothing changes (see `Endpoint`)."""
        endpoint = self.read_endpoint()
        if endpoint is None:
            if split.weights:
                self.unknown(next(iter(split.weights)))
            return
        known = self.deployment_names()
        for name in split.weights:
            if name not in known:
                self.unknown(name)
        mirror = mirror_of(endpoint)
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
        """One endpoint update, waited for; no update when nothing changes (see `Endpoint`)."""
        endpoint = self.read_endpoint()
        if endpoint is None:
            if mirror.deployment is not None:
                self.unknown(mirror.deployment)
            return
        if mirror.deployment is not None:
            if mirror.deployment not in self.deployment_names():
                self.unknown(mirror.deployment)
            live = int((endpoint.traffic or {}).get(mirror.deployment) or 0)
            if live:
                raise InputError(
                    f"deployment {mirror.deployment} receives {live} % of live traffic and "
                    "cannot also be the mirror target;",
                    hint="mirror to a deployment without live traffic.",
                )
        if mirror_of(endpoint) == mirror:
            return
        endpoint.mirror_traffic = mirror.as_dict()
        self._update(endpoint, f"set the mirror of {self.name} to {mirror}")

    def _update(self, endpoint: Any, what: str) -> None:
        from azure.core.exceptions import AzureError, HttpResponseError

        try:
            poller = begin(lambda: self.client.online_endpoints.begin_create_or_update(endpoint))
            done = wait(poller, time.monotonic() + UPDATE_TIMEOUT_SECONDS)
        except HttpResponseError as exc:
            if exc.status_code == 400:
                raise InputError(f"Azure ML refused to {what}: {service_message(exc)};") from None
            raise self.failure(exc, what) from None
        except AzureError as exc:
            raise self.failure(exc, what) from None
        if not done:
            raise EndpointError(f"could not {what} within {UPDATE_TIMEOUT_SECONDS:g} s;")

    # ------------------------------------------------------------------ errors

    def unknown(self, name: str) -> NoReturn:
        """Raise UnknownDeployment for `name`."""
        raise UnknownDeployment(
            f"endpoint {self.name} has no deployment named {name!r};",
            hint=f"see `az ml online-deployment list -e {self.name}`.",
        )

    def failure(self, exc: BaseException, what: str) -> BackendError:
        """The error to raise when `what` failed on the service: auth failures get the
        azure/login hint, anything else becomes EndpointError."""
        from azure.core.exceptions import ClientAuthenticationError

        if isinstance(exc, ClientAuthenticationError):
            return auth_failure(exc)
        return EndpointError(
            f"could not {what} on Azure ML: {service_message(exc).rstrip('.')};",
            hint="check deploy.azureml.workspace and the service status, then re-run.",
        )


# ---------------------------------------------------------------------- long-running operations


@contextlib.contextmanager
def dots_to_stderr() -> Iterator[None]:
    """The SDK's pollers print one dot per poll on stdout: keep them off `--json` output."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def begin(start: Callable[[], Any]) -> Any:
    """Start a long-running operation; its poller no longer prints a dot per poll.

    azure-ai-ml's `AzureMLPolling` only adds a `print(".")` to azure-core's ARM polling: this
    poller gets the parent's `update_status` back, so a poller still running after we stopped
    waiting (a ready timeout) cannot write into stdout later.
    """
    with dots_to_stderr():
        poller = start()
        method = poller.polling_method() if hasattr(poller, "polling_method") else None
        if method is not None and type(method).__name__ == "AzureMLPolling":
            parent = next((c for c in type(method).__mro__[1:] if "update_status" in vars(c)), None)
            if parent is not None:
                method.update_status = types.MethodType(vars(parent)["update_status"], method)
    return poller


def wait(poller: Any, deadline: float) -> bool:
    """Wait for a long-running operation until `deadline`; True when it finished.

    Raises the operation's error when it failed. When the deadline passes first, the SDK
    keeps polling in its background thread until the service ends the operation.
    """
    with dots_to_stderr():
        # wait(), not result(): result() builds the entity, which fails while unfinished
        poller.wait(timeout=max(0.0, deadline - time.monotonic()))
    return bool(poller.done())


def validation_detail(exc: BaseException) -> str:
    """The SDK's validation message: its `(x) …` line, else the first line."""
    for line in str(getattr(exc, "message", "") or exc).splitlines():
        if line.strip().startswith("(x)"):
            return line.strip()[3:].strip().rstrip(".")
    return first_line(exc)
