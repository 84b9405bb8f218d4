"""Monitoring, performance-report: model quality on production traffic with delayed ground truth.

Labels arrive later than predictions. This step joins the prediction log (one row per served
prediction: request id, time, deployment, model version, output, score) with a labels table by
request id (and `row`, when the labels have that column, for multi-row requests), cuts the
predictions into fixed windows by prediction time (`window`, e.g. 7D, starting at `since` or at
midnight UTC of the first prediction), and computes the task's metrics (`mlops_actions.metrics`)
per window and per deployment/model version. Each (window, version) cell with at least
`min_window_labels` labels is compared with the holdout metrics of its model version (registry
tags `mlops.metrics.<metric>` written by register; else the version's run metrics; or
`baseline_metrics` given by hand): it is degraded when the primary metric is worse than the
baseline by more than `max_degradation` (absolute) with `confidence` — the one-sided bootstrap
bound of the metric in its good direction (e.g. the 95th percentile of the AUC over resampled
labels) is still worse than allowed — so a few hundred labels of sampling noise do not raise an
alarm (`confidence=None` compares the point estimate). `degraded` is the verdict of the latest
judged window of served (non-shadow) traffic; every degraded window is listed. Shadow (mirrored)
predictions are reported per deployment but never count in the windows' verdicts or coverage.
Predictions of the pipeline's own requests (smoke test, canary probes: a `source` label in the
log) are left out before anything is counted, unless `include_sources` names them; the report
says how many were left out.

Label quality is reported, not hidden (`monitoring.ground_truth`); baselines come from
`monitoring.baselines`. The step writes no files: the command writes the details JSON
(`reports.performance.write_details`).

Raises InputError for unreadable sources, missing columns, labels that match no prediction at all,
an empty window, or no baseline for the primary metric; BackendError when the registry fails.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlops_actions.errors import InputError
from mlops_actions.monitoring.ground_truth import LabelQuality, LabelTable
from mlops_actions.monitoring.loading import load_source
from mlops_actions.monitoring.sources import DataSource, LoadedData, TimeWindow

if TYPE_CHECKING:
    import pandas as pd

    from mlops_actions.metrics import Metric, Scored

Task = Literal["classification", "regression"]
DEFAULT_MIN_WINDOW_LABELS = 50
DEFAULT_CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 500


@dataclass(frozen=True, kw_only=True)
class PerformanceSettings:
    """Everything performance-report needs, resolved from flags and mlops.yaml."""

    predictions: DataSource
    labels: LabelTable
    task: Task
    metric: str
    window: str
    range: TimeWindow = field(default_factory=TimeWindow)
    max_degradation: float
    min_window_labels: int = DEFAULT_MIN_WINDOW_LABELS
    confidence: float | None = DEFAULT_CONFIDENCE
    """One-sided bootstrap confidence that a cell is worse than allowed; None: point estimate."""
    resamples: int = DEFAULT_RESAMPLES
    seed: int = 0
    positive_class: object | None = None
    baseline_metrics: Mapping[str, Any] | None = None
    """{metric: value} for every version, or {version: {metric: value}}; overrides the registry."""
    model_name: str | None = None
    tracking_uri: str | None = None
    registry_uri: str | None = None
    include_sources: frozenset[str] = frozenset()
    """Traffic source labels to count besides users' requests (`all`: every label)."""


@dataclass(frozen=True)
class Cell:
    """Metrics of one slice of predictions (a window, a version, or a window × version)."""

    predictions: int
    labelled: int
    metrics: dict[str, float | None]
    baseline: float | None = None
    degraded: bool | None = None
    """None: not judged (too few labels, no baseline, or the metric is undefined here)."""
    bound: float | None = None
    """The best value the primary metric plausibly has here (the bootstrap's one-sided bound at
    the confidence level): degraded means even this is worse than allowed. Only computed when
    the value itself is worse than allowed (else the bound, on its good side, cannot be)."""

    @property
    def coverage(self) -> float:
        return self.labelled / self.predictions if self.predictions else 0.0


@dataclass(frozen=True)
class WindowResult:
    start: datetime
    end: datetime
    served: Cell
    """Served (non-shadow) traffic of the window; `degraded` if any served version degraded."""
    versions: tuple[tuple[str, str, bool, Cell], ...]
    """(deployment, model version, shadow, cell) for each deployment/version in the window."""


