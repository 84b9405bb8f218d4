"""The endpoint interface: named deployments behind one scoring URL, with traffic and metrics.

An `Endpoint` is what `canary-deploy` and `smoke-test` drive: it creates a deployment from a
registered model version, splits live traffic between deployments (`TrafficSplit`, a
`{deployment: percent}` map that sums to 0 or 100), mirrors a share of requests to one
deployment (`MirrorTraffic`, at most 50 %), invokes one deployment directly, reads per-deployment
request metrics over a window (`DeploymentMetrics`) and deletes deployments. The rules are Azure
ML's managed online endpoints', so the local implementation (`local_endpoint.LocalEndpoint`, a
real HTTP server on 127.0.0.1) and the Azure ML one behave the same for the steps.

Errors, as a tree:

```
BackendError (exit 3)
└── EndpointError           the endpoint cannot be reached or refused an operation after retries
    ├── DeploymentFailed    a deployment did not become healthy (crashed, timed out); has a log
    └── MetricsUnavailable  the metrics provider failed; canary analysis counts these apart
InputError (exit 2)
└── UnknownDeployment       a deployment name the endpoint does not have
```

This module imports only the standard library.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mlops_actions.errors import BackendError, InputError

MAX_MIRROR_PERCENT = 50
"""Azure ML's limit on mirrored traffic, kept by every implementation."""

DEPLOYMENT_HEADER = "azureml-model-deployment"
"""Request header that sends a request to one deployment, bypassing the split and the mirror."""

REQUEST_ID_HEADER = "x-request-id"
"""Response header carrying the id under which the prediction was logged."""

SOURCE_HEADER = "x-mlops-source"
"""Request header naming synthetic traffic (`smoke`, `probe`), recorded with the prediction."""

ERROR_CLASSES = ("4xx", "5xx", "timeout", "unavailable")
"""How failed requests are counted: client errors, server errors, requests that timed out, and
requests that could not reach the deployment at all (crashed or not started)."""

SERVER_ERROR_CLASSES = ("5xx", "timeout", "unavailable")
"""The classes that count against a deployment's error rate (4xx is the caller's fault)."""


class EndpointError(BackendError):
    """Raised when the endpoint cannot be reached, or refuses an operation, after retries."""


class DeploymentFailed(EndpointError):
    """Raised when a deployment does not become healthy; `log_tail` holds its last log lines."""

    def __init__(self, message: str, *, hint: str | None = None, log_tail: str = "") -> None:
        super().__init__(message, hint=hint)
        self.log_tail = log_tail


class MetricsUnavailable(EndpointError):
    """Raised when request metrics cannot be read (the provider failed or timed out)."""


class UnknownDeployment(InputError):
    """Raised when an operation names a deployment the endpoint does not have."""


def _check_percent(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise InputError(f"{what} must be a whole percentage 0–100, got {value!r};")
    return value


@dataclass(frozen=True)
class TrafficSplit:
    """Live traffic per deployment, in whole percent: sums to 100, or to 0 (no live traffic).

    Deployments absent from the map get 0 %. Raises InputError when the percentages are invalid.
    """

    weights: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        clean = {
            str(name): _check_percent(pct, f"traffic for {name!r}")
            for name, pct in self.weights.items()
        }
        total = sum(clean.values())
        if total not in (0, 100):
            raise InputError(
                f"traffic must sum to 0 or 100 %, got {total} % ({_describe(clean)});",
                hint="give every deployment its share so the shares add up to 100.",
            )
        # Zero entries carry no meaning; dropping them makes equal splits compare equal.
        object.__setattr__(self, "weights", {k: v for k, v in sorted(clean.items()) if v})

    @classmethod
    def only(cls, deployment: str) -> TrafficSplit:
        """All live traffic to one deployment."""
        return cls({deployment: 100})

    def share(self, deployment: str) -> int:
        """Percent of live traffic that `deployment` receives."""
        return self.weights.get(deployment, 0)

    def as_dict(self) -> dict[str, int]:
        return dict(self.weights)

    def leader(self) -> str | None:
        """The deployment with the largest share (ties: the first by name), None without traffic."""
        if not self.weights:
            return None
        return max(sorted(self.weights), key=lambda name: self.weights[name])

    def __str__(self) -> str:
        return _describe(dict(self.weights))


def _describe(weights: Mapping[str, int]) -> str:
    live = {k: v for k, v in weights.items() if v}
    return ", ".join(f"{k} {v} %" for k, v in sorted(live.items())) or "no live traffic"


@dataclass(frozen=True)
class MirrorTraffic:
    """A copy of `percent` % of live requests sent to `deployment`, whose answers are discarded.

    At most one deployment and at most 50 %, as on Azure ML; `MirrorTraffic()` is "no mirror".
    A deployment that receives live traffic cannot also be the mirror target.
    """

    deployment: str | None = None
    percent: int = 0

    def __post_init__(self) -> None:
        pct = _check_percent(self.percent, "mirror traffic")
        if pct > MAX_MIRROR_PERCENT:
            raise InputError(
                f"mirror traffic is at most {MAX_MIRROR_PERCENT} %, got {pct} %;",
                hint=f"lower deploy.shadow_percent to {MAX_MIRROR_PERCENT} or less.",
            )
        if pct and not self.deployment:
            raise InputError("mirror traffic needs a deployment to mirror to;")
        if not pct:
            object.__setattr__(self, "deployment", None)

    def as_dict(self) -> dict[str, int]:
        return {self.deployment: self.percent} if self.deployment else {}

    def __str__(self) -> str:
        return f"{self.deployment} {self.percent} %" if self.deployment else "no mirror"


@dataclass(frozen=True)
class DeploymentSpec:
    """What to deploy: a registered model version, read from the registry at `tracking_uri`."""

    name: str
    model_name: str
    model_version: str
    tracking_uri: str
    registry_uri: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    """Extra environment variables of the deployment's process."""
    ready_timeout_seconds: float = 120.0
    """How long `create_or_update_deployment` waits for the deployment to become healthy."""

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_name}/{self.model_version}"


