"""An MLflow failure as the one line a user reads (credentials in URIs redacted)."""

from __future__ import annotations

from mlops_actions.errors import BackendError
from mlops_actions.redact import redact_text


def mlflow_failure(exc: Exception, what: str) -> BackendError:
    """BackendError (exit 3) `MLflow could not <what>: <first line of exc>`, with where to look."""
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return BackendError(
        f"MLflow could not {what}: {redact_text(first)};",
        hint="check the tracking URI (tracking_uri in mlops.yaml or $MLFLOW_TRACKING_URI).",
    )


UNSUPPORTED = frozenset({"ENDPOINT_NOT_FOUND", "NOT_IMPLEMENTED", "FEATURE_DISABLED"})
"""Codes of a server that does not offer the API called."""
MISSING = frozenset({"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"})
"""Codes for an entity that does not exist."""
EXISTS = frozenset({"RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"})
"""Codes for an entity that exists already."""


def error_code(exc: BaseException) -> str:
    """MLflow's error code of an exception (empty for other exceptions)."""
    return str(getattr(exc, "error_code", "") or "")


def is_mlflow_error(exc: BaseException) -> bool:
    """Whether `exc` is an MlflowException (imports MLflow)."""
    from mlflow.exceptions import MlflowException

    return isinstance(exc, MlflowException)
