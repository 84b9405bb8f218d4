"""The compute interface: run one training job to a terminal state and say how it ended.

A `ComputeBackend` takes a `TrainingJob` (the user's command, its parameters, where MLflow
tracks, the lineage tags) and returns a `TrainingOutcome`. Two implementations exist:
`local_compute.LocalCompute` (a subprocess on this machine) and `azureml_compute.AzureMLCompute`
(an Azure ML command or sweep job). Both honour the training contract: the command runs with
`MLFLOW_TRACKING_URI` and `MLFLOW_RUN_ID` set, so one script works in both places.

This module imports only the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, TextIO

ParamValue = str | int | float | bool
JobStatus = Literal["completed", "failed", "canceled", "timed-out"]


def format_param(value: ParamValue) -> str:
    """How a parameter value is written on a command line and in MLflow (`true`, `0.5`, `500`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class TrainingJob:
    """Everything a backend needs to run the user's training command once."""

    command: str
    """The user's command line (`train.command`), without the parameters."""
    working_dir: Path
    """Folder the command runs in; on Azure ML, the code snapshot that is uploaded."""
    params: dict[str, ParamValue]
    """Resolved hyperparameters, appended as `--key value` (keys as written)."""
    tracking_uri: str
    experiment: str
    timeout_seconds: float
    run_id: str | None = None
    """The MLflow run the command logs into; None lets the service create it (Azure ML: the
    job's own run, whose id is the job name)."""
    tags: dict[str, str] = field(default_factory=dict)
    """Lineage tags; a backend that creates the run (Azure ML) puts them on it."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment variables for the command."""
    job_name: str | None = None
    """A name for the job. With a name that already exists, a backend attaches to that job
    instead of starting another one (re-running a step after the runner died)."""
    log_file: Path | None = None
    """Where the backend writes the full log of the command, when it can."""


@dataclass(frozen=True)
class TrainingOutcome:
    """How a training job ended. Only returned once the job is in a terminal state."""

    status: JobStatus
    run_id: str
    """The MLflow run that holds the model: the job's run, or the best trial of a sweep."""
    job_name: str
    job_url: str = ""
    """Where a person can watch the job (Azure ML studio); empty for local runs."""
    exit_code: int | None = None
    log_tail: str = ""
    """The last lines of the job's log, for the report when it failed."""
    message: str = ""
    """Why the job did not complete (the service's error, the signal, the timeout)."""
    duration_seconds: float = 0.0

    @property
    def succeeded(self) -> bool:
        return self.status == "completed"


class ComputeBackend(Protocol):
    """Runs training jobs somewhere. Implementations state, and tests check, this behaviour:

    - `run` blocks until the job is in a terminal state (completed, failed, canceled or timed
      out) and never reports success before the job has finished. A job that fails or is
      canceled is an outcome, not an exception.
    - SIGINT and SIGTERM received while `run` waits cancel the job (the local process is sent
      the signal; an Azure ML job is canceled on the service) and `run` returns a `canceled`
      outcome once the job has stopped.
    - `run` is idempotent for a named job: when `job.job_name` names a job that already exists,
      the backend waits for that job instead of starting a second one.
    - Problems a user must fix (a command that does not exist, missing settings, a compute or
      environment the service does not know) raise `InputError` before anything runs; a
      backend that cannot be reached or refuses the job after retries raises `BackendError`.
    """

    name: str

    def run(self, job: TrainingJob, *, log: TextIO) -> TrainingOutcome:
        """Run `job` to a terminal state, streaming its log to `log`."""
        ...

    def check(self, job: TrainingJob) -> None:
        """Validate the job offline, without running anything; raises InputError."""
        ...

    def describe(self, job: TrainingJob) -> str:
        """What `run` would do, validated offline (for `--dry-run`); raises InputError."""
        ...
