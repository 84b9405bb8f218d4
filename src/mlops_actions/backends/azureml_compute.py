"""Azure ML compute: the training command as an Azure ML command job, or a sweep of them.

The job is built with azure-ai-ml from `train.azureml` (compute or serverless instance type, a
registered environment or one built from the lock, inputs as data asset references or URIs) and
validated offline before anything is sent. Parameters become job inputs, passed to the command as
`--key ${{inputs.key}}`, so a sweep can vary them. Azure ML creates the MLflow run itself: the
job's name is the run id (for a sweep, the best trial's run holds the model).

Waiting: the job's log is streamed (`jobs.stream`), then the job is polled with a growing interval
until the service reports a terminal state. SIGINT/SIGTERM while waiting cancel the job on the
service. Authentication is `DefaultAzureCredential` (OIDC through azure/login in workflows); an
`MLClient` can be injected instead (tests pass one wired to a fake service).
"""

from __future__ import annotations

import io
import json
import math
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Literal, TextIO

from mlops_actions.backends.azureml_common import auth_failure as _auth_failure
from mlops_actions.backends.azureml_common import first_line as _first_line
from mlops_actions.backends.azureml_common import is_quota_error, workspace_client
from mlops_actions.backends.azureml_common import quiet_sdk_notices as _quiet_sdk_notices
from mlops_actions.backends.azureml_common import service_failure as _service_failure
from mlops_actions.backends.azureml_common import service_message as _service_message
from mlops_actions.backends.azureml_environment import environment_from_lock
from mlops_actions.backends.compute import (
    ComputeBackend,
    TrainingJob,
    TrainingOutcome,
    format_param,
)
from mlops_actions.errors import BackendError, InputError
from mlops_actions.redact import mask_uri, redact_uri, redacting

_TERMINAL = {"Completed", "Failed", "Canceled", "NotResponding", "Paused"}
_INPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class SearchDimension:
    """One hyperparameter of a sweep. For `loguniform`, min and max are the values themselves
    (not their logarithms); `randint` draws integers in [0, max)."""

    type: Literal["choice", "uniform", "loguniform", "randint"]
    values: tuple[str | int | float, ...] = ()
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class SweepSpec:
    """A hyperparameter search over the job's parameters."""

    search_space: dict[str, SearchDimension]
    metric: str
    goal: Literal["maximize", "minimize"] = "maximize"
    max_trials: int = 10
    max_concurrent_trials: int = 2
    sampling: Literal["random", "grid", "bayesian"] = "random"


@dataclass(frozen=True)
class AzureMLSpec:
    """Where and how the job runs on Azure ML (from `train.azureml`)."""

    subscription_id: str
    resource_group: str
    workspace: str
    compute: str | None = None
    instance_type: str | None = None
    environment: str | None = None
    """A registered environment (`name:version`, `name@latest` or an ARM id); None builds one
    from `requirements` so training and serving use the same library versions."""
    requirements: tuple[str, ...] = ()
    """Pins (`name==version`) for the environment built when `environment` is None."""
    environment_name: str = "mlops-training"
    inputs: dict[str, str] = field(default_factory=dict)
    """Input name → data asset reference (`azureml:name:version`) or URI; an optional
    `uri_file:` / `uri_folder:` / `mltable:` prefix sets the input type."""
    sweep: SweepSpec | None = None
    experiment_name: str | None = None
    """The MLflow experiment of the job (`train.azureml.experiment_name`); None: the default."""


@dataclass(frozen=True)
class PollPolicy:
    """How often the job's state is read once its log stream has ended."""

    initial: float = 2.0
    factor: float = 1.6
    maximum: float = 30.0
    slack_seconds: float = 900.0
    """How long past the job's own timeout we keep waiting before canceling it ourselves."""


# ---------------------------------------------------------------- the backend


