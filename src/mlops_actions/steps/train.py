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
import secrets
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from mlops_actions import lineage
from mlops_actions.backends.compute import (
    ComputeBackend,
    JobStatus,
    ParamValue,
    TrainingJob,
    TrainingOutcome,
    format_param,
)
from mlops_actions.errors import BackendError, InputError
from mlops_actions.redact import redact_text, redact_uri

if TYPE_CHECKING:
    from mlops_actions.backends.azureml_compute import AzureMLSpec, PollPolicy
    from mlops_actions.config import Settings

BACKENDS = ("local", "azureml")
DEFAULT_TOLERANCE = 1e-6
MODEL_ARTIFACT = "model"


@dataclass(frozen=True)
class TrainRequest:
    """What the caller asked for on top of mlops.yaml (the command's flags)."""

    backend: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    """`--param key=value` overrides; values are parsed like YAML scalars (1, 0.5, true, text)."""
    timeout_minutes: float | None = None
    dry_run: bool = False
    reproduce: str | None = None
    tolerance: float = DEFAULT_TOLERANCE
    job_name: str | None = None
    lock_file: Path | None = None
    """The consumer's lock (requirements with pins); default: the mlops-actions lock."""


@dataclass(frozen=True)
class MetricDifference:
    """One metric of a reproduction against the original run."""

    name: str
    original: float
    reproduced: float | None

    @property
    def difference(self) -> float:
        return math.inf if self.reproduced is None else self.reproduced - self.original


@dataclass(frozen=True)
class Reproduction:
    """The verdict of `--reproduce`: every metric within `tolerance` of the original."""

    original_run_id: str
    tolerance: float
    metrics: tuple[MetricDifference, ...]

    @property
    def beyond_tolerance(self) -> tuple[MetricDifference, ...]:
        return tuple(m for m in self.metrics if not abs(m.difference) <= self.tolerance)

    @property
    def passed(self) -> bool:
        return not self.beyond_tolerance


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


# ---------------------------------------------------------------- backends


def make_backend(
    settings: Settings,
    name: str,
    request: TrainRequest,
    *,
    ml_client: Any | None = None,
    poll: PollPolicy | None = None,
    sleep: Any | None = None,
) -> ComputeBackend:
    """The compute backend called `name`; raises InputError for an unknown name or missing
    Azure settings. `ml_client` (Azure ML) replaces the client built with
    DefaultAzureCredential."""
    if name == "local":
        from mlops_actions.backends.local_compute import LocalCompute

        return LocalCompute()
    if name == "azureml":
        from mlops_actions.backends.azureml_compute import AzureMLCompute

        spec = azureml_spec(settings, request)
        kwargs: dict[str, Any] = {"ml_client": ml_client, "poll": poll}
        if sleep is not None:
            kwargs["sleep"] = sleep
        return AzureMLCompute(spec, **kwargs)
    raise InputError(
        f"unknown training backend {name!r} (--backend or train.backend);",
        hint=f"use one of: {', '.join(BACKENDS)}.",
    )


