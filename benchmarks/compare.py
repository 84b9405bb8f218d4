"""compare-champion on a 100k-row holdout with a 1,000-resample paired bootstrap vs its anchor.

Ours: `compare_champion()` end to end in one process (MLflow already imported): load both models
from a sqlite registry, read the holdout CSV, predict, all metrics, slices, the paired bootstrap of
ROC AUC (1,000 resamples), and the verdict written on the run. Also the bootstrap alone.
Anchor: the same bootstrap the usual way, sklearn's `roc_auc_score` called in a Python loop over
the same 1,000 resamples for both models, on the same predictions.

    python benchmarks/compare.py [--rows 100000] [--resamples 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "credit-default"
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


def _log(model: object, sample: object, name: str) -> str:
    import mlflow
    import numpy as np
    import pandas as pd
    import sklearn

    with mlflow.start_run(run_name=name):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            input_example=sample,
            pip_requirements=[
                f"scikit-learn=={sklearn.__version__}",
                f"pandas=={pd.__version__}",
                f"numpy=={np.__version__}",
            ],
        )
    return str(info.model_uri)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--anchor-resamples",
        type=int,
        metavar="N",
        help="Run the slow anchor on the first N resamples only and scale its time (default: all).",
    )
    args = parser.parse_args()

    sys.path.insert(0, str(EXAMPLE))
    import mlflow
    import numpy as np
    from generate_data import make_frame  # type: ignore[import-not-found]
    from sklearn.metrics import roc_auc_score
    from train import CATEGORICAL, ID_COLUMN, TARGET, build_model  # type: ignore[import-not-found]

    from mlops_actions.config import parse_settings
    from mlops_actions.metrics import builtin_metrics, paired_bootstrap, resample_weights
    from mlops_actions.registry import ModelRegistry
    from mlops_actions.steps.compare_champion import CompareOptions, compare_champion

    work = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    rng = np.random.default_rng(7)
    train = make_frame(20_000, rng)
    holdout = make_frame(args.rows, rng, start_id=20_000)
    holdout.to_csv(work / "holdout.csv", index=False)
    features = train.drop(columns=[TARGET, ID_COLUMN])
    numeric = [c for c in features.columns if c not in CATEGORICAL]
    good = build_model(numeric, c=1.0, max_iter=500, seed=1, class_weight=None)
    good.fit(features, train[TARGET])
    weak = build_model(numeric[:3], c=1.0, max_iter=500, seed=1, class_weight=None)
    weak.fit(features, train[TARGET])

    uri = f"sqlite:///{work / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.MlflowClient(uri).create_experiment(
        "bench", artifact_location=(work / "artifacts").as_uri()
    )
    mlflow.set_experiment(experiment_id=experiment)
    champion_uri = _log(weak, features.head(5), "champion")
    candidate_uri = _log(good, features.head(5), "challenger")
    registry = ModelRegistry(uri)
    champion = registry.register("bench", champion_uri, run_id=None, alias=None)
    registry.promote("bench", champion.version)
    settings = parse_settings(
        f"""
model: {{name: bench, task: classification}}
tracking_uri: {uri}
data: {{holdout: holdout.csv, target: {TARGET}, id_column: {ID_COLUMN}}}
evaluate:
  primary_metric: roc_auc
  min_improvement: 0.002
  guardrails: [{{metric: recall, max_regression: 0.05}}]
  confidence: 0.95
  bootstrap_resamples: {args.resamples}
  slices: [region]
""",
        base_dir=work,
    )

    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        result = compare_champion(settings, candidate_uri, CompareOptions(), registry=registry)
        times.append(time.perf_counter() - start)
    ours = min(times)
    assert result.bootstrap is not None

    # The bootstrap alone, and its anchor, on the same predictions and the same resamples.
    y = holdout[TARGET].to_numpy()
    x = holdout.drop(columns=[TARGET, ID_COLUMN])
    p_new, p_old = good.predict_proba(x)[:, 1], weak.predict_proba(x)[:, 1]
    from mlops_actions.metrics import classification_scored

    new = classification_scored(y, (p_new >= 0.5).astype(int), 1, p_new)
    old = classification_scored(y, (p_old >= 0.5).astype(int), 1, p_old)
    auc = builtin_metrics("classification")["roc_auc"]
    start = time.perf_counter()
    interval = paired_bootstrap(auc, new, old, resamples=args.resamples, confidence=0.95)
    boot = time.perf_counter() - start

    anchor_n = min(args.anchor_resamples or args.resamples, args.resamples)
    start = time.perf_counter()
    diffs: list[float] = []
    rows = np.arange(len(y))
    for weights in resample_weights(len(y), args.resamples, seed=0):
        for counts in weights.counts:
            if len(diffs) == anchor_n:
                break
            index = np.repeat(rows, counts)
            diffs.append(
                roc_auc_score(y[index], p_new[index]) - roc_auc_score(y[index], p_old[index])
            )
    anchor = (time.perf_counter() - start) * args.resamples / anchor_n
    low, high = np.quantile(diffs, [0.025, 0.975], method="inverted_cdf")
    same = (
        anchor_n == args.resamples
        and max(abs(low - interval.low), abs(high - interval.high)) < 1e-9
    )
    print(f"rows {args.rows:,}, resamples {args.resamples:,}, repeat {args.repeat}")
    print(
        f"compare_champion end to end   {ours:6.2f} s  (best of {len(times)}, median "
        f"{statistics.median(times):.2f} s; {result.reason[:60]}…)"
    )
    print(
        f"paired bootstrap, vectorised  {boot:6.2f} s  interval [{interval.low:+.4f}, "
        f"{interval.high:+.4f}]"
    )
    scaled = "" if anchor_n == args.resamples else f" (scaled from {anchor_n} resamples)"
    print(
        f"anchor: sklearn loop          {anchor:6.2f} s{scaled}  interval [{low:+.4f}, "
        f"{high:+.4f}]  (identical interval: {same})"
    )
    print(
        f"compare: {ours:.2f} s end to end on {args.rows:,} rows with {args.resamples:,} "
        f"resamples (budget 5 s); bootstrap {anchor / boot:.0f}x faster than the sklearn loop"
    )


if __name__ == "__main__":
    main()
