"""Scoring one model on the holdout: the data, the metrics that apply, the predictions.

`load_holdout` reads and checks the labelled holdout; `select_metrics` finds every metric the
settings name (built-in or custom) and rejects unknown ones; `score` runs a model on the holdout
and returns its predictions as `Scored`, or raises ModelFailed when the model cannot produce one
prediction per row.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_actions.errors import InputError
from mlops_actions.labels import listing
from mlops_actions.metric_catalog import Task, metrics_for
from mlops_actions.scoring import ModelFailed, describe_exception

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlops_actions.comparison.candidates import ModelRef
    from mlops_actions.config import EvaluateSettings, Settings
    from mlops_actions.metrics import Metric, Scored


# ---------------------------------------------------------------- metrics


def select_metrics(settings: Settings) -> dict[str, Metric]:
    """Built-in metrics of the task plus the custom ones, with every name the settings use checked.

    InputError when `evaluate` names a metric that is not defined for the task, or gives a
    `greater_is_better` that contradicts a built-in primary metric.
    """
    from mlops_actions.metrics import builtin_metrics, load_custom_metric

    evaluate = settings.evaluate
    task = settings.model.task
    found: dict[str, Metric] = dict(builtin_metrics(task))
    for name, ref in evaluate.custom_metrics.items():
        direction = evaluate.greater_is_better if name == evaluate.primary_metric else None
        found[name] = load_custom_metric(
            name, ref, greater_is_better=direction, search_path=settings.base_dir
        )
    _check_names(evaluate, task, found)
    _check_direction(evaluate, found[evaluate.primary_metric])
    return found


def _check_names(evaluate: EvaluateSettings, task: Task, found: Mapping[str, Metric]) -> None:
    other: Task = "regression" if task == "classification" else "classification"
    wanted = [
        ("evaluate.primary_metric", evaluate.primary_metric),
        *(
            (f"evaluate.guardrails[{i}].metric", g.metric)
            for i, g in enumerate(evaluate.guardrails)
        ),
        *((f"evaluate.min.{m}", m) for m in evaluate.min),
    ]
    for where, name in wanted:
        if name not in found:
            if name in metrics_for(other):
                why = f"'{name}' is a {other} metric, not defined for {task};"
            else:
                why = f"'{name}' is not a {task} metric;"
            raise InputError(f"{where}: {why}", hint=f"use one of: {', '.join(sorted(found))}.")


def _check_direction(evaluate: EvaluateSettings, primary: Metric) -> None:
    if (
        not primary.custom
        and evaluate.greater_is_better is not None
        and evaluate.greater_is_better != primary.greater_is_better
    ):
        better = "greater" if primary.greater_is_better else "lower"
        raise InputError(
            f"evaluate.greater_is_better: {str(evaluate.greater_is_better).lower()} contradicts "
            f"{primary.name}, for which {better} is better;",
            hint="remove greater_is_better (it is only needed for custom metrics).",
        )


# ---------------------------------------------------------------- the holdout


def load_holdout(settings: Settings, path: Path) -> tuple[pd.DataFrame, str]:
    """The holdout table and its data version ("unknown" when it has none).

    InputError when it lacks the target or a slice column, or a row has no target value.
    """
    from mlops_actions.data import data_version, load_table

    frame = load_table(path, rev=settings.data.dvc_rev)
    target = settings.data.target
    if target not in frame.columns:
        raise InputError(
            f"holdout {path} has no target column {target!r} (columns: {listing(frame.columns)});",
            hint="fix data.target in mlops.yaml or the holdout export.",
        )
    missing = int(frame[target].isna().sum())
    if missing:
        raise InputError(
            f"holdout {path}: {missing} row(s) have no value in target {target!r};",
            hint="drop or label those rows: both models must be scored on labelled rows.",
        )
    for column in settings.evaluate.slices:
        if column not in frame.columns:
            raise InputError(
                f"evaluate.slices: holdout {path} has no column {column!r};",
                hint=f"use one of: {listing(frame.columns)}.",
            )
    try:
        version = data_version(path, rev=settings.data.dvc_rev).text
    except InputError:
        version = "unknown"
    return frame, version


def positive_class_of(
    task: str, truth: np.ndarray, evaluate: EvaluateSettings, model: Any, target: str
) -> object | None:
    """The positive label for classification (None for regression), checked against the task.

    InputError when the target does not look like the task (text for regression, many float
    values for classification) or the positive class cannot be decided.
    """
    import numpy as np

    if task != "classification":
        if truth.dtype.kind not in "biuf":
            raise InputError(
                f"target {target!r} is not numeric (e.g. {truth[0]!r}), but model.task is "
                "regression;",
                hint="set model.task: classification, or point data.target at a numeric column.",
            )
        return None
    values = np.unique(truth)
    if truth.dtype.kind == "f" and len(values) > 50:
        raise InputError(
            f"target {target!r} has {len(values)} distinct float values, which looks like "
            "regression, but model.task is classification;",
            hint="set model.task: regression, or point data.target at the label column.",
        )
    from mlops_actions.labels import positive_class

    return positive_class(
        values,
        configured=evaluate.positive_class,
        model_classes=_classes(model),
        where=f"target {target!r}",
    )


# ---------------------------------------------------------------- predictions


def _feature_frame(model: Any, frame: pd.DataFrame, settings: Settings, label: str) -> pd.DataFrame:
    """The columns the model reads: its signature's inputs, else data.features, else the rest."""
    names: list[str] | None = None
    try:
        schema = model.metadata.get_input_schema()
        if schema is not None and schema.has_input_names():
            names = [str(n) for n in schema.input_names()]
    except Exception:  # noqa: BLE001 - models without a readable signature
        names = None
    if names is None:
        data = settings.data
        if data.features:
            names = list(data.features)
        else:
            drop = {data.target, data.id_column}
            names = [str(c) for c in frame.columns if c not in drop]
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise InputError(
            f"the holdout lacks feature(s) the {label} needs: {listing(missing)};",
            hint="score on a holdout exported with the training columns (data.holdout).",
        )
    return frame[names]