DeploymentState = Literal["starting", "ready", "failed", "stopped"]


@dataclass(frozen=True)
class DeploymentInfo:
    """One deployment as the endpoint reports it."""

    name: str
    model_name: str
    model_version: str
    state: DeploymentState
    error: str = ""
    """Why the deployment is not ready (crash, exit code, failed health probe)."""

    @property
    def ready(self) -> bool:
        return self.state == "ready"


@dataclass(frozen=True)
class Invocation:
    """One scoring request and its answer. A 4xx/5xx answer is an Invocation, not an exception."""

    status: int
    """HTTP status; 504 when the request timed out on the client side."""
    body: Any
    """The parsed JSON answer, or the raw text when it is not JSON."""
    request_id: str
    """The id under which the endpoint logged the prediction (for joining ground truth)."""
    deployment: str
    """The deployment that answered (from the `azureml-model-deployment` response header)."""
    latency_ms: float
    """Round trip as the caller measured it."""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def predictions(self) -> list[Any]:
        """The predictions in the answer (Azure returns a list, MLflow `{"predictions": …}`)."""
        body = self.body
        if isinstance(body, dict) and "predictions" in body:
            body = body["predictions"]
        if isinstance(body, list):
            return body
        raise EndpointError(f"the answer holds no predictions: {str(body)[:200]!r}")


@dataclass(frozen=True)
class DeploymentMetrics:
    """Requests a deployment answered during the last `window_seconds`, as the endpoint saw them.

    Mirrored requests count for the mirror target. Latency percentiles are None without requests.
    """

    deployment: str
    window_seconds: float
    requests: int
    errors: Mapping[str, int]
    """Failed requests by class: 4xx, 5xx, timeout, unavailable (see `ERROR_CLASSES`)."""
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    @property
    def server_errors(self) -> int:
        return sum(self.errors.get(k, 0) for k in SERVER_ERROR_CLASSES)

    @property
    def error_rate(self) -> float | None:
        """Share of requests that failed on the server side; None without requests."""
        return self.server_errors / self.requests if self.requests else None


