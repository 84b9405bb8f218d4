"""Baselines for performance-report: each model version's holdout metrics, from the registry
(tags `mlops.metrics.<metric>` written by register, else the version's run metrics) or given by
hand (`--baseline-metrics`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_actions.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from mlops_actions.registry import ModelRegistry

_RUN_METRIC_PREFIXES = ("", "holdout_", "test_", "val_")


def baselines(
    joined: pd.DataFrame,
    metric: str,
    *,
    given: Mapping[str, Any] | None,
    registry: Registry | None,
) -> tuple[dict[str, dict[str, float]], str]:
    """{model version: {metric: holdout value}} and where they came from.

    `given` (from --baseline-metrics) wins over the registry; with neither there are none.
    Raises InputError when `given` holds something other than numbers.
    """
    versions = sorted(set(joined["version_key"]))
    if given is not None:
        return _given_baselines(given, versions), "--baseline-metrics"
    if registry is None:
        return {}, "none (no registry configured)"
    return _registry_baselines(registry, joined, versions, metric), "model registry"


def _given_baselines(given: Mapping[str, Any], versions: list[str]) -> dict[str, dict[str, float]]:
    def numbers(mapping: Mapping[str, Any], where: str) -> dict[str, float]:
        out = {}
        for key, value in mapping.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(
                    f"--baseline-metrics: {where}{key} is {value!r}, not a number;",
                    hint='write e.g. {"roc_auc": 0.81} or {"3": {"roc_auc": 0.81}}.',
                )
            out[str(key)] = float(value)
        return out

    if all(not isinstance(v, Mapping) for v in given.values()):
        flat = numbers(given, "")
        return {v: dict(flat) for v in versions}
    return {
        str(version): numbers(values, f"version {version}: ")
        for version, values in given.items()
        if isinstance(values, Mapping)
    }


@dataclass(frozen=True)
class Registry:
    """The MLflow registry that holds the models' holdout metrics."""

    tracking_uri: str
    registry_uri: str | None = None
    model_name: str | None = None
    """The model of versions the prediction log does not name."""


def _registry_baselines(
    where: Registry, joined: pd.DataFrame, versions: list[str], metric: str
) -> dict[str, dict[str, float]]:
    from mlops_actions.registry import ModelRegistry

    registry = ModelRegistry(where.tracking_uri, where.registry_uri)
    names = (
        joined.groupby("version_key")["model_name"]
        .agg(lambda s: next((str(v) for v in s if v is not None and v == v), None))
        .to_dict()
    )
    out: dict[str, dict[str, float]] = {}
    for version in versions:
        name = names.get(version) or where.model_name
        if version == "(unknown)" or not name:
            continue
        try:
            found = registry.get_version(name, version)
        except InputError:
            continue
        values = _tag_metrics(found.tags or {})
        if metric not in values and found.run_id:
            values = {**_run_metrics(registry, found.run_id), **values}
        if values:
            out[version] = values
    return out


def _tag_metrics(tags: Mapping[str, str]) -> dict[str, float]:
    out = {}
    for key, raw in tags.items():
        if key.startswith("mlops.metrics."):
            try:
                value = float(raw)
            except ValueError:
                continue
            if math.isfinite(value):
                out[key[len("mlops.metrics.") :]] = value
    return out


def _run_metrics(registry: ModelRegistry, run_id: str) -> dict[str, float]:
    from mlops_actions.metric_catalog import CLASSIFICATION_METRICS, REGRESSION_METRICS

    try:
        logged = registry.run_metrics(run_id)
    except Exception:  # noqa: BLE001 - an unreadable run only means no fallback baseline
        return {}
    out = {}
    for name in (*CLASSIFICATION_METRICS, *REGRESSION_METRICS):
        for prefix in _RUN_METRIC_PREFIXES:
            if f"{prefix}{name}" in logged:
                out[name] = float(logged[f"{prefix}{name}"])
                break
    return out
