"""Vectorised metrics and the paired bootstrap, checked against scikit-learn as the reference."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as sk

from mlops_actions.errors import InputError
from mlops_actions.metrics import (
    Scored,
    builtin_metrics,
    classification_scored,
    load_custom_metric,
    paired_bootstrap,
    regression_scored,
    resample_weights,
)

CLASSIFICATION = builtin_metrics("classification")
REGRESSION = builtin_metrics("regression")


def _binary(n: int, seed: int, *, ties: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    score = np.clip(0.25 * y + rng.random(n) * 0.75, 0, 1)
    if ties:
        score = np.round(score, 1)  # many equal scores, across both classes
    labels = (score >= 0.5).astype(int)
    return y, labels, score


def _sklearn(name: str, y: np.ndarray, labels: np.ndarray, score: np.ndarray) -> float:
    if name == "roc_auc":
        return float(sk.roc_auc_score(y, score))
    if name == "log_loss":
        return float(sk.log_loss(y, score))
    if name == "accuracy":
        return float(sk.accuracy_score(y, labels))
    fn = {"precision": sk.precision_score, "recall": sk.recall_score, "f1": sk.f1_score}[name]
    return float(fn(y, labels))


@pytest.mark.parametrize("ties", [False, True])
def test_classification_metrics_match_sklearn(ties: bool) -> None:
    y, labels, score = _binary(3000, seed=1, ties=ties)
    scored = classification_scored(y, labels, 1, score)
    for name, metric in CLASSIFICATION.items():
        assert metric.value(scored) == pytest.approx(_sklearn(name, y, labels, score), abs=1e-12)


def test_regression_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(1e4, 3e3, 2000)
    pred = y + rng.normal(0, 800, 2000)
    scored = regression_scored(y, pred)
    assert REGRESSION["rmse"].value(scored) == pytest.approx(
        math.sqrt(sk.mean_squared_error(y, pred)), rel=1e-12
    )
    assert REGRESSION["mae"].value(scored) == pytest.approx(sk.mean_absolute_error(y, pred))
    assert REGRESSION["r2"].value(scored) == pytest.approx(sk.r2_score(y, pred), abs=1e-12)


def test_positive_class_is_configurable_and_accuracy_counts_every_class() -> None:
    truth = np.array(["no", "yes", "maybe", "yes", "no", "yes"])
    predicted = np.array(["no", "yes", "yes", "no", "maybe", "yes"])
    proba_yes = np.array([0.1, 0.9, 0.6, 0.4, 0.2, 0.8])
    scored = classification_scored(truth, predicted, "yes", proba_yes)
    assert CLASSIFICATION["accuracy"].value(scored) == pytest.approx(
        sk.accuracy_score(truth, predicted)
    )
    assert CLASSIFICATION["recall"].value(scored) == pytest.approx(
        sk.recall_score(truth == "yes", predicted == "yes")
    )
    assert CLASSIFICATION["roc_auc"].value(scored) == pytest.approx(
        sk.roc_auc_score(truth == "yes", proba_yes)
    )
    # A numeric positive class given as text (as it may come from YAML) still matches.
    as_text = classification_scored(np.array([0, 1, 1]), np.array([0, 1, 0]), "1")
    assert CLASSIFICATION["recall"].value(as_text) == pytest.approx(0.5)


@pytest.mark.parametrize("ties", [False, True])
def test_resampled_metrics_equal_sklearn_on_the_resampled_rows(ties: bool) -> None:
    y, labels, score = _binary(500, seed=3, ties=ties)
    scored = classification_scored(y, labels, 1, score)
    rng = np.random.default_rng(4)
    yr = rng.normal(0, 1, 500)
    reg = regression_scored(yr, yr + rng.normal(0, 0.5, 500))
    rows = np.arange(500)
    [chunk] = list(resample_weights(500, 20, seed=9))
    assert chunk.counts.shape == (20, 500)
    assert (chunk.counts.sum(axis=1) == 500).all()
    for name, metric in CLASSIFICATION.items():
        got = metric.compute(scored, chunk)
        for i, counts in enumerate(chunk.counts):
            idx = np.repeat(rows, counts)
            want = _sklearn(name, y[idx], labels[idx], score[idx])
            assert got[i] == pytest.approx(want, rel=1e-5, abs=1e-6), (name, i)
    for i, counts in enumerate(chunk.counts):
        idx = np.repeat(rows, counts)
        assert REGRESSION["r2"].compute(reg, chunk)[i] == pytest.approx(
            sk.r2_score(yr[idx], reg.pred[idx]), rel=1e-4
        )
        assert REGRESSION["mae"].compute(reg, chunk)[i] == pytest.approx(
            sk.mean_absolute_error(yr[idx], reg.pred[idx]), rel=1e-5
        )


def test_paired_bootstrap_equals_the_loop_over_sklearn() -> None:
    y, _, strong = _binary(1500, seed=5, ties=False)
    weak = np.round(np.clip(strong + np.random.default_rng(6).normal(0, 0.3, 1500), 0, 1), 2)
    new = classification_scored(y, strong >= 0.5, 1, strong)
    old = classification_scored(y, weak >= 0.5, 1, weak)
    interval = paired_bootstrap(
        CLASSIFICATION["roc_auc"], new, old, resamples=300, confidence=0.9, seed=11, chunk=64
    )
    rows = np.arange(1500)
    diffs = []
    for chunk in resample_weights(1500, 300, seed=11, chunk=64):
        for counts in chunk.counts:
            idx = np.repeat(rows, counts)
            diffs.append(
                sk.roc_auc_score(y[idx], strong[idx]) - sk.roc_auc_score(y[idx], weak[idx])
            )
    low, median, high = np.quantile(diffs, [0.05, 0.5, 0.95], method="inverted_cdf")
    assert (interval.low, interval.median, interval.high) == pytest.approx(
        (low, median, high), abs=1e-9
    )
    assert interval.excludes_zero and interval.share_better == pytest.approx(
        np.mean(np.array(diffs) > 0)
    )


def test_bootstrap_orients_lower_is_better_metrics() -> None:
    rng = np.random.default_rng(7)
    y = rng.normal(0, 1, 800)
    close, far = regression_scored(y, y + rng.normal(0, 0.1, 800)), regression_scored(y, y + 1)
    interval = paired_bootstrap(REGRESSION["rmse"], close, far, resamples=200, confidence=0.95)
    assert interval.low > 0.5  # the closer model is better: the improvement is positive
    worse = paired_bootstrap(REGRESSION["rmse"], far, close, resamples=200, confidence=0.95)
    assert worse.high < 0 and not worse.excludes_zero


def test_same_model_is_not_confidently_better() -> None:
    y, labels, score = _binary(1000, seed=8, ties=False)
    same = classification_scored(y, labels, 1, score)
    interval = paired_bootstrap(
        CLASSIFICATION["roc_auc"], same, same, resamples=200, confidence=0.95
    )
    assert interval.low == interval.high == 0.0
    assert not interval.excludes_zero


def test_undefined_metrics_are_nan_not_zero() -> None:
    only_negatives = classification_scored(np.zeros(5), np.zeros(5), 1, np.linspace(0, 1, 5))
    assert math.isnan(CLASSIFICATION["roc_auc"].value(only_negatives))
    assert math.isnan(CLASSIFICATION["recall"].value(only_negatives))
    assert math.isnan(CLASSIFICATION["precision"].value(only_negatives))
    labels_only = classification_scored(np.array([0, 1, 1]), np.array([0, 1, 0]), 1)
    assert math.isnan(CLASSIFICATION["log_loss"].value(labels_only))
    assert math.isnan(CLASSIFICATION["roc_auc"].value(labels_only))
    constant = regression_scored(np.ones(4), np.arange(4.0))
    assert math.isnan(REGRESSION["r2"].value(constant))


def test_resamples_where_the_metric_is_undefined_count_as_losses() -> None:
    # 3 positives in 60 rows: some resamples draw none, so AUC is undefined there.
    y = np.zeros(60)
    y[:3] = 1
    score = np.linspace(1, 0, 60)
    good = classification_scored(y, score > 0.9, 1, score)
    bad = classification_scored(y, score > 0.9, 1, score[::-1].copy())
    interval = paired_bootstrap(
        CLASSIFICATION["roc_auc"], good, bad, resamples=400, confidence=0.99, seed=1
    )
    assert interval.undefined > 4  # more than the 0.5 % tail
    assert interval.low == -math.inf and not interval.excludes_zero


def test_scored_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="rows"):
        Scored("regression", np.zeros(3), np.zeros(2))


def test_custom_metric_by_dotted_path(tmp_path: Path) -> None:
    (tmp_path / "team_metrics.py").write_text(
        "import numpy as np\n"
        "def positive_rate(y_true, y_pred):\n"
        "    return float(np.mean(y_pred))\n"
        "positive_rate.greater_is_better = False\n"
        "def auc_like(y_true, y_pred, y_score=None):\n"
        "    return float(np.mean(y_score[y_true == 1]) - np.mean(y_score[y_true == 0]))\n"
        "def broken(y_true, y_pred):\n"
        "    raise ZeroDivisionError('no')\n",
        encoding="utf-8",
    )
    y, labels, score = _binary(400, seed=9, ties=False)
    scored = classification_scored(y, labels, 1, score)
    rate = load_custom_metric(
        "rate", "team_metrics:positive_rate", greater_is_better=None, search_path=tmp_path
    )
    assert rate.custom and rate.greater_is_better is False
    assert rate.value(scored) == pytest.approx(labels.mean())
    auc_like = load_custom_metric(
        "gap", "team_metrics:auc_like", greater_is_better=True, search_path=tmp_path
    )
    assert auc_like.value(scored) == pytest.approx(score[y == 1].mean() - score[y == 0].mean())
    [chunk] = list(resample_weights(400, 5, seed=2))
    idx = np.repeat(np.arange(400), chunk.counts[0])
    assert rate.compute(scored, chunk)[0] == pytest.approx(labels[idx].mean())
    broken = load_custom_metric(
        "broken", "team_metrics:broken", greater_is_better=True, search_path=tmp_path
    )
    assert math.isnan(broken.value(scored))


@pytest.mark.parametrize(
    ("reference", "direction", "message"),
    [
        ("no_such_module_xyz:fn", True, "cannot import module"),
        ("team_metrics2:missing", True, "has no function 'missing'"),
        ("team_metrics2:nodirection", None, "direction of custom metric"),
    ],
)
def test_custom_metric_errors_name_the_key(
    tmp_path: Path, reference: str, direction: bool | None, message: str
) -> None:
    (tmp_path / "team_metrics2.py").write_text(
        "def nodirection(y_true, y_pred):\n    return 1.0\n", encoding="utf-8"
    )
    with pytest.raises(InputError, match=message) as caught:
        load_custom_metric("mine", reference, greater_is_better=direction, search_path=tmp_path)
    assert "evaluate.custom_metrics.mine" in str(caught.value)


def test_counts_of_a_tiny_holdout_fit_and_sum() -> None:
    for chunk in resample_weights(7, 50, seed=3, chunk=16):
        assert (chunk.counts.sum(axis=1) == 7).all()
        assert chunk.counts.min() >= 0
