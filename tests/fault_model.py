"""A fault-injectable MLflow pyfunc model for the endpoint, smoke-test and canary tests.

Logged as an MLflow "model from code": this file is copied into the model and executed when the
model loads, so it imports only the standard library, pandas and MLflow at module level. The
faults are the model's `model_config` and act only when the model is served by a local endpoint
worker (`MLOPS_ENDPOINT_DEPLOYMENT` is set), never when a test or the smoke test loads it offline:

- `error_rate`: share of predictions that raise (seeded, so runs repeat);
- `latency_ms`: sleep before every prediction;
- `faults_after_requests`: `error_rate` and `latency_ms` start only after this many predictions
  (a model that passes its smoke test and degrades under traffic);
- `crash_at_start`: the process exits while loading; `hang_at_start`: loading never finishes,
  so the health probe never passes;
- `crash_after_requests`: the process exits on the (n+1)-th prediction (a crash mid-rollout);
- `serving_skew`: added to the score when served (training/serving skew);
- `offset`: added to the score everywhere (a different, healthy model version).

The model scores credit-default rows (`examples/credit-default/generate_data.py`) with a fixed
logistic formula and predicts the label `score >= 0.5`; `predict_proba` gives the score.
The helpers at the bottom log and register such models in tests.
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

SERVED_ENV = "MLOPS_ENDPOINT_DEPLOYMENT"
FEATURES = ("age", "utilisation", "late_payments_12m", "debt_to_income")


class FaultModel(PythonModel):
    def load_context(self, context: Any) -> None:
        config = dict(context.model_config or {})
        self.error_rate = float(config.get("error_rate", 0.0))
        self.latency_ms = float(config.get("latency_ms", 0.0))
        self.crash_after = int(config.get("crash_after_requests", 0))
        self.faults_after = int(config.get("faults_after_requests", 0))
        self.skew = float(config.get("serving_skew", 0.0))
        self.offset = float(config.get("offset", 0.0))
        self.served = SERVED_ENV in os.environ
        self.calls = 0
        self.rng = random.Random(int(config.get("seed", 7)))
        self.lock = threading.Lock()
        if self.served and config.get("crash_at_start"):
            os._exit(3)
        if self.served and config.get("hang_at_start"):
            time.sleep(3600)

    def predict_proba(self, model_input: pd.DataFrame) -> list[float]:
        scores = []
        for row in model_input.to_dict(orient="records"):
            z = (
                -2.0
                + 3.0 * float(row["utilisation"])
                + 0.8 * float(row["late_payments_12m"])
                + 4.0 * float(row["debt_to_income"])
                - 0.02 * (float(row["age"]) - 40.0)
                + self.offset
                + (self.skew if self.served else 0.0)
            )
            scores.append(1.0 / (1.0 + math.exp(-z)))
        return scores

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> list[int]:
        if self.served:
            with self.lock:
                self.calls += 1
                calls = self.calls
                degraded = calls > self.faults_after
                fail = degraded and self.error_rate > 0 and self.rng.random() < self.error_rate
            if self.crash_after and calls > self.crash_after:
                os._exit(4)
            if degraded and self.latency_ms:
                time.sleep(self.latency_ms / 1000)
            if fail:
                raise RuntimeError("injected fault")
        return [int(score >= 0.5) for score in self.predict_proba(model_input)]


mlflow.models.set_model(FaultModel())


# ---------------------------------------------------------------------- test helpers

FAULT_MODEL_CODE = Path(__file__)


def register_fault_model(tracking_uri: str, name: str, sample: Any, **config: Any) -> str:
    """Log this model with `config` and register it under `name`; returns the version.

    `sample` is a DataFrame of feature rows: the signature, so the endpoint enforces a schema.
    """
    from mlflow.models import infer_signature

    # Explicit registry URI: the process-wide one may have been pinned elsewhere by earlier code.
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    experiment = client.get_experiment_by_name(name)
    experiment_id = (
        experiment.experiment_id if experiment is not None else client.create_experiment(name)
    )
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    # `_use_tracking_uri` restores the process-wide URI exactly (unset stays unset).
    with _use_tracking_uri(tracking_uri), warnings.catch_warnings():
        # MLflow's logging-time hints (type hints, input example, integer columns) are about
        # this test model, not about the code under test.
        warnings.simplefilter("ignore", UserWarning)
        with mlflow.start_run(experiment_id=experiment_id):
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(FAULT_MODEL_CODE),
                model_config=config,
                signature=infer_signature(sample, [0] * len(sample)),
                pip_requirements=[f"mlflow=={mlflow.__version__}"],
            )
        try:
            client.get_registered_model(name)
        except mlflow.exceptions.MlflowException:
            client.create_registered_model(name)
        # The registry resolves `models:/m-…` through the process-wide tracking URI.
        version = client.create_model_version(name, info.model_uri, run_id=info.run_id)
    return str(version.version)


class Store:
    """One MLflow sqlite store and one credit-default data set for a whole test session."""

    def __init__(self, root: Path) -> None:
        import subprocess
        import sys

        import pandas as pd

        self.root = root
        self.data = root / "data"
        self.tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
        generator = Path(__file__).resolve().parents[1] / "examples/credit-default/generate_data.py"
        subprocess.run(
            [sys.executable, str(generator), "--out", str(self.data), "--rows", "400"],
            check=True,
            capture_output=True,
        )
        holdout = pd.read_csv(self.data / "holdout.csv")
        self.features = holdout.drop(columns=["default", "application_id"])
        self._versions: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def rows(self, n: int) -> list[dict[str, Any]]:
        """The first `n` holdout rows as {column: value} dicts (features only)."""
        rows: list[dict[str, Any]] = self.features.head(n).to_dict(orient="records")
        return rows

    def version(self, model_name: str, **config: Any) -> str:
        """The registered version of the fault model with `config` (registered on first use)."""
        import json

        key = (model_name, json.dumps(config, sort_keys=True))
        with self._lock:
            if key not in self._versions:
                self._versions[key] = register_fault_model(
                    self.tracking_uri, model_name, self.features.head(20), **config
                )
            return self._versions[key]


_STORES: dict[Path, Store] = {}


def session_store(base: Path) -> Store:
    """The session's Store under pytest's base temp folder (created once per session)."""
    if base not in _STORES:
        root = base / "mlflow-store"
        root.mkdir(parents=True, exist_ok=True)
        _STORES[base] = Store(root)
    return _STORES[base]


def write_project(
    folder: Path,
    store: Store,
    model_name: str,
    *,
    deploy: str = "",
    smoke: str = "",
    filename: str = "mlops.yaml",
) -> Path:
    """A consumer repository: mlops.yaml on the session store and data; returns the config.

    Configs in the same folder share the local endpoint (`.mlops/endpoint` next to them).
    """
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / filename
    config.write_text(
        f"""model:
  name: {model_name}
  task: classification
tracking_uri: {store.tracking_uri}
data:
  train: {store.data / "train.csv"}
  holdout: {store.data / "holdout.csv"}
  target: default
  id_column: application_id
evaluate:
  primary_metric: roc_auc
deploy:
  backend: local
{deploy}
smoke:
{smoke or "  parity_rows: 20"}
""",
        encoding="utf-8",
    )
    return config


def golden_cases(store: Store) -> list[dict[str, Any]]:
    """Smoke cases whose labels follow from the fault model's formula (one of each kind)."""
    base = store.rows(1)[0]
    risky = {**base, "utilisation": 0.95, "late_payments_12m": 4, "debt_to_income": 0.6}
    safe = {**base, "utilisation": 0.05, "late_payments_12m": 0, "debt_to_income": 0.05, "age": 60}
    return [
        {"name": "risky applicant", "input": risky, "expected": 1},
        {"name": "safe applicant", "input": safe, "expected": 0},
        {"name": "a label", "input": base, "expected": {"min": 0, "max": 1}},
        {"name": "anything valid", "input": base},
    ]
