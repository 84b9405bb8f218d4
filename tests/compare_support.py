"""Shared by the compare-champion, register and registry tests (no tests of its own).

`trained_models()` generates the example data and trains two models with the example's train.py
once per test session, in this process (~5 s instead of a minute of imports in subprocesses),
into one sqlite MLflow store: `good` (default parameters) and `bad` (the same script on a copy
of the training data with shuffled labels, so it ranks at chance). `--C 0.0001` would not do:
it keeps the ranking of the default model (ROC AUC within 0.002), so it is not worse on AUC.
"""

from __future__ import annotations

import itertools
import os
import runpy
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, python_env

LINEAGE = {
    "mlops.git.commit": "3f" * 20,
    "mlops.git.branch": "feature/better-model",
    "mlops.data.version": "sha256:0123456789abcdef",
}


@dataclass(frozen=True)
class Trained:
    root: Path
    data: Path
    tracking_uri: str
    experiment_id: str
    good_run: str
    good_uri: str
    bad_run: str
    bad_uri: str


_CACHE: dict[str, Trained] = {}
_NAMES = itertools.count(1)


def unique_name(prefix: str) -> str:
    """A registered-model name no other test uses (tests share one store)."""
    return f"{prefix}-{os.getpid()}-{next(_NAMES)}"


def trained_models(factory: pytest.TempPathFactory) -> Trained:
    """The session's data and two trained models (trained on first use)."""
    if "models" not in _CACHE:
        _CACHE["models"] = _train(factory.mktemp("trained"))
    return _CACHE["models"]


def _train(root: Path) -> Trained:
    import mlflow
    import numpy as np
    import pandas as pd

    data = root / "data"
    subprocess.run(
        [sys.executable, str(EXAMPLE / "generate_data.py"), "--out", str(data), "--rows", "3000"],
        check=True,
        capture_output=True,
        env=python_env(),
    )
    train = pd.read_csv(data / "train.csv")
    train["default"] = np.random.default_rng(0).permutation(train["default"].to_numpy())
    train.to_csv(data / "train_shuffled.csv", index=False)

    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment(
        "credit-default", artifact_location=(root / "artifacts").as_uri()
    )
    runs, uris = {}, {}
    for name, source in (("good", "train.csv"), ("bad", "train_shuffled.csv")):
        run_id = client.create_run(experiment).info.run_id
        _run_train_script(uri, run_id, ["--train", str(data / source)])
        [logged] = client.search_logged_models(
            experiment_ids=[experiment], filter_string=f"source_run_id = '{run_id}'"
        )
        runs[name], uris[name] = run_id, f"models:/{logged.model_id}"
        for key, value in LINEAGE.items():
            client.set_tag(run_id, key, value)
    return Trained(
        root, data, uri, experiment, runs["good"], uris["good"], runs["bad"], uris["bad"]
    )


def _run_train_script(uri: str, run_id: str, args: list[str]) -> None:
    """The example's train.py, as `mlops train` starts it (MLFLOW_TRACKING_URI, MLFLOW_RUN_ID).

    In this process rather than a subprocess: a fresh interpreter spends most of a minute
    importing MLflow and scikit-learn on a busy 2-core machine; the contract is the same.
    """
    import mlflow

    saved_argv, saved_env = sys.argv, dict(os.environ)
    sys.argv = [str(EXAMPLE / "train.py"), *args]
    os.environ.update({"MLFLOW_TRACKING_URI": uri, "MLFLOW_RUN_ID": run_id})
    mlflow.set_tracking_uri(uri)
    try:
        with warnings.catch_warnings():
            # train.py's own notices (integer columns in the inferred signature) are not ours.
            warnings.simplefilter("ignore")
            runpy.run_path(str(EXAMPLE / "train.py"), run_name="__main__")
    finally:
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    status = mlflow.MlflowClient(tracking_uri=uri).get_run(run_id).info.status
    assert status == "FINISHED", status


def write_config(
    folder: Path,
    models: Trained,
    name: str,
    evaluate: str = "primary_metric: roc_auc\n  min_improvement: 0.002",
    *,
    holdout: Path | None = None,
) -> Path:
    """An mlops.yaml for model `name` on the shared store and holdout; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mlops.yaml"
    path.write_text(
        f"model:\n  name: {name}\n  task: classification\n"
        f"tracking_uri: {models.tracking_uri}\n"
        f"data:\n  holdout: {holdout or models.data / 'holdout.csv'}\n"
        "  target: default\n  id_column: application_id\n"
        f"evaluate:\n  {evaluate}\n",
        encoding="utf-8",
    )
    return path


def clear_verdict(models: Trained, run_id: str) -> None:
    """Remove the comparison tags from a run, as if it had never been compared."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=models.tracking_uri)
    for key in list(client.get_run(run_id).data.tags):
        if key.startswith("mlops.comparison."):
            client.delete_tag(run_id, key)
