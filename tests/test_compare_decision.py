"""The decision rule of compare-champion on predictions whose metrics are known exactly."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mlops_actions.comparison.decision import decide
from mlops_actions.config import EvaluateSettings
from mlops_actions.errors import InputError
from mlops_actions.metrics import Scored, builtin_metrics, classification_scored

METRICS = builtin_metrics("classification")


def _settings(**values: Any) -> EvaluateSettings:
    values.setdefault("primary_metric", "accuracy")
    return EvaluateSettings.model_validate(values)


def _accuracy_model(y: np.ndarray, hits: int, *, seed: int = 0) -> Scored:
    """Labels that are right on exactly `hits` rows (chosen at random), with scores to match."""
    rng = np.random.default_rng(seed)
    right = np.zeros(len(y), dtype=bool)
    right[rng.choice(len(y), hits, replace=False)] = True
    labels = np.where(right, y, 1 - y)
    score = np.clip(labels * 0.6 + rng.random(len(y)) * 0.4, 0, 1)
    return classification_scored(y, labels, 1, score)


Y = np.tile([0, 1, 0, 0, 1], 200)  # 1,000 rows, 40 % positive


def test_primary_must_improve_by_the_absolute_margin() -> None:
    old, new = _accuracy_model(Y, 800), _accuracy_model(Y, 810, seed=1)
    passed = decide(_settings(min_improvement=0.01), METRICS, new, old, champion_label="v2")
    assert passed.is_better
    assert passed.reason.startswith("challenger beats champion v2: accuracy 0.8 → 0.81")
    failed = decide(_settings(min_improvement=0.0101), METRICS, new, old)
    assert not failed.is_better
    assert "improvement +0.01, ≥ +0.0101 required" in failed.reason
    [primary] = [r for r in failed.rows if r.role == "primary"]
    assert (primary.champion, primary.challenger, primary.passed) == (0.8, 0.81, False)


def test_relative_margin_and_lower_is_better_primary() -> None:
    old, new = _accuracy_model(Y, 800), _accuracy_model(Y, 820, seed=1)
    rel = _settings(min_improvement=0.025, improvement="relative")
    assert decide(rel, METRICS, new, old).is_better  # +2.5 % of 0.8
    assert not decide(
        rel.model_copy(update={"min_improvement": 0.026}), METRICS, new, old
    ).is_better
    # log_loss: lower is better, so the model with the lower loss is the better one
    settings = _settings(primary_metric="log_loss")
    good = classification_scored(Y, Y, 1, np.where(Y == 1, 0.9, 0.1))
    poor = classification_scored(Y, Y, 1, np.where(Y == 1, 0.6, 0.4))
    assert decide(settings, METRICS, good, poor).is_better
    assert not decide(settings, METRICS, poor, good).is_better


def test_guardrail_may_regress_by_at_most_its_bound() -> None:
    y = np.array([1] * 100 + [0] * 100)
    old_labels = np.array([1] * 80 + [0] * 20 + [1] * 2 + [0] * 98)  # recall 0.80, 2 false alarms
    new_labels = np.array([1] * 76 + [0] * 24 + [0] * 100)  # recall 0.76, accuracy 0.88
    old = classification_scored(y, old_labels, 1, old_labels * 0.9)
    new = classification_scored(y, new_labels, 1, new_labels * 0.9)
    # precision (the primary) rises from 0.976 to 1.0; recall drops by 0.04
    settings = _settings(
        primary_metric="precision",
        guardrails=[{"metric": "recall", "max_regression": 0.04}],
    )
    held = decide(settings, METRICS, new, old)
    assert held.is_better, held.reason
    tight = settings.model_copy(
        update={"guardrails": [settings.guardrails[0].model_copy(update={"max_regression": 0.03})]}
    )
    broken = decide(tight, METRICS, new, old)
    assert not broken.is_better
    assert "guardrail recall got worse by 0.04 (at most 0.03 allowed)" in broken.reason


def test_nan_metrics_fail_closed() -> None:
    labels_only = classification_scored(Y, Y, 1)  # a perfect model without probabilities
    scored = _accuracy_model(Y, 700)
    verdict = decide(_settings(primary_metric="roc_auc"), METRICS, labels_only, scored)
    assert not verdict.is_better
    assert "roc_auc is undefined (NaN) for the challenger" in verdict.reason
    guard = _settings(guardrails=[{"metric": "log_loss", "max_regression": 1.0}])
    assert not decide(guard, METRICS, labels_only, scored).is_better


def test_confidence_requires_the_bootstrap_interval_above_zero() -> None:
    old, slightly = _accuracy_model(Y, 800), _accuracy_model(Y, 803, seed=1)
    plain = _settings()
    assert decide(plain, METRICS, slightly, old).is_better  # +0.003 ≥ 0
    confident = _settings(confidence=0.95, bootstrap_resamples=300)
    noisy = decide(confident, METRICS, slightly, old)
    assert noisy.bootstrap is not None and noisy.bootstrap.low < 0 < noisy.bootstrap.high
    assert not noisy.is_better and "does not lie above 0" in noisy.reason
    clear = decide(confident, METRICS, _accuracy_model(Y, 900, seed=2), old)
    assert clear.is_better and clear.bootstrap is not None and clear.bootstrap.low > 0


def test_first_model_meets_floors_in_each_metric_direction() -> None:
    model = _accuracy_model(Y, 850)
    floors = _settings(min={"accuracy": 0.8, "log_loss": 5.0})
    first = decide(floors, METRICS, model, None)
    assert first.is_better and first.reason.startswith("first model (no champion yet) meets")
    assert {r.metric: r.bound for r in first.rows if r.role == "floor"} == {
        "accuracy": "≥ 0.8",
        "log_loss": "≤ 5",
    }
    missed = decide(_settings(min={"accuracy": 0.86}), METRICS, model, None)
    assert not missed.is_better and "accuracy 0.85 ≥ 0.86 does not hold" in missed.reason
    assert decide(_settings(), METRICS, model, None).is_better


def test_slices_apply_the_guardrails_per_slice() -> None:
    y = np.array([1, 0] * 100)
    region = np.array(["north"] * 100 + ["south"] * 100)
    old_labels = y.copy()
    new_labels = y.copy()
    new_labels[100:140:2] = 0  # misses 20 of the 50 positives in the south only
    old = classification_scored(y, old_labels, 1, old_labels * 0.9)
    new = classification_scored(y, new_labels, 1, new_labels * 0.9)
    settings = _settings(
        primary_metric="precision",
        guardrails=[{"metric": "recall", "max_regression": 0.25}],
        slices=["region"],
    )
    verdict = decide(settings, METRICS, new, old, slice_values={"region": region})
    assert not verdict.is_better  # overall recall -0.2 holds, the south's -0.4 does not
    assert "guardrail recall on slice region=south got worse by 0.4" in verdict.reason
    assert [(s.value, s.rows, s.passed) for s in verdict.slices] == [
        ("north", 100, True),
        ("south", 100, False),
    ]


def test_slice_without_positives_fails_closed_and_missing_values_are_a_slice() -> None:
    y = np.array([1, 0, 1, 0, 0, 0])
    kind = np.array(["a", "a", "a", None, None, None], dtype=object)
    model = classification_scored(y, y, 1, y * 0.8)
    settings = _settings(guardrails=[{"metric": "recall", "max_regression": 0.1}], slices=["k"])
    verdict = decide(settings, METRICS, model, model, slice_values={"k": kind})
    assert [s.value for s in verdict.slices] == ["(missing)", "a"]
    assert not verdict.is_better and "undefined (NaN) on slice k=(missing)" in verdict.reason
    weaker = classification_scored(y, np.array([1, 0, 0, 0, 0, 0]), 1, y * 0.8)
    report_only = decide(_settings(slices=["k"]), METRICS, model, weaker, slice_values={"k": kind})
    assert report_only.is_better and {s.passed for s in report_only.slices} == {None}


def test_too_many_slices_is_an_input_error() -> None:
    model = _accuracy_model(Y, 800)
    with pytest.raises(InputError, match="has 1000 distinct values"):
        decide(
            _settings(slices=["id"]), METRICS, model, model, slice_values={"id": np.arange(1000)}
        )


@pytest.mark.parametrize("improvement", ["absolute", "relative"])
def test_a_tie_is_never_an_improvement(improvement: str) -> None:
    old = _accuracy_model(Y, 800)
    same = _accuracy_model(Y, 800, seed=1)  # other rows right, the same accuracy
    settings = _settings(min_improvement=0.0, improvement=improvement)
    tie = decide(settings, METRICS, same, old, champion_label="v1")
    assert not tie.is_better
    assert "> 0" in tie.reason and "required" in tie.reason
    assert decide(settings, METRICS, _accuracy_model(Y, 801, seed=2), old).is_better
