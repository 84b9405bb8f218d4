"""`mlops.yaml`: typed settings, loading with file:line:col errors, and the JSON Schema.

`load_settings(path)` reads the YAML, interpolates `${VAR}` / `${VAR:-default}` from the
environment, validates with pydantic into `Settings`, resolves paths relative to the config
file, and turns every problem into one `ConfigError` naming the file, line, column and key path.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from mlops_actions.errors import ConfigError
from mlops_actions.metric_catalog import metrics_for

DEFAULT_CONFIG = "mlops.yaml"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$"


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir")
    if base is not None and not value.is_absolute():
        return (Path(base) / value).resolve()
    return value


ConfigPath = Annotated[Path, AfterValidator(_resolve_path)]
"""A path in mlops.yaml; relative paths are taken from the folder that holds the file."""

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]

# An omitted section is validated from `{}` like a written one, so its paths resolve against the
# config folder too (a default instance would skip validation and keep relative paths).
_SECTION_DEFAULT: Any = {}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class ModelSettings(_Section):
    """Which model this repository trains."""

    name: str = Field(
        pattern=_MODEL_NAME,
        description="Registered model name in the MLflow registry (letters, digits, . _ -).",
    )
    task: Literal["classification", "regression"] = Field(
        "classification", description="Decides which metrics exist and how predictions are read."
    )


class DataSettings(_Section):
    """The datasets, optionally versioned with DVC."""

    train: ConfigPath | None = Field(None, description="Training data (CSV, Parquet or folder).")
    holdout: ConfigPath | None = Field(
        None, description="Holdout data: the one set on which challenger and champion are scored."
    )
    current: ConfigPath | None = Field(
        None, description="A recent production batch, for drift reports."
    )
    target: str = Field(description="Name of the label column.")
    id_column: str | None = Field(None, description="Row identifier, excluded from the features.")
    features: list[str] | None = Field(
        None, description="Feature columns; default: every column but the target and id."
    )
    dvc_rev: str | None = Field(
        None, description="Git revision at which DVC-tracked data is read; default: the workspace."
    )


class SqlSource(_Section):
    """A table read through Great Expectations' SQL datasource."""

    connection_string: str = Field(description="SQLAlchemy URL, e.g. sqlite:///data/credit.db.")
    table: str = Field(description="Table to validate.")


class ValidationSettings(_Section):
    """Step 2, validate-data: the Great Expectations gate."""

    suite: ConfigPath | None = Field(
        None, description="Great Expectations 1.x ExpectationSuite JSON."
    )
    min_success_ratio: Fraction = Field(
        1.0, description="Share of expectations that must pass (1.0 = all)."
    )
    engine: Literal["pandas", "spark", "sql"] = Field(
        "pandas", description="Where expectations run: pandas, local/cluster Spark, or SQL."
    )
    sql: SqlSource | None = Field(None, description="Required when engine is sql.")
    datasets: list[Literal["train", "holdout", "current"]] = Field(
        default=["train", "holdout"],
        description="Which of the data sets the suite is checked on.",
    )


class AzureWorkspace(_Section):
    """An Azure ML workspace; values usually come from the environment: ${AZURE_SUBSCRIPTION_ID}."""

    subscription_id: str
    resource_group: str
    workspace: str


class AzureTrainSettings(_Section):
    """How the training command runs as an Azure ML job."""

    workspace: AzureWorkspace | None = Field(
        None, description="Default: the workspace under deploy.azureml or monitor."
    )
    compute: str | None = Field(None, description="Compute cluster name (or use instance_type).")
    instance_type: str | None = Field(None, description="Serverless instance type.")
    environment: str | None = Field(
        None,
        description="Registered environment `name:version` or `name@latest`; default: one built "
        "from this project's lock, so training and serving share library versions.",
    )
    experiment_name: str | None = Field(None, description="Default: the model name.")
    inputs: dict[str, str] = Field(
        default_factory=dict, description="Job inputs: data asset references or URIs."
    )


class SearchDimension(_Section):
    """One hyperparameter of a sweep."""

    type: Literal["choice", "uniform", "loguniform", "randint"]
    values: list[str | int | float] | None = None
    min: float | None = None
    max: float | None = None


