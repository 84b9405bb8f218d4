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

Label quality is reported, not hidden: coverage (share of served predictions with a label),
duplicate keys (identical, or conflicting: the latest label wins), labels that match no
prediction, labels that arrived after their prediction's window had closed (late) or before the
prediction, null labels.

Raises InputError for unreadable sources, missing columns, labels that match no prediction at all,
an empty window, or no baseline for the primary metric; BackendError when the registry fails.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlops_actions.errors import InputError
from mlops_actions.monitoring_sources import DataSource, TimeWindow, load_source

if TYPE_CHECKING:
    import pandas as pd

    from mlops_actions.metrics import Metric, Scored

Task = Literal["classification", "regression"]
DEFAULT_MIN_WINDOW_LABELS = 50
DEFAULT_CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 500
DETAILS_NAME = "performance-report.details.json"
_EXAMPLES = 3
_RUN_METRIC_PREFIXES = ("", "holdout_", "test_", "val_")


@dataclass(frozen=True)
class PerformanceSettings:
    """Everything performance-report needs, resolved from flags and mlops.yaml."""

    predictions: DataSource
    labels: Path
    task: Task
    metric: str
    report_dir: Path
    key_column: str = "request_id"
    label_column: str = "label"
    label_time_column: str | None = None
    labels_rev: str | None = None
    window: str = "7D"
    range: TimeWindow = field(default_factory=TimeWindow)
    max_degradation: float = 0.05
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
class LabelQuality:
    labels: int
    matched: int
    unmatched: int
    unmatched_examples: tuple[str, ...]
    duplicates: int
    conflicting: int
    null_labels: int
    late: int | None
    before_prediction: int | None
    ambiguous_predictions: int


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
    """Join predictions and labels, compute windowed metrics and compare with the baseline."""
    import pandas as pd

    from mlops_actions.metrics import builtin_metrics

    metrics = builtin_metrics(settings.task)
    if settings.metric not in metrics:
        raise InputError(
            f"{settings.metric!r} is not a {settings.task} metric;",
            hint=f"use one of: {', '.join(metrics)}.",
        )
    primary = metrics[settings.metric]
    step = window_length(settings.window)
    loaded = load_source(
        settings.predictions,
        include_shadow=True,
        include_sources=settings.include_sources,
        with_inputs=False,
    )
    assert loaded.meta is not None, "prediction sources carry meta columns"
    predictions = loaded.meta
    labels, quality_counts = _read_labels(settings)
    joined, quality = _join(predictions, labels, settings, quality_counts)

    in_range = _in_range(joined["time"], settings.range)
    if not bool(in_range.any()):
        times = joined["time"].dropna()
        seen = (
            f"predictions run from {_iso(times.min())} to {_iso(times.max())}"
            if len(times)
            else "no prediction has a time"
        )
        raise InputError(
            f"no rows between {settings.range.describe()} in {loaded.source.describe()} ({seen});",
            hint="widen --since/--until.",
        )
    joined = joined.loc[in_range].reset_index(drop=True)
    origin = settings.range.since or _midnight(joined["time"].min())
    index = ((joined["time"] - pd.Timestamp(origin)) // step).astype("int64")
    joined["window"] = index
    late, before = _timing(joined, origin, step, settings.label_time_column is not None)
    quality = _with_timing(quality, late, before)

    positive = _positive_class(settings, joined)
    baselines, baseline_source = _baselines(settings, joined)
    notes: list[str] = list(loaded.notes)
    if not any(settings.metric in b for b in baselines.values()):
        raise InputError(
            f"no baseline {settings.metric} for model version(s) "
            f"{', '.join(_versions(joined)) or '(none logged)'};",
            hint="register the model with compare-champion/register (they write "
            f"mlops.metrics.{settings.metric}), or pass --baseline-metrics "
            f"'{{\"{settings.metric}\": 0.8}}'.",
        )
    missing = [v for v in _versions(joined) if settings.metric not in baselines.get(v, {})]
    if missing:
        notes.append(
            f"no baseline {settings.metric} for version(s) {', '.join(missing)}: not judged"
        )

    def cell(rows: pd.DataFrame, version: str | None) -> Cell:
        labelled = rows[rows["label"].notna()]
        scored = _scored(labelled, settings.task, positive)
        values = _metrics(metrics, scored)
        baseline = None if version is None else baselines.get(version, {}).get(settings.metric)
        value = values.get(settings.metric)
        if value is None or baseline is None or len(labelled) < settings.min_window_labels:
            return Cell(len(rows), len(labelled), values, baseline)
        assert scored is not None

        def too_bad(x: float) -> bool:
            worse_by = baseline - x if primary.greater_is_better else x - baseline
            return worse_by > settings.max_degradation

        if not too_bad(value):  # the bound lies on the good side of the value: no need for it
            return Cell(len(rows), len(labelled), values, baseline, False)
        bound = _plausible_best(primary, scored, value, settings)
        return Cell(len(rows), len(labelled), values, baseline, too_bad(bound), bound)

    served = joined[~joined["shadow"]]
    windows = []
    for number in range(int(index.min()), int(index.max()) + 1):
        rows = joined[joined["window"] == number]
        start = origin + number * step
        cells = []
        for (deployment, version, shadow), part in rows.groupby(
            ["deployment_key", "version_key", "shadow"], sort=True
        ):
            cells.append((str(deployment), str(version), bool(shadow), cell(part, str(version))))
        served_rows = rows[~rows["shadow"]]
        total = cell(served_rows, None)
        verdicts = [c.degraded for _, _, shadow, c in cells if not shadow]
        judged = [v for v in verdicts if v is not None]
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
    versions = [
        VersionResult(str(d), str(v), bool(s), cell(part, str(v)))
        for (d, v, s), part in joined.groupby(
            ["deployment_key", "version_key", "shadow"], sort=True
        )
    ]
    overall = cell(served, None)
    report = PerformanceReport(
        metric=settings.metric,
        greater_is_better=primary.greater_is_better,
        max_degradation=settings.max_degradation,
        min_window_labels=settings.min_window_labels,
        confidence=settings.confidence,
        window=settings.window,
        windows=tuple(windows),
        versions=tuple(versions),
        overall=overall,
        quality=quality,
        baselines=baselines,
        baseline_source=baseline_source,
        positive_class=positive,
        predictions_source=loaded.source.describe(),
        labels_source=str(settings.labels)
        + (f" at {settings.labels_rev}" if settings.labels_rev else ""),
        range=settings.range,
        notes=tuple(notes),
        left_out=dict(loaded.left_out),
    )
    return _write_details(report, settings.report_dir)


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


def _midnight(moment: Any) -> datetime:
    # Midnight has no nanoseconds to lose: drop them first, or pandas warns on the console.
    stamp: datetime = moment.floor("D").to_pydatetime()
    return stamp


def _iso(moment: Any) -> str:
    text: str = moment.isoformat()
    return text.replace("+00:00", "Z")


# ---------------------------------------------------------------- labels


def _read_labels(settings: PerformanceSettings) -> tuple[pd.DataFrame, dict[str, int]]:
    """Labels keyed by text id (and row), one per key: the latest of duplicates."""
    import pandas as pd

    from mlops_actions.data import load_table

    raw = load_table(settings.labels, rev=settings.labels_rev)
    where = f"the labels in {settings.labels}"
    wanted = [settings.key_column, settings.label_column]
    if settings.label_time_column:
        wanted.append(settings.label_time_column)
    missing = [c for c in wanted if c not in raw.columns]
    if missing:
        raise InputError(
            f"{where} have no column {missing[0]!r};",
            hint=f"columns are: {', '.join(map(str, raw.columns[:20]))}; set "
            "monitor.ground_truth.key_column/label_column/time_column or the flags.",
        )
    total = len(raw)
    frame = pd.DataFrame(
        {"key": _keys(raw[settings.key_column]), "label": raw[settings.label_column]}
    )
    frame["row"] = pd.to_numeric(raw["row"], errors="coerce") if "row" in raw.columns else 0
    if settings.label_time_column:
        frame["label_time"] = pd.to_datetime(
            raw[settings.label_time_column], utc=True, errors="coerce"
        )
    else:
        frame["label_time"] = pd.NaT
    frame = frame[frame["key"].notna()]
    null_labels = int(frame["label"].isna().sum())
    frame = frame[frame["label"].notna()]
    frame["order"] = range(len(frame))
    keys = ["key", "row"]
    dup = frame[frame.duplicated(keys, keep=False)]
    duplicates = int(len(dup) - dup.groupby(keys).ngroups) if len(dup) else 0
    conflicting = int((dup.groupby(keys)["label"].nunique() > 1).sum()) if len(dup) else 0
    frame = frame.sort_values(["label_time", "order"], na_position="first", kind="stable")
    frame = frame.drop_duplicates(keys, keep="last").drop(columns=["order"])
    return frame, {
        "labels": total,
        "duplicates": duplicates,
        "conflicting": conflicting,
        "null_labels": null_labels,
    }


def _keys(values: pd.Series) -> pd.Series:
    """Ids as text, whatever the reader guessed (1234 and 1234.0 and "1234" are one id)."""
    import pandas as pd

    if pd.api.types.is_float_dtype(values):
        whole = values.dropna()
        if len(whole) and bool((whole == whole.round()).all()):
            values = values.astype("Int64")
    present = values.notna().to_numpy()
    out = pd.Series(None, index=values.index, dtype=object)
    text = values[present].astype(str).str.strip()
    out[present] = text.where(text != "", None).to_numpy()
    return out


def _join(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    settings: PerformanceSettings,
    counts: Mapping[str, int],
) -> tuple[pd.DataFrame, LabelQuality]:
    import pandas as pd

    frame = predictions.copy()
    frame["key"] = _keys(frame["request_id"])
    frame["row"] = pd.to_numeric(frame["row"], errors="coerce").fillna(0).astype("int64")
    frame["shadow"] = frame["shadow"].fillna(False).astype(bool)
    frame["deployment_key"] = frame["deployment"].fillna("(unknown)").astype(str)
    frame["version_key"] = frame["model_version"].map(
        lambda v: "(unknown)" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
    )
    by_row = bool((labels["row"] != 0).any())
    ambiguous = 0
    if not by_row:
        # Without a `row` column a label names a whole request: only one-row requests match it.
        pairs = frame.loc[~frame["shadow"], ["key", "row"]].drop_duplicates()
        multi = pairs.loc[pairs.duplicated("key", keep=False), "key"].unique()
        is_multi = frame["key"].isin(multi)
        ambiguous = int((is_multi & ~frame["shadow"]).sum())
        labels = labels.drop(columns=["row"])
        joined = frame.merge(labels, on="key", how="left")
        joined.loc[is_multi.to_numpy(), ["label", "label_time"]] = None
    else:
        labels = labels.assign(row=labels["row"].fillna(0).astype("int64"))
        joined = frame.merge(labels, on=["key", "row"], how="left")
    known = set(frame["key"].dropna())
    label_keys = labels["key"]
    unmatched_mask = ~label_keys.isin(known)
    unmatched = int(unmatched_mask.sum())
    examples = tuple(str(k) for k in label_keys[unmatched_mask].head(_EXAMPLES))
    if len(labels) and unmatched == len(labels):
        sample = ", ".join(repr(k) for k in examples)
        ids = ", ".join(repr(str(k)) for k in frame["key"].dropna().head(_EXAMPLES))
        raise InputError(
            f"none of the {len(labels)} labels in {settings.labels} matches a prediction: "
            f"{settings.key_column} values such as {sample} are not request ids of the log "
            f"(which look like {ids or 'nothing: the log has no ids'});",
            hint="check monitor.ground_truth.key_column (--key-column) and that the labels "
            "belong to this endpoint.",
        )
    quality = LabelQuality(
        labels=counts["labels"],
        matched=int(len(labels) - unmatched),
        unmatched=unmatched,
        unmatched_examples=examples,
        duplicates=counts["duplicates"],
        conflicting=counts["conflicting"],
        null_labels=counts["null_labels"],
        late=None,
        before_prediction=None,
        ambiguous_predictions=ambiguous,
    )
    return joined, quality


def _timing(
    joined: pd.DataFrame, origin: datetime, step: timedelta, has_time: bool
) -> tuple[int | None, int | None]:
    """(late, before prediction) among labelled served rows, when labels carry a time."""
    import pandas as pd

    if not has_time:
        return None, None
    rows = joined[joined["label"].notna() & ~joined["shadow"] & joined["label_time"].notna()]
    window_end = pd.Timestamp(origin) + (rows["window"] + 1) * pd.Timedelta(step)
    late = int((rows["label_time"] > window_end).sum())
    before = int((rows["label_time"] < rows["time"]).sum())
    return late, before


def _with_timing(quality: LabelQuality, late: int | None, before: int | None) -> LabelQuality:
    from dataclasses import replace

    return replace(quality, late=late, before_prediction=before)


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


# ---------------------------------------------------------------- baselines


def _baselines(
    settings: PerformanceSettings, joined: pd.DataFrame
) -> tuple[dict[str, dict[str, float]], str]:
    """{model version: {metric: holdout value}} and where they came from."""
    versions = sorted(set(joined["version_key"]))
    given = settings.baseline_metrics
    if given is not None:
        return _given_baselines(given, versions), "--baseline-metrics"
    if settings.tracking_uri is None:
        return {}, "none (no registry configured)"
    return _registry_baselines(settings, joined, versions), "model registry"


def _given_baselines(given: Mapping[str, Any], versions: list[str]) -> dict[str, dict[str, float]]:
    def numbers(mapping: Mapping[str, Any], where: str) -> dict[str, float]:
        out = {}
        for key, value in mapping.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(
                    f"--baseline-metrics: {where}{key} is {value!r}, not a number;",
                    hint='write e.g. {"roc_auc": 0.81} or {"3": {"roc_auc": 0.81}}.',
                )
            out[str(key)] = float(value)
        return out

    if all(not isinstance(v, Mapping) for v in given.values()):
        flat = numbers(given, "")
        return {v: dict(flat) for v in versions}
    return {
        str(version): numbers(values, f"version {version}: ")
        for version, values in given.items()
        if isinstance(values, Mapping)
    }


def _registry_baselines(
    settings: PerformanceSettings, joined: pd.DataFrame, versions: list[str]
) -> dict[str, dict[str, float]]:
    from mlops_actions.registry import ModelRegistry

    registry = ModelRegistry(settings.tracking_uri or "", settings.registry_uri)
    names = (
        joined.groupby("version_key")["model_name"]
        .agg(lambda s: next((str(v) for v in s if v is not None and v == v), None))
        .to_dict()
    )
    out: dict[str, dict[str, float]] = {}
    for version in versions:
        name = names.get(version) or settings.model_name
        if version == "(unknown)" or not name:
            continue
        try:
            found = registry.get_version(name, version)
        except InputError:
            continue
        values = _tag_metrics(found.tags or {})
        if settings.metric not in values and found.run_id:
            values = {**_run_metrics(registry, found.run_id), **values}
        if values:
            out[version] = values
    return out


def _tag_metrics(tags: Mapping[str, str]) -> dict[str, float]:
    out = {}
    for key, raw in tags.items():
        if key.startswith("mlops.metrics."):
            try:
                value = float(raw)
            except ValueError:
                continue
            if math.isfinite(value):
                out[key[len("mlops.metrics.") :]] = value
    return out


def _run_metrics(registry: Any, run_id: str) -> dict[str, float]:
    from mlops_actions.metric_catalog import CLASSIFICATION_METRICS, REGRESSION_METRICS

    try:
        logged = registry.client.get_run(run_id).data.metrics
    except Exception:  # noqa: BLE001 - a missing run only means no fallback baseline
        return {}
    out = {}
    for name in (*CLASSIFICATION_METRICS, *REGRESSION_METRICS):
        for prefix in _RUN_METRIC_PREFIXES:
            if f"{prefix}{name}" in logged:
                out[name] = float(logged[f"{prefix}{name}"])
                break
    return out


# ---------------------------------------------------------------- details


def details_json(report: PerformanceReport) -> dict[str, Any]:
    def cell(c: Cell) -> dict[str, Any]:
        return {
            "predictions": c.predictions,
            "labelled": c.labelled,
            "coverage": c.coverage,
            "metrics": c.metrics,
            "baseline": c.baseline,
            "degraded": c.degraded,
            "bound": c.bound,
        }

    return {
        "degraded": report.degraded,
        "metric": report.metric,
        "greater_is_better": report.greater_is_better,
        "max_degradation": report.max_degradation,
        "min_window_labels": report.min_window_labels,
        "confidence": report.confidence,
        "window": report.window,
        "overall": cell(report.overall),
        "windows": [
            {
                "start": w.start.isoformat(),
                "end": w.end.isoformat(),
                "served": cell(w.served),
                "versions": [
                    {"deployment": d, "model_version": v, "shadow": s, **cell(c)}
                    for d, v, s, c in w.versions
                ],
            }
            for w in report.windows
        ],
        "versions": [
            {
                "deployment": v.deployment,
                "model_version": v.model_version,
                "shadow": v.shadow,
                **cell(v.cell),
            }
            for v in report.versions
        ],
        "labels": vars(report.quality),
        "baselines": report.baselines,
        "baseline_source": report.baseline_source,
        "positive_class": report.positive_class,
        "predictions_source": report.predictions_source,
        "labels_source": report.labels_source,
        "left_out_sources": dict(report.left_out),
        "notes": list(report.notes),
    }


def _write_details(report: PerformanceReport, folder: Path) -> PerformanceReport:
    from dataclasses import replace

    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / DETAILS_NAME
        path.write_text(
            json.dumps(details_json(report), indent=2, sort_keys=True, default=str) + "\n",
            encoding="utf-8",
        )
    except OSError as exc:
        raise InputError(
            f"cannot write the report into {folder}: {exc.strerror};",
            hint="pass a writable --report-dir.",
        ) from None
    return replace(report, files={"details": path})