def azureml_spec(settings: Settings, request: TrainRequest) -> AzureMLSpec:
    """`train.azureml` as the Azure ML backend's spec; raises InputError naming a missing key."""
    from mlops_actions.backends.azureml_compute import (
        RUNTIME_PACKAGES,
        AzureMLSpec,
        SearchDimension,
        SweepSpec,
        installed_pins,
        lock_pins,
    )

    az = settings.train.azureml
    if az is None:
        raise InputError(
            "train.azureml is missing: the azureml backend needs it;",
            hint="add train.azureml with workspace (subscription_id, resource_group, workspace) "
            "and compute (or instance_type) to mlops.yaml.",
        )
    workspace = az.workspace or (
        settings.deploy.azureml.workspace if settings.deploy.azureml else None
    )
    if workspace is None:
        raise InputError(
            "train.azureml.workspace is missing;",
            hint="add subscription_id, resource_group and workspace under train.azureml.workspace "
            "(values may come from the environment: ${AZURE_SUBSCRIPTION_ID}).",
        )
    for key in ("subscription_id", "resource_group", "workspace"):
        if not str(getattr(workspace, key)).strip():
            raise InputError(
                f"train.azureml.workspace.{key} is empty;",
                hint="set it in mlops.yaml (or the environment variable it names).",
            )
    if not (az.compute or az.instance_type):
        raise InputError(
            "train.azureml.compute is missing;",
            hint="set train.azureml.compute to a compute cluster name, or "
            "train.azureml.instance_type for serverless compute.",
        )
    requirements: tuple[str, ...] = ()
    if not az.environment:
        if request.lock_file is not None:
            requirements = tuple(lock_pins(request.lock_file))
        else:
            ours = lineage.default_lock_file()
            pins = lock_pins(ours, only=RUNTIME_PACKAGES) if ours else installed_pins()
            requirements = tuple(pins)
    inputs = dict(az.inputs)
    train_data = settings.data.train
    if "train" not in inputs and train_data is not None:
        from mlops_actions.data import is_dvc_tracked

        if settings.data.dvc_rev is not None or is_dvc_tracked(train_data):
            from mlops_actions.backends.azureml_compute import dvc_input_uri

            inputs["train"] = "uri_file:" + dvc_input_uri(train_data, settings.data.dvc_rev)
    sweep = None
    if settings.train.sweep is not None:
        s = settings.train.sweep
        sweep = SweepSpec(
            search_space={
                key: SearchDimension(dim.type, tuple(dim.values or ()), dim.min, dim.max)
                for key, dim in s.search_space.items()
            },
            metric=s.metric,
            goal=s.goal,
            max_trials=s.max_trials,
            max_concurrent_trials=s.max_concurrent_trials,
            sampling=s.sampling,
        )
    return AzureMLSpec(
        subscription_id=workspace.subscription_id,
        resource_group=workspace.resource_group,
        workspace=workspace.workspace,
        compute=az.compute,
        instance_type=az.instance_type,
        environment=az.environment,
        requirements=requirements,
        environment_name=f"mlops-{_slug(settings.model.name)}",
        inputs=inputs,
        sweep=sweep,
    )


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-").lower() or "model"