class _Interrupted(BaseException):
    """Raised by our signal handler; a BaseException so no `except Exception` swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def default_client(spec: AzureMLSpec) -> Any:
    """The production MLClient: DefaultAzureCredential (OIDC via azure/login in workflows)."""
    return workspace_client(spec.subscription_id, spec.resource_group, spec.workspace)


class AzureMLCompute(ComputeBackend):
    """Runs the training command as an Azure ML job (see `ComputeBackend` for the contract).

    Azure ML creates the job's MLflow run itself (`creates_run`), and runs `spec.sweep`.
    """

    name = "azureml"
    creates_run = True
    supports_sweep = True

    def __init__(
        self,
        spec: AzureMLSpec,
        *,
        ml_client: Any | None = None,
        client_factory: Callable[[AzureMLSpec], Any] = default_client,
        poll: PollPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.spec = spec
        self._client = ml_client
        self._factory = client_factory
        self.poll = poll or PollPolicy()
        self._sleep = sleep

    @property
    def client(self) -> Any:
        """The MLClient, built on first use."""
        if self._client is None:
            self._client = self._factory(self.spec)
        return self._client

    def experiment_name(self, default: str) -> str:
        """`train.azureml.experiment_name` when set, else `default`."""
        return self.spec.experiment_name or default

    def fallback_model_uri(self, run_id: str, artifact: str) -> str | None:
        """The job's MLflow artifacts on Azure ML, which a model can be registered from when
        the workspace's MLflow is not the configured store (or not reachable from here)."""
        return f"azureml://jobs/{run_id}/outputs/artifacts/paths/{artifact}"

    # ------------------------------------------------------------------ building

    def input_names(self, job: TrainingJob) -> dict[str, str]:
        """Parameter key → job input name (`max-iter` → `max_iter`); raises InputError."""
        names: dict[str, str] = {}
        for key in job.params:
            name = re.sub(r"\W", "_", key)
            if not _INPUT_NAME.match(name):
                name = f"p_{name}"
            if name in names.values() or name in self.spec.inputs:
                raise InputError(
                    f"train.params: {key!r} clashes with another parameter or input as Azure ML "
                    f"input {name!r};",
                    hint="rename one of them.",
                )
            names[key] = name
        for name in self.spec.inputs:
            if not _INPUT_NAME.match(name):
                raise InputError(
                    f"train.azureml.inputs: {name!r} is not a valid input name;",
                    hint="use letters, digits and underscores, starting with a letter.",
                )
        return names

    def build(self, job: TrainingJob) -> Any:
        """The azure-ai-ml job entity (a command job, or a sweep over it); offline."""
        from azure.ai.ml import Input, command

        _quiet_sdk_notices()
        names = self.input_names(job)
        cmd = job.command
        inputs: dict[str, Any] = {}
        for key, value in job.params.items():
            name = names[key]
            inputs[name] = value if not isinstance(value, bool) else format_param(value)
            if f"inputs.{name}}}}}" not in cmd:
                cmd += f" --{key} ${{{{inputs.{name}}}}}"
        for name, ref in self.spec.inputs.items():
            kind, path = _input_kind(ref)
            inputs[name] = Input(type=kind, path=path)
            if f"inputs.{name}}}}}" not in cmd:
                cmd += f" --{name} ${{{{inputs.{name}}}}}"
        env = dict(job.env)
        if self.spec.sweep is not None:
            env.pop("MLOPS_PARAMS", None)  # each trial gets other values: only its inputs hold
        entity = command(
            name=job.job_name,
            display_name=job.experiment,
            command=cmd,
            code=str(job.working_dir),
            inputs=inputs,
            environment=self._environment(),
            environment_variables=env or None,
            compute=self.spec.compute,
            instance_type=self.spec.instance_type if not self.spec.compute else None,
            experiment_name=job.experiment,
            tags=dict(job.tags),
        )
        entity.set_limits(timeout=max(60, int(job.timeout_seconds)))
        if self.spec.sweep is None:
            return entity
        return self._sweep(entity, self.spec.sweep, names, job)

    def _sweep(self, entity: Any, sweep: SweepSpec, names: dict[str, str], job: TrainingJob) -> Any:
        """The sweep over the command job `entity`; raises InputError for a search dimension
        that is not a parameter of the job or is not a valid distribution."""
        space: dict[str, Any] = {}
        for key, dim in sweep.search_space.items():
            if key not in names:
                raise InputError(
                    f"train.sweep.search_space.{key}: not a parameter of the job;",
                    hint=f"add `{key}: …` under train.params (its default) or remove it here.",
                )
            space[names[key]] = _distribution(key, dim)
        goal = "Maximize" if sweep.goal == "maximize" else "Minimize"
        swept = entity(**space).sweep(
            sampling_algorithm=sweep.sampling,
            primary_metric=sweep.metric,
            goal=goal,
            compute=self.spec.compute,
        )
        swept.set_limits(
            max_total_trials=sweep.max_trials,
            max_concurrent_trials=sweep.max_concurrent_trials,
            timeout=max(60, int(job.timeout_seconds)),
        )
        swept.name = job.job_name
        swept.display_name = job.experiment
        swept.experiment_name = job.experiment
        swept.tags = dict(job.tags)
        return swept

    def _environment(self) -> Any:
        ref = (self.spec.environment or "").strip()
        if not ref:
            return environment_from_lock(self.spec.environment_name, list(self.spec.requirements))
        if ref.startswith("azureml:") and "@" in ref and not ref.startswith("azureml://"):
            ref = ref[len("azureml:") :]  # the SDK resolves labels only without the prefix
        if "@" not in ref and not ref.startswith(("azureml:", "/")):
            ref = f"azureml:{ref}"
        return ref

    def validate(self, entity: Any) -> None:
        """Offline checks of the job entity; raises InputError with the SDK's reason."""
        from azure.ai.ml.exceptions import ValidationException

        try:
            job = entity._to_job() if hasattr(entity, "_to_job") else entity
            # a command job validates its `${{inputs.…}}` references; a sweep node its search
            # space, objective and limits
            result = job._validate() if hasattr(job, "_validate") else entity._validate()
        except ValidationException as exc:
            raise InputError(
                f"the Azure ML job is invalid: {_first_line(exc)};",
                hint="fix train.command / train.azureml in mlops.yaml.",
            ) from None
        if result is not None and not getattr(result, "passed", True):
            raise InputError(
                f"the Azure ML job is invalid: {result.error_messages};",
                hint="fix train.azureml / train.sweep in mlops.yaml.",
            )

    def check(self, job: TrainingJob) -> None:
        """Build and validate the job offline; raises InputError."""
        self.validate(self.build(job))

    def describe(self, job: TrainingJob) -> str:
        """The job as Azure ML YAML, validated offline; nothing is sent."""
        entity = self.build(job)
        self.validate(entity)
        buffer = io.StringIO()
        target = entity._to_job() if hasattr(entity, "_to_job") else entity
        target.dump(buffer)
        return buffer.getvalue()

    # ------------------------------------------------------------------ running

    def run(self, job: TrainingJob, *, log: TextIO) -> TrainingOutcome:
        """Submit (or attach to) the job, stream its log, wait for a terminal state."""
        entity = self.build(job)
        self.validate(entity)
        started = time.monotonic()
        client = self.client
        name, url = self._start(client, job, entity, log)
        error = ""
        deadline = started + job.timeout_seconds + self.poll.slack_seconds
        try:
            with _signals_interrupt():
                error = self._stream(client, name, log)
                status, final = self._wait(client, name, deadline)
        except _Interrupted as sig:
            self._cancel(client, name, log)
            return TrainingOutcome(
                "canceled",
                name,
                name,
                job_url=url,
                message=f"canceled by {signal.Signals(sig.signum).name}: Azure ML job {name} "
                "was canceled on the service",
                duration_seconds=time.monotonic() - started,
            )
        duration = time.monotonic() - started
        if status is None:
            self._cancel(client, name, log)
            return TrainingOutcome(
                "timed-out",
                name,
                name,
                job_url=url,
                message=f"Azure ML job {name} did not finish within its timeout and was canceled;"
                " raise train.timeout_minutes (or --timeout-minutes) if it needs longer",
                duration_seconds=duration,
            )
        return self._ended(client, name, url, status, final, error, duration)

    def _start(self, client: Any, job: TrainingJob, entity: Any, log: TextIO) -> tuple[str, str]:
        """(name, studio URL) of the job: the existing job called `job.job_name`, else a newly
        submitted one. The URL is masked in every later output."""
        submitted = self._existing(client, job.job_name) if job.job_name else None
        if submitted is None:
            submitted = self._submit(client, entity)
        else:
            log.write(f"attaching to the existing Azure ML job {submitted.name}\n")
        name = str(submitted.name)
        url = str(getattr(submitted, "studio_url", "") or "")
        mask_uri(url)
        log.write(f"Azure ML job {name}: {redact_uri(url)}\n")
        log.flush()
        return name, url

    def _ended(
        self, client: Any, name: str, url: str, status: str, final: Any, error: str, duration: float
    ) -> TrainingOutcome:
        """The outcome of a job the service reports in terminal state `status`."""
        if status == "Completed":
            properties = dict(getattr(final, "properties", None) or {})
            best = properties.get("best_child_run_id")
            return TrainingOutcome(
                "completed", str(best or name), name, job_url=url, duration_seconds=duration
            )
        if status == "Canceled":
            return TrainingOutcome(
                "canceled",
                name,
                name,
                job_url=url,
                message=f"Azure ML job {name} was canceled on the service",
                duration_seconds=duration,
            )
        reason = error or self._service_error(client, name) or f"the job ended {status}"
        return TrainingOutcome(
            "failed",
            name,
            name,
            job_url=url,
            log_tail=reason,
            message=f"Azure ML job {name} failed: {reason}",
            duration_seconds=duration,
        )

    def _existing(self, client: Any, name: str) -> Any | None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            return client.jobs.get(name)
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise _service_failure(exc, "read the job") from None

    def _submit(self, client: Any, entity: Any) -> Any:
        from azure.ai.ml.exceptions import MlException, ValidationException
        from azure.core.exceptions import (
            AzureError,
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
        )

        try:
            return client.jobs.create_or_update(entity)
        except ValidationException as exc:
            raise InputError(
                f"the Azure ML job is invalid: {_first_line(exc)};",
                hint="fix train.command / train.azureml in mlops.yaml.",
            ) from None
        except ClientAuthenticationError as exc:
            raise _auth_failure(exc) from None
        except ResourceNotFoundError as exc:
            raise self._not_found(_service_message(exc)) from None
        except MlException as exc:
            text = _service_message(exc)
            if "does not exist" in text or "not found" in text.lower():
                raise self._not_found(text) from None
            raise BackendError(
                f"Azure ML rejected the job: {text};",
                hint="run `mlops train --backend azureml --dry-run` to inspect the job spec.",
            ) from None
        except HttpResponseError as exc:
            text = _service_message(exc)
            if is_quota_error(exc):
                where = self.spec.instance_type or self.spec.compute or "the compute"
                raise BackendError(
                    f"Azure ML has no quota for this job: {text};",
                    hint=f"request more quota for {where} in the Azure portal (Quotas), or pick "
                    "another train.azureml.compute / instance_type.",
                ) from None
            raise BackendError(
                f"Azure ML rejected the job ({exc.status_code}): {text};",
                hint="run `mlops train --backend azureml --dry-run` to inspect the job spec.",
            ) from None
        except AzureError as exc:
            raise _service_failure(exc, "submit the job") from None

    def _not_found(self, text: str) -> InputError:
        lowered = text.lower()
        spec = self.spec
        if "compute" in lowered or (spec.compute and spec.compute.lower() in lowered):
            key, what = "train.azureml.compute", f"a compute cluster of workspace {spec.workspace}"
        elif "environment" in lowered or (
            spec.environment and spec.environment.split("@")[0].split(":")[-1].lower() in lowered
        ):
            key, what = "train.azureml.environment", "a registered environment (name:version)"
        elif "data" in lowered:
            key, what = "train.azureml.inputs", "existing data assets or reachable URIs"
        else:
            key, what = "train.azureml", "resources that exist in the workspace"
        return InputError(
            f"Azure ML: {text.rstrip('.')};", hint=f"set {key} in mlops.yaml to {what}."
        )

    def _stream(self, client: Any, name: str, log: TextIO) -> str:
        """Stream the job's log to `log` until the service stops sending it; returns the
        service's error message when the job failed ('' otherwise)."""
        from azure.ai.ml.exceptions import JobException
        from azure.core.exceptions import AzureError

        try:
            with redirect_stdout(redacting(log)):  # the SDK prints URIs ("Web View: …")
                client.jobs.stream(name)
        except JobException as exc:
            return _job_error_message(exc)
        except (AzureError, OSError, ValueError) as exc:  # the log is a convenience: keep waiting
            log.write(f"log streaming stopped ({type(exc).__name__}); waiting for the job\n")
        return ""

    def _wait(self, client: Any, name: str, deadline: float) -> tuple[str | None, Any]:
        """Poll until terminal, with a growing interval; (None, None) past the deadline."""
        from azure.core.exceptions import AzureError

        delay = self.poll.initial
        while True:
            try:
                current = client.jobs.get(name)
            except AzureError as exc:
                raise _service_failure(exc, f"read the state of job {name}") from None
            status = str(getattr(current.status, "value", current.status))
            if status in _TERMINAL:
                return status, current
            if time.monotonic() > deadline:
                return None, None
            self._sleep(delay)
            delay = min(delay * self.poll.factor, self.poll.maximum)

    def _cancel(self, client: Any, name: str, log: TextIO) -> None:
        """Cancel the job on the service and wait (briefly) until it says so."""
        from azure.core.exceptions import AzureError

        log.write(f"canceling Azure ML job {name}\n")
        log.flush()
        try:
            client.jobs.begin_cancel(name).result()
            for _ in range(20):
                status = str(getattr(client.jobs.get(name).status, "value", ""))
                if status in _TERMINAL:
                    return
                self._sleep(self.poll.initial)
        except AzureError as exc:
            raise _service_failure(exc, f"cancel job {name}") from None

    def _service_error(self, client: Any, name: str) -> str:
        """The service's error for a failed job, read from its run details."""
        from azure.core.exceptions import AzureError

        try:
            details = client.jobs._runs_operations.get_run_details(name)
        except (AzureError, AttributeError):
            return ""
        error = getattr(details, "error", None)
        inner = getattr(error, "error", None)
        return str(getattr(inner, "message", "") or "")


