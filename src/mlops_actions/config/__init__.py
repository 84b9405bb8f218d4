"""mlops.yaml: its typed settings (`schema`), loading with located errors (`loader`), flags over
the file (`overrides`) and where local state lives (`state`)."""

from mlops_actions.config.loader import json_schema, load_settings, parse_settings
from mlops_actions.config.overrides import Override, apply_overrides, section_from_overrides
from mlops_actions.config.schema import (
    DEFAULT_CONFIG,
    AnalysisSettings,
    AzureDeploySettings,
    AzureTrainSettings,
    AzureWorkspace,
    DataSettings,
    DeploySettings,
    EvaluateSettings,
    GroundTruthSettings,
    Guardrail,
    ModelSettings,
    MonitorSettings,
    ProbeSettings,
    SearchDimension,
    Settings,
    SmokeSettings,
    SqlSource,
    SweepSettings,
    TrainSettings,
    ValidationSettings,
)
from mlops_actions.config.state import default_report_dir, secure_sqlite_store

__all__ = [
    "DEFAULT_CONFIG",
    "AnalysisSettings",
    "AzureDeploySettings",
    "AzureTrainSettings",
    "AzureWorkspace",
    "DataSettings",
    "DeploySettings",
    "EvaluateSettings",
    "GroundTruthSettings",
    "Guardrail",
    "ModelSettings",
    "MonitorSettings",
    "Override",
    "ProbeSettings",
    "SearchDimension",
    "Settings",
    "SmokeSettings",
    "SqlSource",
    "SweepSettings",
    "TrainSettings",
    "ValidationSettings",
    "apply_overrides",
    "default_report_dir",
    "json_schema",
    "load_settings",
    "parse_settings",
    "section_from_overrides",
    "secure_sqlite_store",
]