def default_job_name(model: str) -> str:
    """`credit-default-20250101-120000-1a2b`: sortable, unique, a valid Azure ML job name."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{_slug(model)}-{stamp}-{secrets.token_hex(2)}"


# ---------------------------------------------------------------- the step


def run_training(
    settings: Settings,
    request: TrainRequest,
    *,
    log: TextIO,
    backend: ComputeBackend | None = None,
) -> TrainingResult | DryRun:
    """Train once (or reproduce a run); blocks until the job is in a terminal state.

    The command's log is streamed to `log` (collapsed in a group on GitHub Actions).
    """
    started = time.monotonic()
    name = request.backend or settings.train.backend
    if name not in BACKENDS:
        raise InputError(
            f"unknown training backend {name!r} (--backend or train.backend);",
            hint=f"use one of: {', '.join(BACKENDS)}.",
        )
    if request.reproduce and request.params:
        raise InputError(
            "--param cannot be combined with --reproduce;",
            hint="a reproduction uses the parameters recorded on the original run.",
        )
    backend = backend or make_backend(settings, name, request)
    tracking_uri = settings.resolved_tracking_uri()
    experiment = settings.train.experiment or settings.model.name
    if backend.name == "azureml" and settings.train.azureml is not None:
        experiment = settings.train.azureml.experiment_name or experiment
    timeout_minutes = (
        request.timeout_minutes
        if request.timeout_minutes is not None
        else settings.train.timeout_minutes
    )
    if timeout_minutes <= 0:
        raise InputError(
            f"--timeout-minutes {timeout_minutes:g} must be positive;", hint="e.g. 60."
        )
    warnings: list[str] = []
    if settings.train.sweep is not None and backend.name == "local":
        warnings.append(
            "train.sweep runs only on the azureml backend; trained once with train.params"
        )
    params = resolve_params(settings.train.params, request.params)
    job = TrainingJob(
        command=settings.train.command,
        working_dir=settings.train.working_dir,
        params=params,
        tracking_uri=tracking_uri,
        experiment=experiment,
        timeout_seconds=timeout_minutes * 60,
        job_name=request.job_name,
        env={"MLOPS_PARAMS": json.dumps({k: format_param(v) for k, v in params.items()})},
    )
    if request.dry_run:
        return DryRun(backend.name, redact_text(backend.describe(job)))

    client = _client(tracking_uri)
    original = None
    data = lineage.data_record(
        settings.data.train, rev=settings.data.dvc_rev, base=settings.base_dir
    )
    if request.reproduce:
        original = _original_run(client, request.reproduce)
        _check_reproducible(original, settings, data)
        recorded = lineage.recorded_params(original.data.tags, original.data.params)
        params = dict(recorded)
        job = replace(job, params=params, env={"MLOPS_PARAMS": json.dumps(recorded)})
    backend.check(job)
    lock = request.lock_file or lineage.default_lock_file()
    tags = lineage.collect_tags(
        code_dir=settings.train.working_dir,
        data=data,
        params=job.params,
        lock=lock,
        backend=backend.name,
        command=settings.train.command,
    )
    if original is not None:
        tags[lineage.TAG_REPRODUCES] = original.info.run_id
    job_name = request.job_name or default_job_name(settings.model.name)
    job = replace(job, tags=tags, job_name=job_name)

    with tempfile.TemporaryDirectory(prefix="mlops-train-") as tmp:
        log_file = Path(tmp) / "train.log"
        if backend.name == "local":
            run = _create_run(client, experiment, job_name, tags)
            job = replace(job, run_id=run, log_file=log_file)
        from mlops_actions.github import runtime

        before = time.monotonic()
        try:
            with runtime.group(f"train ({backend.name}): {settings.train.command}", log):
                outcome = backend.run(job, log=log)
        except BaseException:
            # the command could not start, or we were interrupted before it did: the run we
            # created must not stay RUNNING
            if job.run_id:
                with contextlib.suppress(Exception):
                    client.set_terminated(job.run_id, status="FAILED")
            raise
        ran = time.monotonic() - before
        model_uri, metrics, more = _finish(client, job, outcome, backend.name, log_file)
    warnings += more
    reproduction = None
    if original is not None and outcome.succeeded:
        reproduction = _compare(original, metrics, request.tolerance)
    total = time.monotonic() - started
    return TrainingResult(
        backend=backend.name,
        status=outcome.status,
        run_id=outcome.run_id,
        model_uri=model_uri,
        job_name=outcome.job_name,
        job_url=redact_uri(outcome.job_url or _run_url(tracking_uri, client, outcome.run_id)),
        experiment=experiment,
        tracking_uri=tracking_uri,
        metrics=metrics,
        params=job.params,
        tags=tags,
        message=outcome.message,
        log_tail=outcome.log_tail,
        duration_seconds=total,
        overhead_seconds=max(0.0, total - ran),
        warnings=tuple(warnings),
        reproduction=reproduction,
    )


# ---------------------------------------------------------------- MLflow


def _client(tracking_uri: str) -> Any:
    import mlflow

    from mlops_actions.config import secure_sqlite_store

    secure_sqlite_store(tracking_uri)  # a new .mlops/mlflow.db is 0600 in a 0700 folder
    return mlflow.MlflowClient(tracking_uri=tracking_uri)


def _mlflow_failure(exc: Exception, what: str) -> BackendError:
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return BackendError(
        f"MLflow could not {what}: {redact_text(first)};",
        hint="check the tracking URI (tracking_uri in mlops.yaml or $MLFLOW_TRACKING_URI).",
    )


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
        raise _mlflow_failure(exc, "create the run") from None
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
    backend: str,
    log_file: Path,
) -> tuple[str, dict[str, float], list[str]]:
    """Close the run and find its model: (model URI, metrics, warnings).

    Local runs: parameters not logged by the command are logged, the log is attached as
    `train.log`, and the run is marked FAILED/KILLED when the command did not complete.
    Raises InputError when a completed command logged no model.
    """
    from mlflow.entities import Param
    from mlflow.exceptions import MlflowException

    warnings: list[str] = []
    run_id = outcome.run_id
    if backend == "local":
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
            raise _mlflow_failure(exc, f"update run {run_id}") from None
        if not outcome.succeeded:
            status = "KILLED" if outcome.status == "canceled" else "FAILED"
            _terminate(client, run_id, status)
            return "", _metrics(client, run_id), warnings
    elif not outcome.succeeded:
        return "", {}, warnings
    try:
        run = client.get_run(run_id)
    except (MlflowException, OSError, ValueError) as exc:
        if backend != "azureml":
            raise _mlflow_failure(exc, f"read run {run_id}") from None
        # The workspace's MLflow is not reachable from here (or not the configured store):
        # point at the job's MLflow artifacts, which Azure ML can register from.
        warnings.append(
            f"run {run_id} is not in the tracking store {redact_uri(job.tracking_uri)} "
            f"({type(exc).__name__}); model-uri points at the job's MLflow artifacts"
        )
        return f"azureml://jobs/{run_id}/outputs/artifacts/paths/{MODEL_ARTIFACT}", {}, warnings
    model_uri = _logged_model(client, run)
    metrics = {k: float(v) for k, v in run.data.metrics.items()}
    if model_uri is None:
        if backend == "local":
            _terminate(client, run_id, "FAILED")
        raise InputError(
            f"the training command finished but never logged a model to run {run_id};",
            hint=f"log it inside that run, e.g. mlflow.sklearn.log_model(model, "
            f"name={MODEL_ARTIFACT!r}) within "
            "mlflow.start_run(run_id=os.environ['MLFLOW_RUN_ID']).",
        )
    if backend == "local" and run.info.status == "RUNNING":
        _terminate(client, run_id, "FINISHED")
    return model_uri, metrics, warnings


def _terminate(client: Any, run_id: str, status: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.set_terminated(run_id, status=status)
    except MlflowException as exc:
        raise _mlflow_failure(exc, f"mark run {run_id} {status}") from None


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
        raise _mlflow_failure(exc, "search the run's logged models") from None
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


# ---------------------------------------------------------------- reproduction


def _original_run(client: Any, run_id: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException as exc:
        if getattr(exc, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise InputError(
                f"--reproduce: run {run_id} is not in the tracking store;",
                hint="pass the run-id output of the training you want to reproduce.",
            ) from None
        raise _mlflow_failure(exc, f"read run {run_id}") from None


def _check_reproducible(original: Any, settings: Settings, data: lineage.DataRecord | None) -> None:
    """Raise InputError listing what differs between the run's record and this tree."""
    tags = original.data.tags
    run_id = original.info.run_id
    differences: list[str] = []
    recorded_commit = tags.get(lineage.TAG_COMMIT)
    code = lineage.code_version(settings.train.working_dir)
    if not recorded_commit:
        differences.append("the run recorded no git commit")
    elif code.commit is None:
        differences.append("the training folder is not a git checkout")
    elif code.commit != recorded_commit:
        differences.append(
            f"commit: the run used {recorded_commit[:12]}, the working tree is at "
            f"{code.commit[:12]}"
        )
    if code.dirty and tags.get(lineage.TAG_DIRTY) != "true":
        differences.append("the working tree has uncommitted changes to tracked files")
    recorded_hash = tags.get(lineage.TAG_DATA_HASH)
    if recorded_hash or data is not None:
        if data is None:
            differences.append("the run recorded training data but data.train is not set")
        elif recorded_hash != data.hash:
            differences.append(
                f"data: the run used {tags.get(lineage.TAG_DATA_VERSION, '?')}, "
                f"{data.path} is now {data.version}"
            )
    if differences:
        checkout = f"git checkout {recorded_commit[:12]}" if recorded_commit else "git checkout"
        raise InputError(
            f"cannot reproduce run {run_id}: {'; '.join(differences)};",
            hint=f"restore what it was made from ({checkout}, and `dvc checkout` for DVC data) "
            "and run again.",
        )


def _compare(original: Any, metrics: dict[str, float], tolerance: float) -> Reproduction:
    rows = tuple(
        MetricDifference(name, float(value), metrics.get(name))
        for name, value in sorted(original.data.metrics.items())
    )
    return Reproduction(original.info.run_id, tolerance, rows)