class Endpoint(ABC):
    """An online endpoint. Every implementation keeps these rules, and the tests check them:

    - `create_or_update_deployment` blocks until the deployment answers its health probe, or
      raises `DeploymentFailed` (with the deployment's log) when it crashes or does not become
      healthy within `spec.ready_timeout_seconds`; a failed deployment is left in place, in
      state "failed", for the caller to inspect and delete. It never changes traffic: a new
      deployment starts at 0 %. Idempotent: a deployment that already serves the same model
      version and is healthy is left untouched; another version replaces it in place.
    - `set_traffic` and `set_mirror` block until the endpoint routes by the new values and are
      idempotent. They raise `UnknownDeployment` for a name the endpoint does not have and
      `InputError` for a mirror target that also has live traffic.
    - `get_traffic` and `get_mirror` read what the endpoint routes by now (not a cached value),
      so callers can verify a change.
    - `invoke` sends one scoring request, to one deployment when `deployment` is given (it then
      bypasses the split and the mirror), else through the split. Any HTTP answer, error or
      not, is returned as an `Invocation`; `EndpointError` only when the endpoint itself cannot
      be reached; `UnknownDeployment` for an unknown name.
    - `metrics` returns request counts, errors by class and latency percentiles for the last
      `window_seconds`; raises `MetricsUnavailable` when the provider fails.
    - `delete_deployment` is idempotent (deleting a missing deployment succeeds) and refuses,
      with `InputError`, to delete a deployment that still has live or mirrored traffic.
    - Anything that cannot reach the service after retries raises `EndpointError`; a
      credential the service refuses raises `BackendError` with a hint on how to log in.
    - Reads (`url`, `get_*`, `list_deployments`, `metrics`) have no side effects. Every call
      blocks until its answer (or the change) is there, or until its timeout.
    """

    backend: str
    inspect_hint: str
    """Where a person looks at the endpoint's real state (for errors that need a human)."""
    name: str

    @property
    @abstractmethod
    def url(self) -> str:
        """The scoring URL that clients call; '' while the endpoint does not exist.

        May read the service once (then cached); raises EndpointError when it cannot.
        """

    @abstractmethod
    def create_or_update_deployment(self, spec: DeploymentSpec) -> DeploymentInfo:
        """Create (or replace) deployment `spec.name` and wait until it is healthy.

        Blocks until the deployment answers its health probe, at most
        `spec.ready_timeout_seconds`. Idempotent: a healthy deployment that already serves the
        same model version is returned untouched; another version replaces it in place. Never
        changes traffic (a new deployment starts at 0 %). Raises DeploymentFailed (with the log
        tail) when it crashes or is not healthy in time, leaving it in state "failed";
        InputError for invalid settings or a model version the registry lacks; EndpointError
        when the endpoint cannot be reached.
        """

    @abstractmethod
    def get_deployment(self, name: str) -> DeploymentInfo | None:
        """The deployment called `name`, or None.

        One read of the endpoint, no side effects; raises EndpointError when it cannot be read.
        """

    @abstractmethod
    def list_deployments(self) -> list[DeploymentInfo]:
        """Every deployment, sorted by name (none when the endpoint does not exist).

        One read of the endpoint, no side effects; raises EndpointError when it cannot be read.
        """

    @abstractmethod
    def delete_deployment(self, name: str) -> None:
        """Stop and remove a deployment; succeeds when it does not exist.

        Blocks until it is gone. Idempotent. Raises InputError, deleting nothing, while it still
        receives live or mirrored traffic; EndpointError when the endpoint cannot be reached or
        the deletion does not finish.
        """

    @abstractmethod
    def get_traffic(self) -> TrafficSplit:
        """The live traffic split the endpoint routes by now (read each call, not cached).

        No side effects; raises EndpointError when the endpoint cannot be read.
        """

    @abstractmethod
    def set_traffic(self, split: TrafficSplit) -> None:
        """Route live traffic by `split` (deployments left out get 0 %).

        Blocks until the endpoint routes by it. Idempotent: an unchanged split sends nothing.
        Raises UnknownDeployment for a name the endpoint lacks, InputError when a deployment
        with a share is the mirror target, EndpointError when the update fails.
        """

    @abstractmethod
    def get_mirror(self) -> MirrorTraffic:
        """The mirror setting the endpoint uses now (read each call, not cached).

        No side effects; raises EndpointError when the endpoint cannot be read.
        """

    @abstractmethod
    def set_mirror(self, mirror: MirrorTraffic) -> None:
        """Mirror a share of live requests to one deployment; `MirrorTraffic()` turns it off.

        Blocks until the endpoint mirrors by it. Idempotent: an unchanged mirror sends nothing.
        Raises UnknownDeployment for a target the endpoint lacks, InputError when the target
        receives live traffic, EndpointError when the update fails.
        """

    @abstractmethod
    def invoke(
        self,
        payload: Mapping[str, Any],
        *,
        deployment: str | None = None,
        request_id: str | None = None,
        timeout_seconds: float = 30.0,
        source: str | None = None,
    ) -> Invocation:
        """Send one scoring request (JSON body), to `deployment` or through the split.

        Blocks for one round trip, at most `timeout_seconds`. Not idempotent: every call is a
        request the endpoint logs and counts in `metrics`. `source` labels synthetic traffic
        ("smoke", "probe") so the prediction log can tell it from users' requests. Any HTTP
        answer, error or not, is returned as an Invocation (a client-side timeout as status
        504); raises UnknownDeployment for an unknown `deployment`, EndpointError when the
        endpoint cannot be reached at all.
        """

    @abstractmethod
    def metrics(self, deployment: str, window_seconds: float) -> DeploymentMetrics:
        """Request metrics of one deployment over the last `window_seconds`.

        One read of the metrics provider, no side effects (safe to repeat). Raises
        UnknownDeployment for a name the endpoint lacks, MetricsUnavailable when the provider
        fails or answers something unusable.
        """


_NAME_CHARS = re.compile(r"[^a-z0-9-]+")
_MAX_DEPLOYMENT_NAME = 32  # Azure ML: 3–32 characters, a letter first, letters digits and -


def deployment_name(model_name: str, version: str | int) -> str:
    """The deployment that serves `model_name` version `version`: `<model>-v<version>`.

    Valid on Azure ML too: lowercase letters, digits and hyphens, a letter first, ≤ 32 characters
    (the model part is shortened, never the version).
    """
    suffix = f"-v{version}"
    stem = _NAME_CHARS.sub("-", model_name.lower()).strip("-") or "model"
    if not stem[0].isalpha():
        stem = f"m-{stem}"
    stem = stem[: _MAX_DEPLOYMENT_NAME - len(suffix)].rstrip("-")
    return f"{stem}{suffix}"


def scoring_payload(
    rows: list[Mapping[str, Any]], columns: list[str] | None = None
) -> dict[str, Any]:
    """An Azure ML scoring body (`input_data` in split orientation) for rows given as dicts."""
    cols = columns if columns is not None else (list(rows[0]) if rows else [])
    return {
        "input_data": {
            "columns": cols,
            "index": list(range(len(rows))),
            "data": [[row.get(c) for c in cols] for row in rows],
        }
    }
