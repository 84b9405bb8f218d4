"""The typed settings of mlops.yaml: one pydantic model per section, defaults and ranges stated
once here (the loader, the JSON Schema and flag overrides all validate through these models)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

DEFAULT_CONFIG = "mlops.yaml"
_MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$"


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir")
    if base is not None and not value.is_absolute():
        return (Path(base) / value).resolve()
    return value


ConfigPath = Annotated[Path, AfterValidator(_resolve_path)]
"""A path in mlops.yaml; relative paths are taken from the folder that holds the file."""

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]

DriftMethod = Literal["ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi"]
"""Evidently's names of the per-column drift tests that drift-report computes."""

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
    num_method: DriftMethod | None = None
    cat_method: DriftMethod | None = None
    num_threshold: float | None = Field(None, gt=0, allow_inf_nan=False)
    cat_threshold: float | None = Field(None, gt=0, allow_inf_nan=False)
    per_column_method: dict[str, DriftMethod] = Field(default_factory=dict)
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
