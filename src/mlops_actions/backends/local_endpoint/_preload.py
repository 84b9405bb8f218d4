"""Imported once by the local endpoint's fork server, so every worker forked from it starts warm.

MLflow's pyfunc loader and scoring parser, pandas, the registry's SQL store, and the model
libraries named in `MLOPS_ENDPOINT_PRELOAD` (default: scikit-learn and skops, which MLflow uses
to load sklearn models). Nothing here opens a connection or starts a thread: forked children
must not share them. A library that is not installed is skipped.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import warnings

warnings.simplefilter("ignore")  # import-time notices would only fill the router log

_ALWAYS = (
    "mlops_actions.backends.local_endpoint.worker",
    "mlflow.pyfunc",
    "mlflow.pyfunc.scoring_server",
    "mlflow.artifacts",
    "mlflow.store.model_registry.sqlalchemy_store",
    "mlflow.store.tracking.sqlalchemy_store",
    "pandas",
)

for _name in (*_ALWAYS, *os.environ.get("MLOPS_ENDPOINT_PRELOAD", "").split(",")):
    if _name.strip():
        with contextlib.suppress(Exception):
            importlib.import_module(_name.strip())
