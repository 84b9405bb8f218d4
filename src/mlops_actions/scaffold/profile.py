"""What `mlops init` reads from a repository's data: the target, the task, the metric, an id.

Every guess is stated with its reason (`DataProfile.notes`), so the user sees what was inferred
and which flag changes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mlops_actions.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

Task = Literal["classification", "regression"]

TARGET_NAMES = ("target", "label", "y", "class", "outcome")
MAX_CLASS_VALUES = 10
"""An integer target with at most this many distinct values is read as classes."""

_ID_NAME = re.compile(r"^(id|.*[_-]id|.*Id|.*ID)$")


@dataclass(frozen=True)
class DataProfile:
    """What the pipeline needs to know about the data, inferred or given."""

    target: str
    task: Task
    primary_metric: str
    rows: int
    features: tuple[str, ...]
    id_column: str | None = None
    classes: tuple[Any, ...] = ()
    positive_class: Any = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def profile(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    *,
    target: str | None,
    task: Task | None,
    train_name: str,
    holdout_name: str,
) -> DataProfile:
    """Infer target, task, primary metric and id column; raises InputError when data can't serve."""
    notes: list[str] = []
    columns = [str(c) for c in train.columns]
    if target is None:
        target = _guess_target(columns)
        how = "its name" if target.lower() in TARGET_NAMES else "the last column"
        notes.append(f"target: {target} (from {how}; --target NAME to choose another)")
    if target not in columns:
        raise InputError(
            f"{train_name} has no column {target!r} (its columns: {_names(columns)});",
            hint="pass --target with the name of the label column.",
        )
    missing = [c for c in columns if c not in holdout.columns]
    if missing:
        raise InputError(
            f"{holdout_name} lacks the column{'s' if len(missing) > 1 else ''} "
            f"{_names(missing)} of {train_name};",
            hint="the holdout must have the training data's columns (it is scored like it).",
        )
    labels = train[target]
    if labels.isna().all():
        raise InputError(
            f"{train_name}: the target column {target!r} is empty;",
            hint="fill it, or pass --target with the label column.",
        )
    if task is None:
        task, reason = _guess_task(labels)
        notes.append(f"task: {task} ({reason}; --task to choose)")
    classes: tuple[Any, ...] = ()
    positive: Any = None
    if task == "classification":
        classes = tuple(sorted(labels.dropna().unique().tolist(), key=str))
        if len(classes) < 2:
            raise InputError(
                f"{train_name}: the target {target!r} has one class only ({classes[0]!r});",
                hint="a classifier needs examples of at least two classes.",
            )
        if len(classes) == 2:
            primary = "roc_auc"
            positive = _positive(classes, labels)
        else:
            primary = "accuracy"
    else:
        import pandas as pd

        if not pd.api.types.is_numeric_dtype(labels.dtype):
            raise InputError(
                f"{train_name}: the target {target!r} is not numeric, so it cannot be regressed;",
                hint="pass --task classification, or --target with a numeric column.",
            )
        primary = "rmse"
    id_column = _id_column(train, target)
    if id_column:
        notes.append(f"id column: {id_column} (unique per row; left out of the features)")
    features = tuple(c for c in columns if c not in (target, id_column))
    if not features:
        raise InputError(
            f"{train_name} has no feature columns besides {target!r};",
            hint="add the columns the model should learn from.",
        )
    return DataProfile(
        target=target,
        task=task,
        primary_metric=primary,
        rows=len(train),
        features=features,
        id_column=id_column,
        classes=classes,
        positive_class=positive,
        notes=tuple(notes),
    )


def _guess_target(columns: list[str]) -> str:
    by_lower = {c.lower(): c for c in columns}
    for name in TARGET_NAMES:
        if name in by_lower:
            return by_lower[name]
    return columns[-1]


def _guess_task(labels: pd.Series) -> tuple[Task, str]:
    import pandas as pd

    values = labels.dropna()
    if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return "classification", "the target is not numeric"
    distinct = values.nunique()
    integral = bool((values == values.round()).all())
    if integral and distinct <= MAX_CLASS_VALUES:
        return "classification", f"the target has {distinct} distinct whole values"
    return "regression", f"the target is numeric with {distinct} distinct values"


def _positive(classes: tuple[Any, ...], labels: pd.Series) -> Any:
    """The positive class of a binary target: 1/True when present, else the rarer class."""
    for value in classes:
        if value is True or (isinstance(value, int | float) and value == 1):
            return value
    counts = labels.value_counts()
    return counts.index[-1]


def _id_column(frame: pd.DataFrame, target: str) -> str | None:
    for column in frame.columns:
        name = str(column)
        if name == target or not _ID_NAME.match(name):
            continue
        if frame[column].notna().all() and frame[column].is_unique:
            return name
    return None


def _names(columns: list[str], most: int = 8) -> str:
    shown = ", ".join(repr(c) for c in columns[:most])
    return shown + (f" and {len(columns) - most} more" if len(columns) > most else "")
