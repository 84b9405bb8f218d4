"""The compute interface: run one training job to a terminal state and say how it ended.

A `ComputeBackend` takes a `TrainingJob` (the user's command, its parameters, where MLflow
tracks, the lineage tags) and returns a `TrainingOutcome`. Two implementations exist:
`local_compute.LocalCompute` (a subprocess on this machine) and `azureml_compute.AzureMLCompute`
(an Azure ML command or sweep job). Both honour the training contract: the command runs with
`MLFLOW_TRACKING_URI` and `MLFLOW_RUN_ID` set, so one script works in both places.

The interface also states what differs between backends, so the training step never asks which
backend it has: who creates and closes the MLflow run (`creates_run`), whether sweeps run
(`supports_sweep`), which experiment runs go to (`experiment_name`) and where a model is when
the run cannot be read from the tracking store (`fallback_model_uri`).

This module imports only the standard library.
"""

from __future__ import annotations

import re
import secrets
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TextIO

ParamValue = str | int | float | bool
JobStatus = Literal["completed", "failed", "canceled", "timed-out"]


def format_param(value: ParamValue) -> str:
    """How a parameter value is written on a command line and in MLflow (`true`, `0.5`, `500`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def slug(text: str) -> str:
    """`text` as a lowercase name of letters, digits, `-` and `_` (`model` when nothing is left)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-").lower() or "model"


def default_job_name(model: str) -> str:
    """`credit-default-20250101-120000-1a2b`: sortable, unique, a valid Azure ML job name."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{slug(model)}-{stamp}-{secrets.token_hex(2)}"


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


class ComputeBackend(ABC):
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
    - `check`, `describe`, `experiment_name` and `fallback_model_uri` run nothing and send
      nothing; they can be called any number of times.
    """

    name: str
    """The backend's name in messages, lineage tags and outputs (`local`, `azureml`)."""
    creates_run: bool
    """True when the service creates the MLflow run the command logs to and closes it (the
    outcome's `run_id`); False when the caller creates it, passes it as `job.run_id`, and
    logs the parameters and the log file and marks it terminated once `run` has returned."""
    supports_sweep: bool
    """Whether `train.sweep` is honoured; when False the job runs once with its parameters."""

    @abstractmethod
    def run(self, job: TrainingJob, *, log: TextIO) -> TrainingOutcome:
        """Run `job` to a terminal state, streaming its log to `log`."""

    @abstractmethod
    def check(self, job: TrainingJob) -> None:
        """Validate the job offline, without running anything; raises InputError."""

    @abstractmethod
    def describe(self, job: TrainingJob) -> str:
        """What `run` would do, validated offline (for `--dry-run`); raises InputError."""

    @abstractmethod
    def experiment_name(self, default: str) -> str:
        """The MLflow experiment the job's run goes to: the backend's own setting, else
        `default` (`train.experiment`, else the model name)."""

    @abstractmethod
    def fallback_model_uri(self, run_id: str, artifact: str) -> str | None:
        """Where the model logged as `artifact` by run `run_id` can be read when the tracking
        store cannot read the run (the service tracks elsewhere); None when it cannot, and
        not reading the run is then an error."""