class SweepSettings(_Section):
    """Optional hyperparameter sweep on Azure ML."""

    search_space: dict[str, SearchDimension]
    metric: str
    goal: Literal["maximize", "minimize"] = "maximize"
    max_trials: int = Field(10, gt=0)
    max_concurrent_trials: int = Field(2, gt=0)
    sampling: Literal["random", "grid", "bayesian"] = "random"


ParamValue = str | int | float | bool


class TrainSettings(_Section):
    """Step 3, train-azureml: the user's training command and where it runs."""

    backend: Literal["local", "azureml"] = Field(
        "local", description="local: a subprocess here; azureml: an Azure ML command job."
    )
    command: str = Field(
        "python train.py",
        description="Training command; it receives MLFLOW_TRACKING_URI and MLFLOW_RUN_ID.",
    )
    working_dir: ConfigPath = Field(
        Path("."), description="Folder the command runs in (the code snapshot on Azure ML)."
    )
    params: dict[str, ParamValue] = Field(
        default_factory=dict, description="Hyperparameters, passed as --key value and logged."
    )
    timeout_minutes: float = Field(60.0, gt=0, description="The run is stopped after this.")
    lock_file: ConfigPath | None = Field(
        None,
        description="The project's pinned requirements: hashed into the lineage; the Azure ML "
        "environment is built from it. Default: the mlops-actions lock.",
    )
    experiment: str | None = Field(None, description="MLflow experiment; default: model name.")
    azureml: AzureTrainSettings | None = None
    sweep: SweepSettings | None = None


class Guardrail(_Section):
    """A metric that may get worse by at most `max_regression`."""

    metric: str
    max_regression: float = Field(ge=0.0, description="Allowed worsening (absolute).")


class EvaluateSettings(_Section):
    """Step 4, compare-champion: how the challenger must beat the champion."""

    primary_metric: str = Field(description="The metric that decides.")
    greater_is_better: bool | None = Field(
        None, description="Default: known for built-in metrics; required for custom ones."
    )
    min_improvement: float = Field(0.0, ge=0.0, description="How much better the primary must be.")
    improvement: Literal["absolute", "relative"] = Field(
        "absolute", description="Whether min_improvement is absolute or relative to the champion."
    )
    guardrails: list[Guardrail] = Field(default_factory=list)
    confidence: float | None = Field(
        None, gt=0.0, lt=1.0, description="With a value, a paired bootstrap must agree."
    )
    bootstrap_resamples: int = Field(1000, ge=100)
    min: dict[str, float] = Field(
        default_factory=dict, description="Absolute floors, used when there is no champion yet."
    )
    slices: list[str] = Field(default_factory=list, description="Columns to report per slice.")
    positive_class: str | int | None = Field(None, description="Positive label (classification).")
    custom_metrics: dict[str, str] = Field(
        default_factory=dict, description="name → 'package.module:function(y_true, y_pred)'."
    )


class AnalysisSettings(_Section):
    """Where canary analysis reads its metrics."""

    source: Literal["endpoint", "azure-monitor", "probe"] | None = Field(
        None,
        description="Default: probe with the local backend (no users there, so the step's own "
        "holdout traffic is the only traffic), endpoint otherwise.",
    )
    interval_seconds: float = Field(10.0, gt=0)
    max_metric_errors: int = Field(3, ge=0)


class ProbeSettings(_Section):
    """A liveness or readiness probe of a managed online deployment (Azure ML's defaults)."""

    initial_delay_seconds: int = Field(10, ge=0)
    period_seconds: int = Field(10, gt=0)
    timeout_seconds: int = Field(2, gt=0)
    failure_threshold: int = Field(30, gt=0)
    success_threshold: int = Field(1, gt=0)


class AzureDeploySettings(_Section):
    """Managed online endpoint settings."""

    workspace: AzureWorkspace | None = Field(None, description="Default: train.azureml.workspace.")
    instance_type: str = "Standard_DS3_v2"
    instance_count: int = Field(1, gt=0)
    environment: str | None = Field(
        None,
        description="Registered environment `name:version` with a scoring script; default: "
        "none, the MLflow model is deployed without code (Azure ML builds its server).",
    )
    scoring_script: ConfigPath | None = Field(
        None, description="Scoring script for `environment` (its folder is uploaded as code)."
    )
    request_timeout_ms: int = Field(5000, gt=0, le=180000)
    max_concurrent_requests_per_instance: int = Field(1, gt=0)
    liveness_probe: ProbeSettings = Field(default=_SECTION_DEFAULT)
    readiness_probe: ProbeSettings = Field(default=_SECTION_DEFAULT)
    metrics_region: str | None = Field(
        None,
        description="Azure region of the endpoint for metrics queries (analysis.source "
        "azure-monitor); default: the workspace's region.",
    )


