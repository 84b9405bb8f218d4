"""The example consumer repository: seeded data, and a training script that honours the contract."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, python_env


def _generate(out: Path, *extra: str) -> dict[str, str]:
    subprocess.run(
        [
            sys.executable,
            str(EXAMPLE / "generate_data.py"),
            "--out",
            str(out),
            "--rows",
            "2000",
            *extra,
        ],
        check=True,
        capture_output=True,
        env=python_env(),
    )
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.glob("*.csv"))}


def test_generator_is_seeded_and_drift_changes_only_current(tmp_path: Path) -> None:
    first = _generate(tmp_path / "a")
    assert first == _generate(tmp_path / "b")
    assert set(first) == {"train.csv", "holdout.csv", "current.csv"}
    drifted = _generate(tmp_path / "c", "--drift", "1.0")
    assert drifted["train.csv"] == first["train.csv"]
    assert drifted["holdout.csv"] == first["holdout.csv"]
    assert drifted["current.csv"] != first["current.csv"]


def test_generated_data_is_realistic(tmp_path: Path) -> None:
    import pandas as pd

    _generate(tmp_path)
    train = pd.read_csv(tmp_path / "train.csv")
    assert len(train) == 2000
    assert 0.05 < train["default"].mean() < 0.3
    assert train["application_id"].is_unique
    assert {"purpose", "home_ownership", "term"} <= set(train.select_dtypes("object").columns)
    current = pd.read_csv(tmp_path / "current.csv")
    drifted = pd.read_csv(_drifted(tmp_path))
    assert drifted["utilisation"].mean() > current["utilisation"].mean() + 0.05


def _drifted(tmp_path: Path) -> Path:
    _generate(tmp_path / "d", "--drift", "1.0")
    return tmp_path / "d" / "current.csv"


@pytest.mark.slow
def test_training_script_logs_model_under_the_given_run(tmp_path: Path, tracking_uri: str) -> None:
    import mlflow
    import pandas as pd

    _generate(tmp_path / "data")
    uri = tracking_uri
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("credit-default")
    run = client.create_run(experiment)
    proc = subprocess.run(
        [
            sys.executable,
            str(EXAMPLE / "train.py"),
            "--train",
            str(tmp_path / "data" / "train.csv"),
        ],
        capture_output=True,
        text=True,
        env=python_env(MLFLOW_TRACKING_URI=uri, MLFLOW_RUN_ID=run.info.run_id),
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    finished = client.get_run(run.info.run_id)
    assert finished.info.status == "FINISHED"
    assert finished.data.metrics["val_roc_auc"] > 0.65  # noisy labels: 0.5 is chance
    assert finished.data.params["C"] == "1.0"
    [logged] = list(client.search_logged_models(experiment_ids=[experiment]))
    assert logged.name == "model" and logged.source_run_id == run.info.run_id
    model = mlflow.pyfunc.load_model(f"models:/{logged.model_id}")
    holdout = pd.read_csv(tmp_path / "data" / "holdout.csv")
    # Raw rows in, predictions out: the preprocessing is inside the model.
    predictions = model.predict(holdout.drop(columns=["default", "application_id"]).head(50))
    assert set(predictions) <= {0, 1} and len(predictions) == 50
