"""What the Azure ML backends share: the workspace client, and Azure errors turned into ours.

`workspace_client` builds the production `MLClient` (DefaultAzureCredential: OIDC through
azure/login in workflows, `az login` locally). The error helpers read the service's own message
out of azure-core and azure-ai-ml exceptions, so a user sees what Azure said, with a hint.

Importing this module imports nothing heavy; the Azure SDKs are imported inside the functions.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from mlops_actions.errors import BackendError
from mlops_actions.redact import redact_text

AUTH_HINT = (
    "in a workflow, run azure/login with OIDC (permissions: id-token: write) before this step; "
    "locally, run `az login`."
)


def default_credential() -> Any:
    """The production credential: DefaultAzureCredential (azure/login's CLI session, workload
    identity, managed identity or environment variables, in Azure's order)."""
    from azure.identity import DefaultAzureCredential

    quiet_sdk_notices()
    return DefaultAzureCredential()


def workspace_client(
    subscription_id: str, resource_group: str, workspace: str, *, credential: Any | None = None
) -> Any:
    """An `MLClient` for one workspace, with `credential` or DefaultAzureCredential."""
    from azure.ai.ml import MLClient

    return MLClient(
        credential if credential is not None else default_credential(),
        subscription_id,
        resource_group,
        workspace,
        enable_telemetry=False,
    )


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message, without a final period."""
    text = str(getattr(exc, "message", "") or exc).strip()
    line = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    return redact_text(line.rstrip("."))


def service_message(exc: BaseException) -> str:
    """The service's own message of an Azure error (not the SDK's framing), redacted."""
    return redact_text(_service_message(exc))


def _service_message(exc: BaseException) -> str:
    error = getattr(exc, "error", None)
    message = getattr(error, "message", None)
    if message:
        return str(message).strip()
    text = str(getattr(exc, "message", "") or exc)
    details = re.search(r"\(\w+\)\s*(.+)", text)
    if details:
        return details.group(1).strip()
    return " ".join(line.strip() for line in text.splitlines() if line.strip())[:500]


def service_code(exc: BaseException) -> str:
    """The service's error code (`OutOfQuota`, `ResourceNotReady`, …), '' when there is none."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    if code:
        return str(code)
    match = re.match(r"\s*\((\w+)\)", str(getattr(exc, "message", "") or exc))
    return match.group(1) if match else ""


def is_quota_error(exc: BaseException) -> bool:
    """Whether Azure refused for lack of quota (in the code or the message)."""
    code = service_code(exc).lower()
    return "quota" in code or "quota" in service_message(exc).lower()


def auth_failure(exc: BaseException) -> BackendError:
    """BackendError for a credential Azure did not accept, saying how to log in."""
    return BackendError(f"Azure authentication failed: {first_line(exc)};", hint=AUTH_HINT)


def service_failure(exc: BaseException, what: str) -> BackendError:
    """BackendError for an Azure call that failed after the SDK's retries."""
    from azure.core.exceptions import ClientAuthenticationError

    if isinstance(exc, ClientAuthenticationError):
        return auth_failure(exc)
    return BackendError(
        f"could not {what} on Azure ML: {first_line(exc)};",
        hint="check the workspace settings and the service status, then re-run.",
    )


def quiet_sdk_notices() -> None:
    """Silence SDK log lines nobody can act on; our own messages say what matters."""
    # Notices the SDK logs for its own experimental classes and anonymous assets, and its
    # activity log (which reports our "is there a job of that name?" lookup as an ERROR).
    for name in ("azure.ai.ml._utils._experimental", "azure.ai.ml._schema.assets"):
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.getLogger("azure.ai.ml._telemetry").setLevel(logging.CRITICAL)
    # "Check: endpoint X exists" at INFO on stderr before every deployment update
    for name in ("_online_deployment_operations", "_online_endpoint_operations"):
        logging.getLogger(f"azure.ai.ml.operations.{name}").setLevel(logging.WARNING)
    # azure.identity logs every credential it tried at WARNING; our error says what to do
    logging.getLogger("azure.identity").setLevel(logging.ERROR)