class DeploySettings(_Section):
    """Step 7, canary-deploy."""

    backend: Literal["local", "azureml"] = "local"
    endpoint: str | None = Field(None, description="Endpoint name; default: the model name.")
    strategy: Literal["canary", "shadow", "blue-green", "direct"] = "canary"
    steps: list[Annotated[int, Field(gt=0, le=100)]] = Field(
        default_factory=lambda: [10, 50, 100],
        description="Traffic percentages for the new deployment; increasing, ending at 100.",
    )
    step_duration_seconds: float = Field(60.0, gt=0)
    max_error_rate: Fraction = 0.01
    max_p95_latency_ms: float = Field(500.0, gt=0)
    min_requests: int = Field(20, ge=0)
    shadow_percent: int = Field(20, gt=0, le=50)
    shadow_duration_seconds: float = Field(60.0, gt=0)
    progress_deadline_seconds: float = Field(1800.0, gt=0)
    rollback_grace_seconds: float = Field(0.0, ge=0)
    ready_timeout_seconds: float = Field(
        300.0, gt=0, description="How long a new deployment may take to become healthy."
    )
    rollback_verify_seconds: float = Field(
        60.0, gt=0, description="How long a rollback is retried until the endpoint reads back."
    )
    shadow_min_agreement: Fraction | None = Field(
        None,
        description="Shadow strategy: fail when shadow and live predictions agree on less than "
        "this share of rows (default: report agreement only).",
    )
    analysis: AnalysisSettings = Field(default=_SECTION_DEFAULT)
    azureml: AzureDeploySettings | None = None

    @model_validator(mode="after")
    def _steps_increase(self) -> DeploySettings:
        if any(b <= a for a, b in zip(self.steps, self.steps[1:], strict=False)):
            raise ValueError("deploy.steps must increase, e.g. [10, 50, 100]")
        if self.steps and self.steps[-1] != 100:
            raise ValueError("deploy.steps must end at 100")
        if self.analysis.source is None:
            self.analysis.source = "probe" if self.backend == "local" else "endpoint"
        return self


class SmokeSettings(_Section):
    """Step 8, smoke-test."""

    cases: ConfigPath | None = Field(None, description="JSONL file of smoke cases.")
    latency_budget_ms: float = Field(1000.0, gt=0)
    parity_rows: int = Field(100, ge=0)
    parity_tolerance: float = Field(1e-6, ge=0)


class GroundTruthSettings(_Section):
    """Labels that arrive after the prediction."""

    path: ConfigPath
    key_column: str = "request_id"
    label_column: str = "label"
    time_column: str | None = None


class MonitorSettings(_Section):
    """drift-report and performance-report."""

    reference: ConfigPath | None = Field(None, description="Default: data.train.")
    current: ConfigPath | None = Field(None, description="Default: data.current.")
    drift_share: float = Field(0.5, gt=0.0, le=1.0)
    num_method: str | None = None
    cat_method: str | None = None
    num_threshold: float | None = Field(None, gt=0)
    cat_threshold: float | None = Field(None, gt=0)
    per_column_method: dict[str, str] = Field(default_factory=dict)
    ground_truth: GroundTruthSettings | None = None
    window: str = Field("7D", description="Performance window (pandas offset alias).")
    max_degradation: float = Field(0.05, ge=0)
    retrain_workflow: str = Field("ml-pipeline.yml")


