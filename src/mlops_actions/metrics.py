"""Model metrics computed with numpy, and the paired bootstrap that compares two models.

Every built-in metric is a weighted sum of per-row quantities (a hit, an error, a log-loss term,
a rank). Weights of ones give the metric on the holdout; a matrix of multinomial counts, one row
per resample, gives the metric on every bootstrap resample at once, so 1,000 resamples cost a few
matrix products instead of 1,000 metric calls. The same counts weight both models: the bootstrap
is paired, and the spread of the difference is not inflated by scoring them on different rows.

Undefined values (recall without positives, AUC with one class, log-loss without probabilities)
are NaN, never a convenient 0: the comparison treats NaN as a failure. Custom metrics are plain
functions of (y_true, y_pred): on resamples they are called once per resample.
"""

from __future__ import annotations

import importlib
import inspect
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from mlops_actions.errors import InputError
from mlops_actions.metric_catalog import metrics_for

Task = Literal["classification", "regression"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
IntCounts = npt.NDArray[np.signedinteger[Any]]

LOG_LOSS_EPS = 1e-15
_INT8_MAX = 127
DEFAULT_CHUNK_CELLS = 3_000_000
"""Resample weights are built in chunks of about this many cells (24 MB of float64)."""


class Resamples:
    """A chunk of bootstrap resamples: multinomial row counts, one row of counts per resample."""

    def __init__(self, counts: IntCounts) -> None:
        self.counts = counts

    @property
    def size(self) -> int:
        return int(self.counts.shape[0])

    @cached_property
    def floats(self) -> npt.NDArray[np.float32]:
        # Counts and sums of 0/1 values stay exact in float32 up to 16.7M rows; float32 halves the
        # memory traffic of the matrix-vector products that dominate the bootstrap.
        return self.counts.astype(np.float32)

    @cached_property
    def totals(self) -> FloatArray:
        """Rows drawn by each resample (the holdout size, for multinomial resamples)."""
        return np.asarray(self.counts.sum(axis=1, dtype=np.int64), dtype=np.float64)


Weights = Resamples | None
"""None for the plain holdout, else resample counts."""


@dataclass(frozen=True, eq=False)
class Scored:
    """One model's predictions on the holdout, in the form the metrics read.

    Classification is scored for one positive class: `y` and `pred` are 1.0 where the true and the
    predicted label are that class; `correct` says whether the predicted label equals the true one
    (so accuracy also holds for more than two classes); `score` is the probability of the positive
    class, or None when the model only gives labels. Regression: `y` and `pred` are the values.
    """

    task: Task
    y: FloatArray
    pred: FloatArray
    score: FloatArray | None = None
    correct: FloatArray | None = None

    def __post_init__(self) -> None:
        n = len(self.y)
        for name in ("pred", "score", "correct"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise ValueError(f"{name} has {len(value)} rows, y has {n}")

    @property
    def rows(self) -> int:
        return len(self.y)

    def take(self, index: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> Scored:
        """The same predictions restricted to some rows (a slice of the holdout)."""
        return Scored(
            self.task,
            self.y[index],
            self.pred[index],
            None if self.score is None else self.score[index],
            None if self.correct is None else self.correct[index],
        )

    @cached_property
    def rank_plan(self) -> tuple[IntArray, IntArray, IntArray, IntArray]:
        """For AUC: positive rows, negative rows by score, and for each positive how many
        negatives score below it (`lo`) and at most as high (`hi`); ties count one half."""
        assert self.score is not None
        positive = self.y > 0.5
        pos_rows = np.flatnonzero(positive)
        neg_rows = np.flatnonzero(~positive)
        neg_sorted = neg_rows[np.argsort(self.score[neg_rows], kind="stable")]
        ranked = self.score[neg_sorted]
        pos_scores = self.score[pos_rows]
        lo = np.searchsorted(ranked, pos_scores, side="left")
        hi = np.searchsorted(ranked, pos_scores, side="right")
        return pos_rows, neg_sorted, lo, hi


def classification_scored(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    positive: object,
    proba: npt.ArrayLike | None = None,
) -> Scored:
    """Scored predictions of a classifier for the class `positive` (labels compared as values)."""
    truth = np.asarray(y_true)
    predicted = np.asarray(y_pred)
    if predicted.ndim != 1 or len(predicted) != len(truth):
        raise ValueError(f"expected {len(truth)} predicted labels, got shape {predicted.shape}")
    y = label_is(truth, positive).astype(np.float64)
    pred = label_is(predicted, positive).astype(np.float64)
    correct = _same_labels(truth, predicted).astype(np.float64)
    score = None if proba is None else np.asarray(proba, dtype=np.float64)
    return Scored("classification", y, pred, score, correct)


def regression_scored(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> Scored:
    """Scored predictions of a regressor."""
    y = np.asarray(y_true, dtype=np.float64)
    pred = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    return Scored("regression", y, pred)


def label_is(values: npt.NDArray[np.generic], label: object) -> npt.NDArray[np.bool_]:
    """Where `values` equal `label`; falls back to text comparison (`1` matches `"1"`)."""
    direct = np.asarray(values == label, dtype=bool)
    if direct.shape == values.shape and direct.any():
        return direct
    as_text = values.astype(str) == str(label)
    return as_text if as_text.any() else np.zeros(values.shape, dtype=bool)


def _same_labels(a: npt.NDArray[np.generic], b: npt.NDArray[np.generic]) -> npt.NDArray[np.bool_]:
    equal = np.asarray(a == b, dtype=bool)
    if equal.shape == a.shape and (equal.any() or a.dtype.kind == b.dtype.kind):
        return equal
    return np.asarray(a.astype(str) == b.astype(str), dtype=bool)


# ---------------------------------------------------------------- weighted building blocks


def _wsum(w: Weights, values: FloatArray) -> FloatArray:
    if w is None:
        return np.array([values.sum()], dtype=np.float64)
    return np.asarray(w.floats @ values.astype(np.float32), dtype=np.float64)


def _total(w: Weights, n: int) -> FloatArray:
    if w is None:
        return np.array([float(n)])
    return w.totals


def _nan(w: Weights) -> FloatArray:
    return np.full(1 if w is None else w.size, np.nan)


def _ratio(num: FloatArray, den: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return np.where(den > 0, out, np.nan)


def _accuracy(s: Scored, w: Weights) -> FloatArray:
    assert s.correct is not None
    return _ratio(_wsum(w, s.correct), _total(w, s.rows))


def _precision(s: Scored, w: Weights) -> FloatArray:
    return _ratio(_wsum(w, s.y * s.pred), _wsum(w, s.pred))


def _recall(s: Scored, w: Weights) -> FloatArray:
    return _ratio(_wsum(w, s.y * s.pred), _wsum(w, s.y))


def _f1(s: Scored, w: Weights) -> FloatArray:
    tp = _wsum(w, s.y * s.pred)
    return _ratio(2 * tp, _wsum(w, s.pred) + _wsum(w, s.y))


def _log_loss(s: Scored, w: Weights) -> FloatArray:
    if s.score is None:
        return _nan(w)
    p = np.clip(s.score, LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    terms = -(s.y * np.log(p) + (1 - s.y) * np.log1p(-p))
    return _ratio(_wsum(w, terms), _total(w, s.rows))


def _roc_auc(s: Scored, w: Weights) -> FloatArray:
    """Mann-Whitney form: the weighted share of (positive, negative) pairs ranked right, ties 1/2.

    With resamples, only the negatives are put in score order: a cumulative sum of their counts,
    read at each positive's `lo` and `hi`, gives twice its pair count in integer arithmetic.
    """
    if s.score is None:
        return _nan(w)
    pos_rows, neg_sorted, lo, hi = s.rank_plan
    ties = not np.array_equal(lo, hi)
    if w is None:
        pairs2 = float((lo + hi).sum())
        return _ratio(np.array([pairs2]), np.array([2.0 * len(pos_rows) * len(neg_sorted)]))
    pos_w = np.take(w.counts, pos_rows, axis=1)
    neg_cum = np.zeros((w.size, len(neg_sorted) + 1), dtype=np.int32)
    np.cumsum(np.take(w.counts, neg_sorted, axis=1), axis=1, dtype=np.int32, out=neg_cum[:, 1:])
    if ties:
        twice = np.take(neg_cum, lo, axis=1)
        twice += np.take(neg_cum, hi, axis=1)
        pairs2 = (pos_w * twice).sum(axis=1, dtype=np.int64)
    else:  # no positive ties a negative: lo == hi
        pairs2 = 2 * (pos_w * np.take(neg_cum, lo, axis=1)).sum(axis=1, dtype=np.int64)
    total = pos_w.sum(axis=1, dtype=np.int64).astype(np.float64) * neg_cum[:, -1]
    return _ratio(pairs2.astype(np.float64), 2.0 * total)


def _errors(s: Scored) -> FloatArray:
    return s.pred - s.y


def _rmse(s: Scored, w: Weights) -> FloatArray:
    e = _errors(s)
    return np.sqrt(_ratio(_wsum(w, e * e), _total(w, s.rows)))


def _mae(s: Scored, w: Weights) -> FloatArray:
    return _ratio(_wsum(w, np.abs(_errors(s))), _total(w, s.rows))


def _r2(s: Scored, w: Weights) -> FloatArray:
    e = _errors(s)
    centred = s.y - s.y.mean() if s.rows else s.y
    total = _total(w, s.rows)
    spread = _wsum(w, centred * centred) - _ratio(_wsum(w, centred) ** 2, total)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 1.0 - _wsum(w, e * e) / spread
    return np.where(spread > 1e-12 * np.maximum(total, 1.0), out, np.nan)


MetricFn = Callable[[Scored, Weights], FloatArray]

_BUILTIN: dict[str, MetricFn] = {
    "roc_auc": _roc_auc,
    "accuracy": _accuracy,
    "precision": _precision,
    "recall": _recall,
    "f1": _f1,
    "log_loss": _log_loss,
    "rmse": _rmse,
    "mae": _mae,
    "r2": _r2,
}


@dataclass(frozen=True)
class Metric:
    """A named metric with its direction; `compute` returns one value per weight row."""

    name: str
    greater_is_better: bool
    fn: MetricFn
    custom: bool = False

    def compute(self, scored: Scored, weights: Weights = None) -> FloatArray:
        return self.fn(scored, weights)

    def value(self, scored: Scored) -> float:
        """The metric on the rows of `scored`; NaN when it is undefined there."""
        out = self.fn(scored, None)
        return float(out[0]) if len(out) else math.nan


def builtin_metrics(task: Task) -> dict[str, Metric]:
    """Every built-in metric of `task`, in catalog order."""
    return {
        name: Metric(name, greater, _BUILTIN[name]) for name, greater in metrics_for(task).items()
    }


# ---------------------------------------------------------------- custom metrics


@contextmanager
def _importable_from(folder: Path | None) -> Iterator[None]:
    if folder is None or str(folder) in sys.path:
        yield
        return
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        with suppress(ValueError):
            sys.path.remove(str(folder))


def load_custom_metric(
    name: str,
    reference: str,
    *,
    greater_is_better: bool | None,
    search_path: Path | None = None,
) -> Metric:
    """Import `package.module:function` (from `search_path` too) as a metric.

    The function is called as `fn(y_true, y_pred)` with numpy arrays (classification: 1/0 for the
    positive class; regression: values), plus `y_score=` (probability of the positive class) when
    its signature has that parameter. Its direction is `greater_is_better`, else the function's
    own `greater_is_better` attribute. Raises InputError naming `evaluate.custom_metrics.<name>`.
    """
    where = f"evaluate.custom_metrics.{name}"
    module_name, _, attr = reference.partition(":")
    if not module_name or not attr:
        raise InputError(
            f"{where}: {reference!r} is not 'package.module:function';",
            hint="write it as e.g. 'my_metrics:gini'.",
        )
    try:
        with _importable_from(search_path):
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(
            f"{where}: cannot import module {module_name!r} ({exc});",
            hint="put the module next to mlops.yaml or install its package in the job.",
        ) from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise InputError(
            f"{where}: module {module_name!r} has no function {attr!r};",
            hint="check the name after the colon.",
        )
    direction = greater_is_better
    if direction is None:
        declared = getattr(fn, "greater_is_better", None)
        direction = declared if isinstance(declared, bool) else None
    if direction is None:
        raise InputError(
            f"{where}: the direction of custom metric {name!r} is unknown;",
            hint="set `greater_is_better = True` (or False) as an attribute of the function.",
        )
    try:
        wants_score = "y_score" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        wants_score = False
    return Metric(name, direction, _custom_fn(fn, wants_score), custom=True)


def _custom_fn(fn: Callable[..., object], wants_score: bool) -> MetricFn:
    def call(s: Scored, index: npt.NDArray[np.intp] | None) -> float:
        y, pred, score = s.y, s.pred, s.score
        if index is not None:
            y, pred = y[index], pred[index]
            score = None if score is None else score[index]
        if s.task == "classification":
            y, pred = y.astype(np.int64), pred.astype(np.int64)
        kwargs = {"y_score": score} if wants_score else {}
        try:
            value = fn(y, pred, **kwargs)
            return float(value)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - a metric that cannot be computed is undefined (NaN)
            return math.nan

    def compute(s: Scored, w: Weights) -> FloatArray:
        if w is None:
            return np.array([call(s, None)], dtype=np.float64)
        rows = np.arange(s.rows)
        return np.array([call(s, np.repeat(rows, c)) for c in w.counts])

    return compute


# ---------------------------------------------------------------- paired bootstrap


@dataclass(frozen=True)
class BootstrapInterval:
    """Where the improvement of the challenger over the champion lies, by paired bootstrap.

    The improvement is oriented: positive means the challenger is better, whatever the metric's
    direction. Resamples on which the metric is undefined count as the worst case (-inf), so an
    unstable metric cannot produce a confident verdict.
    """

    metric: str
    confidence: float
    resamples: int
    low: float
    high: float
    median: float
    share_better: float
    undefined: int

    @property
    def excludes_zero(self) -> bool:
        """True when the whole interval lies above zero (the challenger is better)."""
        return bool(self.low > 0)


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Single-threaded BLAS for the bootstrap's many small products.

    They finish in a fraction of a millisecond; BLAS threads only add hand-offs, and on a busy
    2-core runner they made each product 20x slower.
    """
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:  # installed with scikit-learn; without it, keep the default
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def resample_weights(
    rows: int, resamples: int, *, seed: int, chunk: int | None = None
) -> Iterator[Resamples]:
    """Multinomial resample counts (`rows` draws with replacement), `chunk` resamples at a time."""
    rng = np.random.default_rng(seed)
    per_chunk = chunk or max(1, min(resamples, DEFAULT_CHUNK_CELLS // max(rows, 1)))
    done = 0
    while done < resamples:
        k = min(per_chunk, resamples - done)
        draws = rng.integers(0, rows, size=(k, rows), dtype=np.int32)
        # A row drawn more than 127 times in one resample is practically impossible unless the
        # holdout is tiny; int8 counts quarter the memory traffic of every gather.
        tiny = rows <= _INT8_MAX  # then no count can exceed int8
        counts: IntCounts = np.empty((k, rows), dtype=np.int8)
        for i in range(k):  # one row at a time stays in cache; 2x faster than one big bincount
            row = np.bincount(draws[i], minlength=rows)
            if counts.dtype == np.int8 and not tiny and row.max(initial=0) > _INT8_MAX:
                counts = counts.astype(np.int32)
            counts[i] = row
        yield Resamples(counts)
        done += k


def paired_bootstrap(
    metric: Metric,
    challenger: Scored,
    champion: Scored,
    *,
    resamples: int,
    confidence: float,
    seed: int = 0,
    chunk: int | None = None,
) -> BootstrapInterval:
    """Percentile interval of the challenger's improvement over the champion on `metric`.

    Both models are scored on the same resampled rows. Returns the two-sided interval at
    `confidence` (e.g. 0.95 → 2.5th to 97.5th percentile).
    """
    if challenger.rows != champion.rows:
        raise ValueError("both models must be scored on the same rows")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    parts = []
    with _one_blas_thread():
        for weights in resample_weights(challenger.rows, resamples, seed=seed, chunk=chunk):
            parts.append(metric.compute(challenger, weights) - metric.compute(champion, weights))
    diffs = np.concatenate(parts) if parts else np.empty(0)
    if not metric.greater_is_better:
        diffs = -diffs
    undefined = int(np.isnan(diffs).sum())
    oriented = np.where(np.isnan(diffs), -np.inf, diffs)
    tail = round((1 - confidence) / 2, 12)  # 0.025, not 0.025000000000000022
    if len(oriented):
        low, median, high = np.quantile(oriented, [tail, 0.5, 1 - tail], method="inverted_cdf")
    else:
        low = median = high = math.nan
    return BootstrapInterval(
        metric=metric.name,
        confidence=confidence,
        resamples=resamples,
        low=float(low),
        high=float(high),
        median=float(median),
        share_better=float((oriented > 0).mean()) if len(oriented) else math.nan,
        undefined=undefined,
    )
