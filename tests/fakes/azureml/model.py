"""Plain data of the fake Azure ML service: recorded requests, answers, errors and state records."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.azureml.service import FakeAzureML

ARM_HOST = "management.azure.com"
METRICS_HOST_SUFFIX = ".metrics.monitor.azure.com"
ONLINE_ENDPOINT_METRICS = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
LOOPBACK_SCORING_PREFIX = "/_scoring"
PROVIDER = "Microsoft.MachineLearningServices"
TERMINAL_JOB_STATUSES = frozenset({"Completed", "Failed", "Canceled", "NotResponding", "Paused"})
DEFAULT_JOB_STATUSES = ("Queued", "Running", "Completed")

# (json body, headers) -> (status, body[, headers]); body may be any JSON value, str or bytes.
ScoringHandler = Callable[[Any, dict[str, str]], tuple[Any, ...]]


def now() -> str:
    """The current UTC time as the service writes it (ISO 8601 with microseconds and ``Z``)."""
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def error_body(code: str, message: str, *, inner: str | None = None) -> dict[str, Any]:
    """An ARM error document; ``inner`` becomes ``innerError.code``."""
    error: dict[str, Any] = {"code": code, "message": message, "details": [], "additionalInfo": []}
    if inner:
        error["innerError"] = {"code": inner}
    return {"error": error}


def version_key(v: str) -> tuple[int, int | str]:
    """Sort key of asset versions: numeric versions in numeric order, then the others."""
    return (0, int(v)) if v.isdigit() else (1, v)


@dataclass
class RecordedRequest:
    """One request the fake received."""

    method: str
    url: str
    host: str
    path: str  # percent-decoded
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes | None
    json: Any = None

    def __repr__(self) -> str:
        return f"<{self.method} {self.host}{self.path}>"


@dataclass
class FakeResponse:
    """One answer: status, body (JSON value, str, bytes or None) and headers."""

    status: int
    body: Any = None  # JSON value, str, bytes or None
    headers: dict[str, str] = field(default_factory=dict)

    def content(self) -> bytes:
        """The body as bytes (JSON values serialised)."""
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


class HttpError(Exception):
    """Raised inside handlers to answer with an ARM-format error."""

    def __init__(self, status: int, code: str, message: str, *, inner: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.inner = inner


@dataclass
class JobScript:
    """How a job evolves: one status per read (GET of the job or of its run details); the last
    status sticks.  Reads the SDK makes internally (after a cancel, an update) count too."""

    statuses: list[str] = field(default_factory=lambda: list(DEFAULT_JOB_STATUSES))
    error_code: str = "UserError"
    error_message: str | None = None
    # merged into properties.properties once the job is terminal (e.g. best_child_run_id for sweeps)
    properties: dict[str, str] = field(default_factory=dict)
    children: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Job:
    """A submitted job and where it is in its script."""

    name: str
    body: dict[str, Any]
    script: JobScript
    index: int = -1  # -1: the state PUT answered with (NotStarted)
    canceled: bool = False
    created_at: str = field(default_factory=now)

    @property
    def status(self) -> str:
        if self.canceled:
            return "Canceled"
        if self.index < 0:
            return "NotStarted"
        return self.script.statuses[min(self.index, len(self.script.statuses) - 1)]

    def advance(self) -> None:
        if not self.canceled and self.status not in TERMINAL_JOB_STATUSES:
            self.index += 1


@dataclass
class Operation:
    """A long-running operation; each poll counts ``polls_left`` down, then it ends."""

    id: str
    polls_left: int
    on_success: Callable[[], None] | None = None
    on_failure: Callable[[], None] | None = None
    error: dict[str, Any] | None = None  # {"code":..., "message":...} when it ends Failed
    status: str = "InProgress"
    target: tuple[str, str] | None = None  # (endpoint, deployment) the operation updates
    start: str = field(default_factory=now)
    end: str | None = None


@dataclass
class ProvisioningFault:
    """How the next create/update of an endpoint or deployment fails."""

    code: str
    message: str
    polls: int = 1  # operation polls answered InProgress before it fails
    persistent: bool = False


@dataclass
class SubmitFault:
    """An ARM error the next job submissions get."""

    status: int
    code: str
    message: str
    inner: str | None
    times: int | None  # None: every submission


@dataclass
class ScoringFault:
    """An answer the next scoring calls get instead of the model's."""

    status: int
    body: Any
    headers: dict[str, str]
    times: int | None


@dataclass
class MetricsFault:
    """An error the next Azure Monitor metrics queries get."""

    status: int
    code: str
    message: str
    times: int | None


@dataclass
class PendingScoring:
    """A routed scoring request, answered outside the fake's lock (a slow model must not stall
    the control plane, the metrics API or the other scoring requests)."""

    fake: FakeAzureML
    endpoint: str
    request: RecordedRequest
    target: str
    mirror: str | None

    def run(self) -> FakeResponse:
        if self.mirror is not None:
            # ASSUMPTION: the service mirrors asynchronously; here the copy is scored first.
            self.fake._score(self.endpoint, self.mirror, self.request, mirrored=True)
        return self.fake._score(self.endpoint, self.target, self.request, mirrored=False)
