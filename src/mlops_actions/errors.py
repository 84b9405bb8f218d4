"""The exception tree; each branch maps to one exit code of the CLI.

```
MlopsError                          exit 3 unless a subclass says otherwise
├── InputError                      exit 2: bad flags, files or data a user can fix
│   ├── ConfigError                 mlops.yaml (or a flag over it) is invalid; file:line:col, key
│   ├── UnknownDeployment           backends.endpoint: no deployment of that name
│   └── DriftInputError             monitoring.drift_stats: data drift cannot be computed from
└── BackendError                    exit 3: MLflow, Azure ML, GitHub or the endpoint failed
    └── EndpointError               backends.endpoint: unreachable, or refused after retries
        ├── DeploymentFailed        a deployment did not become healthy (with its log tail)
        └── MetricsUnavailable      request metrics could not be read
```

A gate that says no (invalid data, a worse model, a rollback, drift) is not an exception: the step
returns its verdict and the CLI exits 1. Every message is one line a user can act on: what failed,
where, and how to fix it.
"""

from __future__ import annotations


class MlopsError(Exception):
    """Base of every error the CLI turns into an exit code and one message."""

    exit_code = 3

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class InputError(MlopsError):
    """Raised when flags, files or data given by the user cannot be used as they are."""

    exit_code = 2


class ConfigError(InputError):
    """Raised when mlops.yaml cannot be read or does not validate.

    `location` is `file:line:col` when known; `key_path` is the dotted key
    (`evaluate.min_improvement`).
    """

    def __init__(
        self,
        message: str,
        *,
        location: str | None = None,
        key_path: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.location = location
        self.key_path = key_path

    def position(self) -> tuple[str | None, int | None, int | None]:
        """(file, line, column) of the problem, for an annotation."""
        if not self.location:
            return None, None, None
        parts = self.location.rsplit(":", 2)
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            return parts[0], int(parts[1]), int(parts[2])
        return self.location, None, None

    def __str__(self) -> str:
        head = " ".join(
            p for p in (self.location, f"{self.key_path}:" if self.key_path else None) if p
        )
        body = super().__str__()
        return f"{head} {body}" if head else body


class BackendError(MlopsError):
    """Raised when a backend (MLflow, Azure ML, GitHub, the endpoint) fails after retries."""

    exit_code = 3
