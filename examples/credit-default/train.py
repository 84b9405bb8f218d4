"""Train the credit-default model and log it with MLflow at artifact path `model`.

The preprocessing lives inside the sklearn Pipeline, so the served model takes raw application
rows and serving needs no separate feature code. The same script runs locally and on Azure ML:
it joins the MLflow run named by MLFLOW_RUN_ID when that is set (mlops train sets it, as Azure ML
does), and starts its own run otherwise.

    python train.py --C 1.0 --max-iter 500
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import sklearn
from mlflow.models import infer_signature
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

TARGET = "default"
ID_COLUMN = "application_id"
CATEGORICAL = ["purpose", "home_ownership", "employment_type", "region", "term"]


def build_model(
    numeric: list[str], *, c: float, max_iter: int, seed: int, class_weight: str | None
) -> Pipeline:
    """Preprocessing and classifier in one Pipeline."""
    features = ColumnTransformer(
        [
            ("num", StandardScaler(), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
        ]
    )
    return Pipeline(
        [
            ("features", features),
            (
                "classifier",
                LogisticRegression(
                    C=c, max_iter=max_iter, class_weight=class_weight, random_state=seed
                ),
            ),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Train the credit-default model.")
    parser.add_argument("--train", type=Path, default=Path(__file__).parent / "data" / "train.csv")
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength")
    parser.add_argument("--max-iter", type=int, default=500)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--class-weight", default="balanced", help="'balanced' or 'none'")
    parser.add_argument(
        "--drop-features", default="", help="comma-separated numeric features the model ignores"
    )
    parser.add_argument(
        "--serving-delay-ms",
        type=float,
        default=0.0,
        help="demo of a broken model: every prediction takes this much longer (slow_model.py)",
    )
    args = parser.parse_args()

    frame = pd.read_csv(args.train)
    X = frame.drop(columns=[TARGET, ID_COLUMN])
    y = frame[TARGET]
    dropped = {f for f in args.drop_features.split(",") if f}
    # Ignored features stay in the input schema, so the served model takes the same rows.
    numeric = [c for c in X.columns if c not in CATEGORICAL and c not in dropped]
    X_fit, X_val, y_fit, y_val = train_test_split(
        X, y, test_size=0.2, random_state=args.seed, stratify=y
    )

    class_weight = None if args.class_weight == "none" else args.class_weight
    model = build_model(
        numeric, c=args.C, max_iter=args.max_iter, seed=args.seed, class_weight=class_weight
    )
    model.fit(X_fit, y_fit)
    proba = model.predict_proba(X_val)[:, 1]
    predicted = (proba >= 0.5).astype(int)
    metrics = {
        "val_roc_auc": float(roc_auc_score(y_val, proba)),
        "val_accuracy": float(accuracy_score(y_val, predicted)),
        "val_f1": float(f1_score(y_val, predicted, zero_division=0)),
        "val_log_loss": float(log_loss(y_val, np.clip(proba, 1e-15, 1 - 1e-15))),
    }

    with mlflow.start_run(run_id=os.environ.get("MLFLOW_RUN_ID")):
        mlflow.log_params(
            {
                "C": args.C,
                "max_iter": args.max_iter,
                "seed": args.seed,
                "class_weight": args.class_weight,
                "rows": len(frame),
            }
        )
        mlflow.log_metrics(metrics)
        sample = X.head(5)
        served: object = model
        code_paths: list[str] | None = None
        trusted: list[str] | None = None
        if args.serving_delay_ms > 0:
            from slow_model import SlowModel

            served = SlowModel(model, args.serving_delay_ms)
            code_paths = [str(Path(__file__).with_name("slow_model.py"))]
            trusted = ["slow_model.SlowModel"]
            mlflow.log_param("serving_delay_ms", args.serving_delay_ms)
        # Explicit requirements: inferring them costs seconds and can differ between machines.
        requirements = [
            f"mlflow=={mlflow.__version__}",
            f"scikit-learn=={sklearn.__version__}",
            f"pandas=={pd.__version__}",
            f"numpy=={np.__version__}",
        ]
        info = mlflow.sklearn.log_model(
            served,
            name="model",
            signature=infer_signature(sample, model.predict(sample)),
            input_example=sample,
            pip_requirements=requirements,
            code_paths=code_paths,
            skops_trusted_types=trusted,
        )
    print(f"logged {info.model_uri} with val_roc_auc={metrics['val_roc_auc']:.4f}")


if __name__ == "__main__":
    main()