class Settings(_Section):
    """The whole of mlops.yaml."""

    model: ModelSettings
    tracking_uri: str | None = Field(
        None,
        description="MLflow tracking URI; default: $MLFLOW_TRACKING_URI, else a sqlite file "
        "under .mlops/ next to mlops.yaml.",
    )
    registry_uri: str | None = None
    data: DataSettings
    validation: ValidationSettings = Field(default=_SECTION_DEFAULT)
    train: TrainSettings = Field(default=_SECTION_DEFAULT)
    evaluate: EvaluateSettings
    deploy: DeploySettings = Field(default=_SECTION_DEFAULT)
    smoke: SmokeSettings = Field(default=_SECTION_DEFAULT)
    monitor: MonitorSettings = Field(default=_SECTION_DEFAULT)

    base_dir: Path = Field(Path("."), exclude=True, description="Set by the loader.")

    def resolved_tracking_uri(self) -> str:
        """The MLflow tracking URI the steps use (its credentials masked on a runner; print it
        through `mlops_actions.redact.redact_uri`)."""
        from mlops_actions.redact import mask_uri

        uri = self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        if uri:
            mask_uri(uri)
            return uri
        return f"sqlite:///{(self.base_dir / '.mlops' / 'mlflow.db').as_posix()}"

    def state_dir(self) -> Path:
        """Where local state lives (`.mlops/` next to mlops.yaml)."""
        return self.base_dir / ".mlops"


STATE_DIR_MODE = 0o700
STORE_FILE_MODE = 0o600


def secure_sqlite_store(uri: str) -> None:
    """Before MLflow opens a local sqlite store: its folder 0700 and the database file 0600.

    MLflow (through SQLite) would create both with the umask (0755/0644), readable by every user
    of the machine, and the store holds params, tags and inputs. A missing folder is made 0700
    and a missing database file 0600 (SQLite gives its journals the file's mode); our own state
    folder `.mlops/` and its database are tightened when they exist. Other URIs: nothing.
    """
    if not uri.startswith("sqlite:///"):
        return
    database = Path(uri[len("sqlite:///") :].split("?", 1)[0])
    if not database.name or str(database) == ":memory:":
        return
    ours = database.parent.name == ".mlops"
    try:
        database.parent.mkdir(mode=STATE_DIR_MODE, parents=True, exist_ok=True)
        if ours:
            database.parent.chmod(STATE_DIR_MODE)
        if not database.exists():
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
            os.close(os.open(database, flags, STORE_FILE_MODE))
        elif ours:
            database.chmod(STORE_FILE_MODE)
    except FileExistsError:
        pass  # created meanwhile by another process: it chose the mode
    except OSError:
        pass  # not ours to change (read-only or another user's): MLflow reports what fails


def default_report_dir(settings: Settings | None) -> Path:
    """Where every step writes its reports unless --report-dir says otherwise."""
    state = settings.state_dir() if settings is not None else Path.cwd() / ".mlops"
    return state / "reports"


# ---------------------------------------------------------------- loading


class _UniqueKeyLoader(yaml.SafeLoader):
    pass


def _no_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise _Located(
                f"duplicate key {key!r}; keep one of them",
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _no_duplicates,
)


class _Located(Exception):
    def __init__(self, message: str, line: int, col: int) -> None:
        super().__init__(message)
        self.line, self.col = line, col


def _node_at(root: yaml.Node | None, loc: tuple[str | int, ...]) -> tuple[yaml.Node | None, bool]:
    """The deepest node on `loc`, and whether the whole path was found."""
    node = root
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == str(part)), None)
            if match is None:
                return node, False
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return node, False
            node = node.value[part]
        else:
            return node, False
    return node, True


def _key_node_at(root: yaml.Node | None, loc: tuple[str | int, ...]) -> yaml.Node | None:
    parent, found = _node_at(root, loc[:-1])
    if found and isinstance(parent, yaml.MappingNode):
        return next((k for k, _ in parent.value if k.value == str(loc[-1])), None)
    return None