@dataclass(frozen=True)
class VersionResult:
    deployment: str
    model_version: str
    shadow: bool
    cell: Cell


@dataclass(frozen=True)
class PerformanceReport:
    metric: str
    greater_is_better: bool
    max_degradation: float
    min_window_labels: int
    confidence: float | None
    window: str
    windows: tuple[WindowResult, ...]
    versions: tuple[VersionResult, ...]
    overall: Cell
    quality: LabelQuality
    baselines: dict[str, dict[str, float]]
    baseline_source: str
    positive_class: object | None
    predictions_source: str
    labels_source: str
    range: TimeWindow
    files: dict[str, Path] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    left_out: dict[str, int] = field(default_factory=dict)
    """Pipeline predictions (smoke, probe, …) that were not counted: label → rows."""

    @property
    def judged(self) -> list[WindowResult]:
        return [w for w in self.windows if w.served.degraded is not None]

    @property
    def degraded_windows(self) -> list[WindowResult]:
        return [w for w in self.windows if w.served.degraded]

    @property
    def degraded(self) -> bool:
        """The latest judged window of served traffic is degraded."""
        judged = self.judged
        return bool(judged and judged[-1].served.degraded)

    @property
    def coverage(self) -> float:
        return self.overall.coverage


def performance_report(settings: PerformanceSettings) -> PerformanceReport:
    """Join predictions and labels, compute windowed metrics and compare with the baseline.

    Raises InputError (see the module docstring); BackendError when the registry fails.
    """
    import pandas as pd

    from mlops_actions.monitoring.ground_truth import (
        join_labels,
        label_timing,
        read_labels,
        with_timing,
    )

    metrics = _task_metrics(settings)
    step = window_length(settings.window)
    loaded = load_source(
        settings.predictions,
        include_shadow=True,
        include_sources=settings.include_sources,
        with_inputs=False,
    )
    assert loaded.meta is not None, "prediction sources carry meta columns"
    labels, quality_counts = read_labels(settings.labels)
    joined, quality = join_labels(loaded.meta, labels, settings.labels, quality_counts)
    joined = _within_range(joined, settings.range, loaded)
    origin = settings.range.since or midnight(joined["time"].min())
    joined["window"] = ((joined["time"] - pd.Timestamp(origin)) // step).astype("int64")
    has_time = settings.labels.time_column is not None
    quality = with_timing(quality, *label_timing(joined, origin, step, has_time))
    positive = _positive_class(settings, joined)
    baselines, baseline_source = _baselines(settings, joined)
    judge = _Judge(settings, metrics, positive, baselines)
    return PerformanceReport(
        metric=settings.metric,
        greater_is_better=judge.primary.greater_is_better,
        max_degradation=settings.max_degradation,
        min_window_labels=settings.min_window_labels,
        confidence=settings.confidence,
        window=settings.window,
        windows=tuple(_windows(joined, origin, step, judge)),
        versions=tuple(
            VersionResult(str(d), str(v), bool(s), judge.cell(part, str(v)))
            for (d, v, s), part in joined.groupby(_GROUPS, sort=True)
        ),
        overall=judge.cell(joined[~joined["shadow"]], None),
        quality=quality,
        baselines=baselines,
        baseline_source=baseline_source,
        positive_class=positive,
        predictions_source=loaded.source.describe(),
        labels_source=settings.labels.describe(),
        range=settings.range,
        notes=(*loaded.notes, *_baseline_notes(settings, joined, baselines)),
        left_out=dict(loaded.left_out),
    )


_GROUPS = ["deployment_key", "version_key", "shadow"]


def _task_metrics(settings: PerformanceSettings) -> dict[str, Metric]:
    """The task's metrics; InputError when the primary metric is not one of them."""
    from mlops_actions.metrics import builtin_metrics

    metrics = dict(builtin_metrics(settings.task))
    if settings.metric not in metrics:
        raise InputError(
            f"{settings.metric!r} is not a {settings.task} metric;",
            hint=f"use one of: {', '.join(metrics)}.",
        )
    return metrics


def _within_range(joined: pd.DataFrame, window: TimeWindow, loaded: LoadedData) -> pd.DataFrame:
    """The predictions inside `window`; InputError, saying what the log holds, when none is."""
    in_range = _in_range(joined["time"], window)
    if not bool(in_range.any()):
        times = joined["time"].dropna()
        seen = (
            f"predictions run from {_iso(times.min())} to {_iso(times.max())}"
            if len(times)
            else "no prediction has a time"
        )
        raise InputError(
            f"no rows between {window.describe()} in {loaded.source.describe()} ({seen});",
            hint="widen --since/--until.",
        )
    return joined.loc[in_range].reset_index(drop=True)


class _Judge:
    """Computes a slice's metrics and judges them against its version's baseline."""

    def __init__(
        self,
        settings: PerformanceSettings,
        metrics: Mapping[str, Metric],
        positive: object | None,
        baselines: Mapping[str, Mapping[str, float]],
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.primary = metrics[settings.metric]
        self.positive = positive
        self.baselines = baselines

    def cell(self, rows: pd.DataFrame, version: str | None) -> Cell:
        """The metrics of `rows`; judged when they have a version with a baseline and enough
        labels (`version` None: not judged, as for a window's total)."""
        settings = self.settings
        labelled = rows[rows["label"].notna()]
        scored = _scored(labelled, settings.task, self.positive)
        values = _metrics(self.metrics, scored)
        baseline = None if version is None else self.baselines.get(version, {}).get(settings.metric)
        value = values.get(settings.metric)
        if value is None or baseline is None or len(labelled) < settings.min_window_labels:
            return Cell(len(rows), len(labelled), values, baseline)
        assert scored is not None
        if not self._too_bad(value, baseline):  # the bound lies on the good side of the value
            return Cell(len(rows), len(labelled), values, baseline, False)
        bound = _plausible_best(self.primary, scored, value, settings)
        return Cell(
            len(rows), len(labelled), values, baseline, self._too_bad(bound, baseline), bound
        )

    def _too_bad(self, value: float, baseline: float) -> bool:
        worse_by = baseline - value if self.primary.greater_is_better else value - baseline
        return worse_by > self.settings.max_degradation


def _windows(
    joined: pd.DataFrame, origin: datetime, step: timedelta, judge: _Judge
) -> list[WindowResult]:
    """Every window from the first prediction's to the last's, empty ones included."""
    windows = []
    index = joined["window"]
    for number in range(int(index.min()), int(index.max()) + 1):
        rows = joined[index == number]
        start = origin + number * step
        cells = [
            (str(deployment), str(version), bool(shadow), judge.cell(part, str(version)))
            for (deployment, version, shadow), part in rows.groupby(_GROUPS, sort=True)
        ]
        total = judge.cell(rows[~rows["shadow"]], None)
        judged = [c.degraded for _, _, shadow, c in cells if not shadow and c.degraded is not None]
        main = _main_cell(cells)
        total = Cell(
            total.predictions,
            total.labelled,
            total.metrics,
            main.baseline if main is not None else None,
            any(judged) if judged else None,
            main.bound if main is not None else None,
        )
        windows.append(WindowResult(start, start + step, total, tuple(cells)))
    return windows


def _baselines(
    settings: PerformanceSettings, joined: pd.DataFrame
) -> tuple[dict[str, dict[str, float]], str]:
    """The versions' baselines and their source; InputError when none has the primary metric."""
    from mlops_actions.monitoring.baselines import Registry, baselines

    registry = (
        None
        if settings.tracking_uri is None
        else Registry(settings.tracking_uri, settings.registry_uri, settings.model_name)
    )
    found, source = baselines(
        joined, settings.metric, given=settings.baseline_metrics, registry=registry
    )
    if not any(settings.metric in b for b in found.values()):
        raise InputError(
            f"no baseline {settings.metric} for model version(s) "
            f"{', '.join(_versions(joined)) or '(none logged)'};",
            hint="register the model with compare-champion/register (they write "
            f"mlops.metrics.{settings.metric}), or pass --baseline-metrics "
            f"'{{\"{settings.metric}\": 0.8}}'.",
        )
    return found, source


def _baseline_notes(
    settings: PerformanceSettings, joined: pd.DataFrame, baselines: Mapping[str, Any]
) -> list[str]:
    missing = [v for v in _versions(joined) if settings.metric not in baselines.get(v, {})]
    if not missing:
        return []
    return [f"no baseline {settings.metric} for version(s) {', '.join(missing)}: not judged"]


# ---------------------------------------------------------------- windows


def window_length(text: str) -> timedelta:
    """A pandas offset alias of fixed length (7D, 24h, 30min, 1W) as a timedelta."""
    from pandas.tseries.frequencies import to_offset
    from pandas.tseries.offsets import Tick, Week

    try:
        with warnings.catch_warnings():  # pandas' notes on deprecated aliases (M → ME)
            warnings.simplefilter("ignore", FutureWarning)
            offset = to_offset(text)
    except ValueError:
        offset = None
    if isinstance(offset, Tick) and offset.n > 0:
        return timedelta(microseconds=offset.nanos // 1000)
    if isinstance(offset, Week) and offset.n > 0:
        return timedelta(days=7 * offset.n)
    raise InputError(
        f"window {text!r} is not a fixed length;",
        hint="use a pandas offset alias such as 7D, 1W, 24h or 30min (monitor.window, --window).",
    )


def _in_range(times: pd.Series, window: TimeWindow) -> pd.Series:
    import pandas as pd

    keep = times.notna()
    if window.since is not None:
        keep &= times >= pd.Timestamp(window.since)
    if window.until is not None:
        keep &= times < pd.Timestamp(window.until)
    return keep


def midnight(moment: Any) -> datetime:
    """The UTC midnight that starts `moment`'s day, as a datetime."""
    # Midnight has no nanoseconds to lose: drop them first, or pandas warns on the console.
    stamp: datetime = moment.floor("D").to_pydatetime()
    return stamp


def _iso(moment: Any) -> str:
    text: str = moment.isoformat()
    return text.replace("+00:00", "Z")


# ---------------------------------------------------------------- metrics


def _positive_class(settings: PerformanceSettings, joined: pd.DataFrame) -> object | None:
    if settings.task != "classification":
        return None
    from mlops_actions.labels import positive_class

    return positive_class(
        joined["label"].dropna().to_numpy(),
        configured=settings.positive_class,
        where="the ground-truth labels",
        multiclass_ok=True,
        strict=False,
    )


def _scored(labelled: pd.DataFrame, task: Task, positive: object | None) -> Scored | None:
    import numpy as np
    import pandas as pd

    from mlops_actions.metrics import classification_scored, regression_scored

    if labelled.empty:
        return None
    if task == "classification":
        truth = labelled["label"].to_numpy()
        predicted = labelled["prediction"].to_numpy()
        scores = pd.to_numeric(labelled["score"], errors="coerce")
        proba = scores.to_numpy(dtype=float) if scores.notna().all() else None
        return classification_scored(truth, predicted, positive, proba)
    else:
        truth = pd.to_numeric(labelled["label"], errors="coerce").to_numpy(dtype=float)
        predicted = pd.to_numeric(labelled["prediction"], errors="coerce").to_numpy(dtype=float)
        ok = ~(np.isnan(truth) | np.isnan(predicted))
        return regression_scored(truth[ok], predicted[ok])


def _metrics(metrics: Mapping[str, Metric], scored: Scored | None) -> dict[str, float | None]:
    if scored is None or scored.rows == 0:
        return {name: None for name in metrics}
    values: dict[str, float | None] = {}
    for name, metric in metrics.items():
        value = metric.value(scored)
        values[name] = None if math.isnan(value) else value
    return values


def _plausible_best(
    metric: Metric, scored: Scored, value: float, settings: PerformanceSettings
) -> float:
    """The metric's one-sided bootstrap bound in its good direction (the value itself without a
    confidence level). Resamples where the metric is undefined count as the best case, so an
    unstable metric never proves a degradation."""
    import numpy as np

    from mlops_actions.metrics import resample_weights

    if settings.confidence is None:
        return value
    parts = [
        metric.compute(scored, weights)
        for weights in resample_weights(scored.rows, settings.resamples, seed=settings.seed)
    ]
    values = np.concatenate(parts)
    if metric.greater_is_better:
        values = np.where(np.isnan(values), np.inf, values)
        return float(np.quantile(values, settings.confidence, method="inverted_cdf"))
    values = np.where(np.isnan(values), -np.inf, values)
    return float(np.quantile(values, 1 - settings.confidence, method="inverted_cdf"))


def _main_cell(cells: Sequence[tuple[str, str, bool, Cell]]) -> Cell | None:
    """The served version with the most labelled rows in a window."""
    served = [c for _, _, shadow, c in cells if not shadow and c.baseline is not None]
    return max(served, key=lambda c: c.labelled) if served else None


def _versions(joined: pd.DataFrame) -> list[str]:
    served = joined[~joined["shadow"]]
    return sorted(set(served["version_key"]) - {"(unknown)"})
