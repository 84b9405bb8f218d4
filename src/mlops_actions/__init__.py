"""mlops-actions: take an ML model from a commit to a monitored production endpoint.

The package is the logic behind the GitHub Actions in this repository; the `mlops` CLI runs the
same steps on a laptop. Heavy libraries are imported only by the step that needs them.
"""

from mlops_actions.errors import (
    BackendError,
    ConfigError,
    InputError,
    MlopsError,
)

__version__ = "0.2.0"

__all__ = [
    "BackendError",
    "ConfigError",
    "InputError",
    "MlopsError",
    "__version__",
]
