"""Names of the built-in metrics per task and whether greater is better (no heavy imports)."""

from __future__ import annotations

from typing import Literal

Task = Literal["classification", "regression"]

CLASSIFICATION_METRICS: dict[str, bool] = {
    "roc_auc": True,
    "accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "log_loss": False,
}
REGRESSION_METRICS: dict[str, bool] = {"rmse": False, "mae": False, "r2": True}


def metrics_for(task: Task) -> dict[str, bool]:
    """Built-in metric names for `task`, each mapped to greater-is-better."""
    return CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
