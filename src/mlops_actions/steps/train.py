"""Step 3, train-azureml: run the user's training command and record where the model came from.

The step resolves the parameters (`train.params`, overridden by `--param`), collects the lineage
tags, creates the MLflow run (Azure ML creates its own: the job's run), runs the command on the
chosen compute backend with `MLFLOW_TRACKING_URI` and `MLFLOW_RUN_ID` set, and then finds the
model the command logged (the LoggedModel whose source run is the run). With `reproduce`, it
first checks that the working tree and the data are those recorded on the original run, re-runs
with the recorded parameters, and compares the metrics.

Errors: InputError (exit 2) for anything a user must fix — unknown backend, missing Azure
settings, a command that does not exist, a script that logged no model, a run that cannot be
reproduced from this tree; BackendError (exit 3) when MLflow or Azure ML fail. A command that
fails, times out or is canceled is a result with `passed` False (exit 1).
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from mlops_actions import lineage
from mlops_actions.backends.compute import (
    ComputeBackend,
    JobStatus,
    ParamValue,
    TrainingJob,
    TrainingOutcome,
    default_job_name,
    format_param,
)
from mlops_actions.errors import InputError
from mlops_actions.mlflow_errors import mlflow_failure
from mlops_actions.redact import redact_text, redact_uri
from mlops_actions.reproduction import (
    Reproduction,
    check_reproducible,
    compare_metrics,
    original_run,
)

if TYPE_CHECKING:
    from mlops_actions.config import Settings

DEFAULT_TOLERANCE = 1e-6
MODEL_ARTIFACT = "model"


@dataclass(frozen=True)
class TrainRequest:
    """What the caller asked for beyond mlops.yaml: the flags that are not settings.

    Where to train, the timeout and the lock file are settings (`train.backend`,
    `train.timeout_minutes`, `train.lock_file`), which the command's flags override.
    """

    params: dict[str, str] = field(default_factory=dict)
    """`--param key=value` overrides; values are parsed like YAML scalars (1, 0.5, true, text)."""
    dry_run: bool = False
    reproduce: str | None = None
    tolerance: float = DEFAULT_TOLERANCE
    job_name: str | None = None


@dataclass(frozen=True)
class TrainingResult:
    """What one training step produced (the action's outputs, and the report)."""

    backend: str
    status: JobStatus
    run_id: str
    model_uri: str
    job_name: str
    job_url: str
    experiment: str
    tracking_uri: str
    metrics: dict[str, float]
    params: dict[str, ParamValue]
    tags: dict[str, str]
    message: str = ""
    log_tail: str = ""
    duration_seconds: float = 0.0
    overhead_seconds: float = 0.0
    """Time the step spent outside the training command (imports excluded)."""
    warnings: tuple[str, ...] = ()
    reproduction: Reproduction | None = None

    @property
    def passed(self) -> bool:
        return self.status == "completed" and (
            self.reproduction is None or self.reproduction.passed
        )


@dataclass(frozen=True)
class DryRun:
    """`--dry-run`: what would run, validated offline."""

    backend: str
    spec: str


@dataclass(frozen=True)
class _Finished:
    """How the run was closed: the model it logged, its metrics, and what to warn about."""

    model_uri: str
    metrics: dict[str, float]
    warnings: list[str]


# ---------------------------------------------------------------- parameters


def parse_param_value(raw: str) -> ParamValue:
    """A `--param` value as YAML would read it: 1 → int, 0.5 → float, true → bool, else text."""
    text = raw.strip()
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    try:
        value = float(text)
    except ValueError:
        return raw
    return value if math.isfinite(value) else raw


def parse_param_flags(flags: list[str]) -> dict[str, str]:
    """`["C=0.5", "max-iter=100"]` → dict; raises InputError for an item without `=`."""
    parsed: dict[str, str] = {}
    for item in flags:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(
                f"--param {item!r} is not KEY=VALUE;", hint="write it as e.g. --param C=0.5."
            )
        parsed[key.strip()] = value
    return parsed


def resolve_params(
    configured: dict[str, ParamValue], overrides: dict[str, str]
) -> dict[str, ParamValue]:
    """`train.params` with `--param` overrides applied (new keys are added at the end)."""
    params = dict(configured)
    for key, raw in overrides.items():
        params[key] = parse_param_value(raw)
    return params


def _params_env(params: dict[str, Any]) -> dict[str, str]:
    """`MLOPS_PARAMS`: the parameters as the command receives them, for scripts that read JSON."""
    return {"MLOPS_PARAMS": json.dumps({k: format_param(v) for k, v in params.items()})}


# ---------------------------------------------------------------- the step


def run_training(
    settings: Settings,
    request: TrainRequest,
    *,
    log: TextIO,
    backend: ComputeBackend | None = None,
) -> TrainingResult | DryRun:
    """Train once (or reproduce a run); blocks until the job is in a terminal state.

    `backend` defaults to the one `train.backend` names. The command's log is streamed to `log`
    (collapsed in a group on GitHub Actions). Errors: see the module's docstring.
    """
    started = time.monotonic()
    if request.reproduce and request.params:
        raise InputError(
            "--param cannot be combined with --reproduce;",
            hint="a reproduction uses the parameters recorded on the original run.",
        )
    if backend is None:
        from mlops_actions.backends import factory

        backend = factory.open_compute(settings)
    job = _plan_job(settings, request, backend)
    if request.dry_run:
        return DryRun(backend.name, redact_text(backend.describe(job)))
    warnings: list[str] = []
    if settings.train.sweep is not None and not backend.supports_sweep:
        warnings.append(
            "train.sweep runs only on the azureml backend; trained once with train.params"
        )
    client = _client(job.tracking_uri)
    job, original = _with_lineage(client, settings, request, backend, job)
    outcome, ran, finished = _execute(client, backend, job, log)
    reproduction = None
    if original is not None and outcome.succeeded:
        reproduction = compare_metrics(original, finished.metrics, request.tolerance)
    total = time.monotonic() - started
    return TrainingResult(
        backend=backend.name,
        status=outcome.status,
        run_id=outcome.run_id,
        model_uri=finished.model_uri,
        job_name=outcome.job_name,
        job_url=redact_uri(outcome.job_url or _run_url(job.tracking_uri, client, outcome.run_id)),
        experiment=job.experiment,
        tracking_uri=job.tracking_uri,
        metrics=finished.metrics,
        params=job.params,
        tags=job.tags,
        message=outcome.message,
        log_tail=outcome.log_tail,
        duration_seconds=total,
        overhead_seconds=max(0.0, total - ran),
        warnings=tuple(warnings + finished.warnings),
        reproduction=reproduction,
    )


def _plan_job(settings: Settings, request: TrainRequest, backend: ComputeBackend) -> TrainingJob:
    """The job that the settings and the request describe, before lineage (what `--dry-run`
    shows): `train.params` with the `--param` overrides, the timeout, the experiment."""
    params = resolve_params(settings.train.params, request.params)
    return TrainingJob(
        command=settings.train.command,
        working_dir=settings.train.working_dir,
        params=params,
        tracking_uri=settings.resolved_tracking_uri(),
        experiment=backend.experiment_name(settings.train.experiment or settings.model.name),
        timeout_seconds=settings.train.timeout_minutes * 60,
        job_name=request.job_name,
        env=_params_env(params),
    )


def _with_lineage(
    client: Any,
    settings: Settings,
    request: TrainRequest,
    backend: ComputeBackend,
    job: TrainingJob,
) -> tuple[TrainingJob, Any | None]:
    """The job checked by the backend, with its lineage tags and name, and the original run
    of `--reproduce` (None without it), whose recorded parameters the job then uses.

    Raises InputError when the run cannot be reproduced from this tree or the backend rejects
    the job; BackendError when MLflow cannot read the original run.
    """
    original = None
    data = lineage.data_record(
        settings.data.train, rev=settings.data.dvc_rev, base=settings.base_dir
    )
    if request.reproduce:
        original = original_run(client, request.reproduce)
        check_reproducible(original, settings, data)
        recorded = lineage.recorded_params(original.data.tags, original.data.params)
        job = replace(job, params=dict(recorded), env=_params_env(recorded))
    backend.check(job)
    tags = lineage.collect_tags(
        code_dir=settings.train.working_dir,
        data=data,
        params=job.params,
        lock=settings.train.lock_file or lineage.default_lock_file(),
        backend=backend.name,
        command=settings.train.command,
    )
    if original is not None:
        tags[lineage.TAG_REPRODUCES] = original.info.run_id
    job_name = request.job_name or default_job_name(settings.model.name)
    return replace(job, tags=tags, job_name=job_name), original


def _execute(
    client: Any, backend: ComputeBackend, job: TrainingJob, log: TextIO
) -> tuple[TrainingOutcome, float, _Finished]:
    """Run the job and close its run: (outcome, seconds the command ran, what it left).

    When the backend does not create the run, it is created here first; if the job cannot
    start (or we are interrupted before it does) that run is marked FAILED and the error
    propagates.
    """
    from mlops_actions.github import runtime

    with tempfile.TemporaryDirectory(prefix="mlops-train-") as tmp:
        log_file = Path(tmp) / "train.log"
        if not backend.creates_run:
            assert job.job_name is not None
            run = _create_run(client, job.experiment, job.job_name, job.tags)
            job = replace(job, run_id=run, log_file=log_file)
        before = time.monotonic()
        try:
            with runtime.group(f"train ({backend.name}): {job.command}", log):
                outcome = backend.run(job, log=log)
        except BaseException:
            # the command could not start, or we were interrupted before it did: the run we
            # created must not stay RUNNING
            if job.run_id:
                with contextlib.suppress(Exception):
                    client.set_terminated(job.run_id, status="FAILED")
            raise
        ran = time.monotonic() - before
        finished = _finish(client, job, outcome, backend, log_file)
    return outcome, ran, finished


# ---------------------------------------------------------------- MLflow


def _client(tracking_uri: str) -> Any:
    import mlflow

    from mlops_actions.config import secure_sqlite_store

    secure_sqlite_store(tracking_uri)  # a new .mlops/mlflow.db is 0600 in a 0700 folder
    return mlflow.MlflowClient(tracking_uri=tracking_uri)


def _create_run(client: Any, experiment: str, run_name: str, tags: dict[str, str]) -> str:
    from mlflow.exceptions import MlflowException

    try:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            experiment_id = client.create_experiment(
                experiment, artifact_location=_artifact_location(client.tracking_uri)
            )
        elif found.lifecycle_stage == "deleted":
            raise InputError(
                f"MLflow experiment {experiment!r} is deleted;",
                hint="restore it (mlflow experiments restore) or set train.experiment.",
            )
        else:
            experiment_id = found.experiment_id
        run = client.create_run(experiment_id, tags=tags, run_name=run_name)
    except MlflowException as exc:
        raise mlflow_failure(exc, "create the run") from None
    return str(run.info.run_id)


def _artifact_location(tracking_uri: str) -> str | None:
    """For a sqlite store, artifacts go beside the database file (MLflow's default is
    ./mlruns in whatever folder the process happens to run from)."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    database = Path(tracking_uri[len("sqlite:///") :].split("?", 1)[0])
    return (database.resolve().parent / "mlruns").as_uri()


def _finish(
    client: Any,
    job: TrainingJob,
    outcome: TrainingOutcome,
    backend: ComputeBackend,
    log_file: Path,
) -> _Finished:
    """Close the run and find its model.

    A run created here (the backend does not create runs): parameters not logged by the
    command are logged, the log is attached as `train.log`, and the run is marked
    FAILED/KILLED when the command did not complete, FINISHED when the command left it
    running. When the tracking store cannot read the run, the backend's fallback model URI is
    used, with a warning. Raises InputError when a completed command logged no model;
    BackendError when MLflow fails.
    """
    from mlflow.exceptions import MlflowException

    run_id = outcome.run_id
    owned = not backend.creates_run
    if owned:
        _attach_params_and_log(client, job, run_id, log_file)
        if not outcome.succeeded:
            _terminate(client, run_id, "KILLED" if outcome.status == "canceled" else "FAILED")
            return _Finished("", _metrics(client, run_id), [])
    elif not outcome.succeeded:
        return _Finished("", {}, [])
    try:
        run = client.get_run(run_id)
    except (MlflowException, OSError, ValueError) as exc:
        fallback = backend.fallback_model_uri(run_id, MODEL_ARTIFACT)
        if fallback is None:
            raise mlflow_failure(exc, f"read run {run_id}") from None
        warning = (
            f"run {run_id} is not in the tracking store {redact_uri(job.tracking_uri)} "
            f"({type(exc).__name__}); model-uri points at the job's MLflow artifacts"
        )
        return _Finished(fallback, {}, [warning])
    model_uri = _logged_model(client, run)
    metrics = {k: float(v) for k, v in run.data.metrics.items()}
    if model_uri is None:
        if owned:
            _terminate(client, run_id, "FAILED")
        raise InputError(
            f"the training command finished but never logged a model to run {run_id};",
            hint=f"log it inside that run, e.g. mlflow.sklearn.log_model(model, "
            f"name={MODEL_ARTIFACT!r}) within "
            "mlflow.start_run(run_id=os.environ['MLFLOW_RUN_ID']).",
        )
    if owned and run.info.status == "RUNNING":
        _terminate(client, run_id, "FINISHED")
    return _Finished(model_uri, metrics, [])


def _attach_params_and_log(client: Any, job: TrainingJob, run_id: str, log_file: Path) -> None:
    """Log the parameters the command did not log itself, and attach the log as `train.log`."""
    from mlflow.entities import Param
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(run_id)
        missing = [
            Param(k, format_param(v)[:6000])
            for k, v in job.params.items()
            if k not in run.data.params
        ]
        if missing:
            client.log_batch(run_id, params=missing)
        if log_file.is_file() and log_file.stat().st_size:
            client.log_artifact(run_id, str(log_file))
    except MlflowException as exc:
        raise mlflow_failure(exc, f"update run {run_id}") from None


def _terminate(client: Any, run_id: str, status: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.set_terminated(run_id, status=status)
    except MlflowException as exc:
        raise mlflow_failure(exc, f"mark run {run_id} {status}") from None


def _metrics(client: Any, run_id: str) -> dict[str, float]:
    from mlflow.exceptions import MlflowException

    try:
        return {k: float(v) for k, v in client.get_run(run_id).data.metrics.items()}
    except MlflowException:
        return {}


def _logged_model(client: Any, run: Any) -> str | None:
    """The URI (models:/m-…) of the model the run logged; `model` first, else the newest."""
    from mlflow.exceptions import MlflowException

    try:
        models = list(
            client.search_logged_models(
                experiment_ids=[run.info.experiment_id],
                filter_string=f"source_run_id = '{run.info.run_id}'",
            )
        )
    except MlflowException as exc:
        raise mlflow_failure(exc, "search the run's logged models") from None
    if not models:
        return None
    models.sort(key=lambda m: (m.name == MODEL_ARTIFACT, m.creation_timestamp or 0), reverse=True)
    return str(models[0].model_uri)


def _run_url(tracking_uri: str, client: Any, run_id: str) -> str:
    """The MLflow UI page of the run when the tracking server has one (http URIs)."""
    if not tracking_uri.startswith(("http://", "https://")) or not run_id:
        return ""
    from mlflow.exceptions import MlflowException

    try:
        experiment_id = client.get_run(run_id).info.experiment_id
    except (MlflowException, OSError):
        return ""
    return f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