def _interpolate(value: Any, loc: tuple[str | int, ...], root: yaml.Node | None, where: str) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, (*loc, k), root, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*loc, i), root, where) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def sub(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = os.environ.get(name)
        if found is not None:
            return found
        if default is not None:
            return default
        node, _ = _node_at(root, loc)
        raise ConfigError(
            f"environment variable {name} is not set",
            location=_location(where, node),
            key_path=_dotted(loc),
            hint=f"set it, or give a default as ${{{name}:-value}}.",
        )

    return _ENV_REF.sub(sub, value)


def _location(where: str, node: yaml.Node | None) -> str:
    if node is None:
        return where
    return f"{where}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The settings model that owns the mapping at `loc` (to suggest key names)."""
    current: Any = Settings
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            current = _unwrap(current, part)
            if current is None:
                return None
            continue
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        current = _unwrap(field.annotation, None)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any, part: str | int | None) -> Any:
    """Strip Optional/Annotated/list/dict down to the model a path step lands in."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0], part)
    if origin in (list, dict):
        return get_args(annotation)[-1]
    if origin is not None:  # a union such as X | None
        for arg in get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return annotation


def _closest(word: str, choices: list[str]) -> str | None:
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return match[0] if match else None


def _explain(error: dict[str, Any]) -> tuple[str, str | None]:
    """One pydantic error → (message, hint)."""
    kind, loc, given = error["type"], error["loc"], error.get("input")
    if kind == "extra_forbidden":
        owner = _model_at(loc[:-1])
        choices = sorted(owner.model_fields) if owner else []
        choices = [c for c in choices if c != "base_dir"]
        guess = _closest(str(loc[-1]), choices)
        hint = f"did you mean '{guess}'?" if guess else f"known keys: {', '.join(choices)}."
        return f"unknown key '{loc[-1]}';", hint
    if kind == "missing":
        return "required key is missing;", f"add `{loc[-1]}: …` here."
    if kind in ("literal_error", "enum"):
        expected = [e.strip(" '") for e in re.split(r",| or ", error["ctx"]["expected"]) if e]
        guess = _closest(str(given), expected)
        hint = f"did you mean '{guess}'?" if guess else f"use one of: {', '.join(expected)}."
        return f"{given!r} is not allowed;", hint
    if kind in ("model_type", "dict_type"):
        return f"expected a mapping (key: value lines), got {_kind(given)};", None
    if kind == "list_type":
        return f"expected a list (- item lines), got {_kind(given)};", None
    msg = error["msg"]
    msg = msg[0].lower() + msg[1:] if msg else kind
    if msg.startswith("value error, "):
        msg = msg[len("value error, ") :]
    return f"{msg}, got {given!r};" if not isinstance(given, (dict, list)) else f"{msg};", None


def _without_misspelt_twins(errors: list[Any]) -> list[Any]:
    """Errors with unknown keys first, less the "missing" twin of each misspelt key.

    A misspelt key shows up twice: as unknown, and as the required key it was meant to be. The
    unknown key is the one to report, since it can say what was meant.
    """
    meant = set()
    for error in errors:
        if error["type"] == "extra_forbidden":
            owner = _model_at(tuple(error["loc"][:-1]))
            guess = _closest(str(error["loc"][-1]), sorted(owner.model_fields) if owner else [])
            if guess:
                meant.add((*error["loc"][:-1], guess))
    kept = [e for e in errors if not (e["type"] == "missing" and tuple(e["loc"]) in meant)]
    return sorted(kept, key=lambda e: e["type"] != "extra_forbidden")


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"{value!r}"


def _cross_checks(settings: Settings) -> list[tuple[tuple[str | int, ...], str, str]]:
    """Rules between keys: (path, message, hint) for each violation."""
    problems: list[tuple[tuple[str | int, ...], str, str]] = []
    known = metrics_for(settings.model.task)
    names = set(known) | set(settings.evaluate.custom_metrics)
    ev = settings.evaluate
    task = settings.model.task

    def check(loc: tuple[str | int, ...], metric: str) -> None:
        if metric not in names:
            guess = _closest(metric, sorted(names))
            hint = (
                f"did you mean '{guess}'?" if guess else f"use one of: {', '.join(sorted(names))}."
            )
            problems.append((loc, f"'{metric}' is not a {task} metric;", hint))

    check(("evaluate", "primary_metric"), ev.primary_metric)
    for i, guard in enumerate(ev.guardrails):
        check(("evaluate", "guardrails", i, "metric"), guard.metric)
    for key in ev.min:
        check(("evaluate", "min", key), key)
    if ev.primary_metric in ev.custom_metrics and ev.greater_is_better is None:
        problems.append(
            (
                ("evaluate", "primary_metric"),
                f"custom metric '{ev.primary_metric}' needs a direction;",
                "add `greater_is_better: true` (or false) under evaluate.",
            )
        )
    for name, ref in ev.custom_metrics.items():
        if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", ref):
            problems.append(
                (
                    ("evaluate", "custom_metrics", name),
                    f"{ref!r} is not a 'package.module:function' reference;",
                    "write it as e.g. 'my_metrics:gini'.",
                )
            )
    if settings.validation.engine == "sql" and settings.validation.sql is None:
        problems.append(
            (
                ("validation", "engine"),
                "engine 'sql' needs a table to read;",
                "add validation.sql with connection_string and table.",
            )
        )
    if settings.train.backend == "azureml" and settings.train.azureml is None:
        problems.append(
            (
                ("train", "backend"),
                "backend 'azureml' needs train.azureml settings;",
                "add train.azureml with compute (or instance_type) and workspace.",
            )
        )
    deploy = settings.deploy
    if deploy.backend == "azureml" and not (
        (deploy.azureml and deploy.azureml.workspace)
        or (settings.train.azureml and settings.train.azureml.workspace)
    ):
        problems.append(
            (
                ("deploy", "backend"),
                "backend 'azureml' needs a workspace;",
                "add deploy.azureml.workspace (subscription_id, resource_group, workspace) "
                "or train.azureml.workspace.",
            )
        )
    return problems


def parse_settings(text: str | bytes, *, source: str = DEFAULT_CONFIG, base_dir: Path) -> Settings:
    """Validate YAML text into `Settings`; raises ConfigError naming file:line:col and key path."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"is not UTF-8 text (byte {exc.start} is {text[exc.start : exc.start + 1]!r});",
                location=source,
                hint="save the file as UTF-8.",
            ) from None
    if not text.strip():
        raise ConfigError(
            "is empty;", location=source, hint="run `mlops init` for a commented starter file."
        )
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (safe loader subclass)
    except _Located as exc:
        raise ConfigError(str(exc), location=f"{source}:{exc.line}:{exc.col}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            f"is not valid YAML: {problem};", location=where, hint="fix the syntax there."
        ) from None
    if data is None:
        raise ConfigError(
            "is empty (only comments);",
            location=source,
            hint="run `mlops init` for a commented starter file.",
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f"must be a mapping of keys (model:, data:, …), got {_kind(data)};",
            location=_location(source, root),
        )
    data = _interpolate(data, (), root, source)
    try:
        settings = Settings.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        errors = _without_misspelt_twins(exc.errors())
        first = errors[0]
        loc = tuple(first["loc"])
        if first["type"] == "extra_forbidden":
            node: yaml.Node | None = _key_node_at(root, loc)
        else:
            node, _ = _node_at(root, loc)
        message, hint = _explain(dict(first))
        if len(errors) > 1:
            extra = len(errors) - 1
            message = f"{message.rstrip(';')} (and {extra} more problem{'s' if extra > 1 else ''});"
        raise ConfigError(
            message if hint else message.rstrip(";"),
            location=_location(source, node),
            key_path=_dotted(loc),
            hint=hint,
        ) from None
    problems = _cross_checks(settings)
    if problems:
        loc, message, hint = problems[0]
        node, _ = _node_at(root, loc)
        raise ConfigError(
            message, location=_location(source, node), key_path=_dotted(loc), hint=hint
        )
    settings.base_dir = base_dir
    return settings


def load_settings(path: str | os.PathLike[str]) -> Settings:
    """Read and validate mlops.yaml at `path`; raises ConfigError when it is missing or invalid."""
    file = Path(path)
    shown = str(path)
    if not file.exists():
        raise ConfigError(
            "config file not found;",
            location=shown,
            hint="pass --config PATH, or run `mlops init` to write a starter mlops.yaml.",
        )
    if file.is_dir():
        raise ConfigError("is a folder, not a file;", location=shown, hint="pass the YAML file.")
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot be read: {exc.strerror};", location=shown, hint="check its permissions."
        ) from None
    return parse_settings(raw, source=shown, base_dir=file.resolve().parent)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of mlops.yaml, for editor completion and validation."""
    schema = Settings.model_json_schema(mode="validation")
    schema["properties"].pop("base_dir", None)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mlops.yaml"
    return schema