def _distribution(key: str, dim: SearchDimension) -> Any:
    from azure.ai.ml.sweep import Choice, LogUniform, Randint, Uniform

    if dim.type == "choice":
        if not dim.values:
            raise InputError(
                f"train.sweep.search_space.{key}: choice needs values;",
                hint="add `values: [..]`.",
            )
        return Choice(list(dim.values))
    if dim.type == "randint":
        if dim.max is None or dim.max < 1:
            raise InputError(
                f"train.sweep.search_space.{key}: randint needs max ≥ 1;", hint="add `max: N`."
            )
        return Randint(upper=int(dim.max))
    if dim.min is None or dim.max is None or dim.min >= dim.max:
        raise InputError(
            f"train.sweep.search_space.{key}: {dim.type} needs min < max;",
            hint="add `min:` and `max:`.",
        )
    if dim.type == "uniform":
        return Uniform(min_value=dim.min, max_value=dim.max)
    if dim.min <= 0:
        raise InputError(
            f"train.sweep.search_space.{key}: loguniform needs min > 0;",
            hint="give min and max as the values themselves, e.g. min: 0.001, max: 10.",
        )
    return LogUniform(min_value=math.log(dim.min), max_value=math.log(dim.max))


def _input_kind(ref: str) -> tuple[str, str]:
    for kind in ("uri_file", "uri_folder", "mltable"):
        if ref.startswith(f"{kind}:"):
            return kind, ref[len(kind) + 1 :]
    last = ref.rstrip("/").rsplit("/", 1)[-1]
    if ref.startswith("azureml:") and not ref.startswith("azureml://"):
        return "uri_folder", ref  # a data asset reference
    return ("uri_file" if "." in last and not ref.endswith("/") else "uri_folder"), ref


def _job_error_message(exc: BaseException) -> str:
    """The error message inside the JSON that JobException carries."""
    text = str(getattr(exc, "message", "") or exc)
    start = text.find("{")
    if start >= 0:
        try:
            payload = json.loads(text[start : text.rfind("}") + 1])
            message = payload.get("error", {}).get("message") or payload.get("message")
            if message:
                return str(message)
        except (ValueError, AttributeError):
            pass
    return _first_line(exc)


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """While inside, SIGINT/SIGTERM raise `_Interrupted` (so the job can be canceled)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise _Interrupted(signum)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
