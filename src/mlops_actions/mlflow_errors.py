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