def _raw_model(model: Any) -> Any:
    """The flavor's own model (sklearn API: predict_proba, classes_), or None.

    A custom PythonModel is not one: its predict takes a context, so it goes through pyfunc.
    """
    from mlflow.pyfunc.model import PythonModel

    try:
        raw = model.get_raw_model()
    except Exception:  # noqa: BLE001 - flavors without a raw model
        return None
    return None if isinstance(raw, PythonModel) else raw


def _classes(model: Any) -> list[object] | None:
    raw = _raw_model(model)
    classes = getattr(raw, "classes_", None)
    return None if classes is None else list(classes)


def score(
    model: Any,
    frame: pd.DataFrame,
    settings: Settings,
    positive: object | None,
    which: str,
    ref: ModelRef | None,
) -> Scored:
    """`model`'s predictions on the holdout `frame`, with the truth, ready for the metrics.

    `which` ("challenger", "champion") and `ref` name the model in errors. InputError when the
    holdout lacks a feature the model reads; ModelFailed when the model fails on the data or
    returns anything but one prediction per row.
    """
    label = which if ref is None else f"{which} ({ref.label})"
    features = _feature_frame(model, frame, settings, label)
    truth = frame[settings.data.target].to_numpy()
    try:
        return _predict(model, features, truth, settings.model.task, positive)
    except ModelFailed as exc:
        raise ModelFailed(f"the {label} {exc}") from None
    except Exception as exc:  # noqa: BLE001 - the model rejected the data or failed on it
        raise ModelFailed(
            f"the {label} could not score the holdout ({describe_exception(exc)})"
            + _empty_columns(features)
        ) from None


def _predict(
    model: Any, features: pd.DataFrame, truth: np.ndarray, task: str, positive: object | None
) -> Scored:
    """Labels (and the positive class's probability where the flavor gives one) or values."""
    import numpy as np

    from mlops_actions.metrics import classification_scored, label_is, regression_scored

    if task == "regression":
        return regression_scored(truth, _as_vector(model.predict(features), len(truth)))
    raw = _raw_model(model)
    proba = None
    if raw is not None and hasattr(raw, "predict_proba") and hasattr(raw, "classes_"):
        labels = _as_vector(raw.predict(features), len(truth))
        classes = np.asarray(list(raw.classes_))
        column = np.flatnonzero(label_is(classes, positive))
        if len(column):
            proba = np.asarray(raw.predict_proba(features))[:, column[0]]
    else:
        labels = _as_vector(model.predict(features), len(truth))
    return classification_scored(truth, labels, positive, proba)


def _empty_columns(features: Any) -> str:
    """A note naming the holdout's feature columns that hold no value at all (a likely cause)."""
    empty = [str(c) for c in getattr(features, "columns", []) if features[c].isna().all()]
    if not empty:
        return ""
    names = ", ".join(repr(c) for c in empty[:5]) + (" …" if len(empty) > 5 else "")
    if len(empty) == 1:
        return f"; the holdout column {names} is empty (every value missing)"
    return f"; the holdout columns {names} are empty (every value missing)"


def _as_vector(predicted: Any, rows: int) -> np.ndarray:
    """One prediction per row as a vector; ModelFailed for any other shape."""
    import numpy as np

    if hasattr(predicted, "to_numpy"):
        predicted = predicted.to_numpy()
    out = np.asarray(predicted)
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.ndim != 1 or len(out) != rows:
        raise ModelFailed(
            f"returned predictions of shape {out.shape} for {rows} holdout rows "
            "(one label or value per row expected)"
        )
    return out
