"""Monitoring, drift-report: data drift per column and prediction drift, reference vs current.

The verdicts come from `monitoring.drift_stats.detect_drift` on the full data (Evidently
0.7.23's methods and verdicts, vectorised); the result keeps the compared rows so that
Evidently's report can be rendered from a sample of them with the same tests. The dataset
verdict is the share of drifted feature columns against `drift_share`; prediction drift (the
model's `prediction` and `prediction_score` columns) is reported apart, and either one makes
`drift_detected` true. The step writes no files: the command renders the reports from the
result (`reports.drift.write_reports`).

The reference usually has no predictions (training data): with `model_uri` (or "auto", the one
model version that served the current predictions, read from the registry) the reference is
scored with that model, so prediction drift compares like with like.

A prediction-log current holds users' requests only: the pipeline's smoke and probe requests
are left out (a note says how many) unless `include_sources` names them.

Raises InputError (exit 2) for sources that cannot be read, an empty current window, bad methods
or columns; BackendError when a remote store or the registry fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_actions.errors import BackendError, InputError, MlopsError
from mlops_actions.monitoring.loading import load_source
from mlops_actions.monitoring.sources import (
    PREDICTION_COLUMN,
    SCORE_COLUMN,
    DataSource,
    LoadedData,
    TimeWindow,
)

if TYPE_CHECKING:
    import pandas as pd

    from mlops_actions.monitoring.drift_stats import ColumnDrift, DriftSummary

DEFAULT_CAT_MAX_UNIQUE = 1000
AUTO = "auto"


@dataclass(frozen=True, kw_only=True)
class DriftOptions:
    """Methods and thresholds, with Evidently's names; None means Evidently's default."""

    columns: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    method: str | None = None
    num_method: str | None
    cat_method: str | None
    per_column_method: Mapping[str, str] = field(default_factory=dict)
    threshold: float | None = None
    num_threshold: float | None
    cat_threshold: float | None
    per_column_threshold: Mapping[str, float] = field(default_factory=dict)
    drift_share: float
    cat_max_unique: int | None = DEFAULT_CAT_MAX_UNIQUE


@dataclass(frozen=True, kw_only=True)
class DriftReportSettings:
    """Everything drift-report needs, resolved from flags and mlops.yaml."""

    reference: DataSource
    current: DataSource
    options: DriftOptions
    window: TimeWindow = field(default_factory=TimeWindow)
    time_column: str | None = None
    model_uri: str | None = AUTO
    """Model that scores the reference for prediction drift: a URI, "auto", or None (never)."""
    tracking_uri: str | None = None
    registry_uri: str | None = None
    workers: int = 2
    include_sources: frozenset[str] = frozenset()
    """Traffic source labels (smoke, probe) read from prediction sources besides users'
    requests (`all`: every label); see `monitoring.sources`."""


@dataclass(frozen=True)
class SideInfo:
    """What was read for one side of the comparison."""

    description: str
    rows: int
    total_rows: int
    version: str | None = None


@dataclass(frozen=True)
class DriftReport:
    """The verdicts (from the full data) and, once written, where the reports are."""

    features: DriftSummary
    predictions: DriftSummary | None
    prediction_note: str | None
    reference: SideInfo
    current: SideInfo
    window: TimeWindow
    sample_rows: tuple[int, int] | None = None
    """Rows per side Evidently's report was rendered from (None: no Evidently report)."""
    seed: int = 0
    files: dict[str, Path] = field(default_factory=dict)
    excluded: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    scored_with: str | None = None
    frames: tuple[pd.DataFrame, pd.DataFrame] | None = field(
        default=None, repr=False, compare=False
    )
    """(reference, current) rows as compared, the reference scored when it was: what
    Evidently's report is rendered from."""

    @property
    def prediction_drift(self) -> bool:
        return self.predictions is not None and any(c.drifted for c in self.predictions.columns)

    @property
    def drift_detected(self) -> bool:
        return self.features.dataset_drift or self.prediction_drift

    @property
    def drifted_columns(self) -> tuple[str, ...]:
        extra = self.predictions.drifted_columns if self.predictions is not None else ()
        return (*self.features.drifted_columns, *extra)

    @property
    def report_path(self) -> Path | None:
        return self.files.get("html") or self.files.get("details")

    def schema_problems(self) -> list[ColumnDrift]:
        """Columns missing on one side or whose dtype changed."""
        marks = ("missing in", "dtype changed")
        return [c for c in self.features.columns if c.note and any(m in c.note for m in marks)]


def drift_report(settings: DriftReportSettings) -> DriftReport:
    """Compare current data with the reference and write the reports; see the module docstring."""
    from mlops_actions.monitoring.drift_stats import detect_drift

    reference = load_source(settings.reference, include_sources=settings.include_sources)
    current = load_source(
        settings.current,
        window=settings.window,
        time_column=settings.time_column,
        include_sources=settings.include_sources,
    )
    opts = settings.options
    notes = [*reference.notes, *current.notes]
    prediction_columns = _prediction_columns(reference, current)
    excluded = {*opts.exclude, PREDICTION_COLUMN, SCORE_COLUMN}
    if settings.time_column:
        excluded.add(settings.time_column)
    features = _feature_columns(reference.frame, current.frame, opts.columns, excluded)
    if not features:
        raise InputError(
            "no feature columns to compare after excluding "
            f"{', '.join(sorted(excluded)) or 'nothing'};",
            hint="check --columns/--exclude (and data.target, data.id_column in mlops.yaml).",
        )
    common = _drift_kwargs(opts)
    feature_summary = detect_drift(
        reference.frame, current.frame, columns=features, workers=settings.workers, **common
    )

    ref_frame, prediction_summary, prediction_note, scored_with = _prediction_drift(
        settings, reference.frame, current, prediction_columns, features
    )
    report = DriftReport(
        features=feature_summary,
        predictions=prediction_summary,
        prediction_note=prediction_note,
        reference=_side(reference),
        current=_side(current),
        window=current.window,
        excluded=tuple(sorted(c for c in excluded if c in _all_columns(reference, current))),
        notes=tuple(notes),
        scored_with=scored_with,
        frames=(ref_frame, current.frame),
    )
    return report


def _prediction_drift(
    settings: DriftReportSettings,
    ref_frame: pd.DataFrame,
    current: LoadedData,
    prediction_columns: list[str],
    features: list[str],
) -> tuple[pd.DataFrame, DriftSummary | None, str | None, str | None]:
    """(reference, prediction drift, why not computed, model that scored the reference).

    A reference without the model's outputs is scored with the model (see `_scoring_model`);
    when that fails, prediction drift is left out with a note rather than failing the step.
    """
    from mlops_actions.monitoring.drift_stats import detect_drift

    if not prediction_columns:
        return (
            ref_frame,
            None,
            "the current data has no model predictions (a `prediction` column)",
            None,
        )
    scored_with: str | None = None
    note: str | None = None
    if any(c not in ref_frame.columns for c in prediction_columns):
        uri, why = _scoring_model(settings, current)
        if uri is None:
            note = why
        else:
            try:
                ref_frame = _score_reference(ref_frame, features, uri, settings)
                scored_with = uri
            except MlopsError as exc:
                note = f"the reference could not be scored with {uri}: {exc}"
    usable = [c for c in prediction_columns if c in ref_frame.columns]
    if not usable:
        return ref_frame, None, note, scored_with
    summary = detect_drift(
        ref_frame,
        current.frame,
        columns=usable,
        workers=settings.workers,
        **_drift_kwargs(settings.options),
    )
    return ref_frame, summary, note, scored_with


def _drift_kwargs(opts: DriftOptions) -> dict[str, Any]:
    return {
        "method": opts.method,
        "num_method": opts.num_method,
        "cat_method": opts.cat_method,
        "per_column_method": dict(opts.per_column_method),
        "threshold": opts.threshold,
        "num_threshold": opts.num_threshold,
        "cat_threshold": opts.cat_threshold,
        "per_column_threshold": dict(opts.per_column_threshold),
        "drift_share": opts.drift_share,
        "cat_max_unique": opts.cat_max_unique,
    }


def _side(data: LoadedData) -> SideInfo:
    return SideInfo(data.source.describe(), len(data.frame), data.total_rows, data.version)


def _all_columns(reference: LoadedData, current: LoadedData) -> set[str]:
    return {str(c) for c in (*reference.frame.columns, *current.frame.columns)}


def _prediction_columns(reference: LoadedData, current: LoadedData) -> list[str]:
    if current.meta is not None:
        return current.prediction_columns
    # Tables: both sides may carry the model's output under the conventional names.
    return [c for c in (PREDICTION_COLUMN, SCORE_COLUMN) if c in current.frame.columns]


def _feature_columns(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: Sequence[str] | None,
    excluded: set[str],
) -> list[str]:
    if columns:
        return list(columns)
    ordered = [str(c) for c in reference.columns]
    ordered += [str(c) for c in current.columns if str(c) not in set(ordered)]
    return [c for c in ordered if c not in excluded]


# ---------------------------------------------------------------- scoring the reference


def _scoring_model(settings: DriftReportSettings, current: LoadedData) -> tuple[str | None, str]:
    """The model URI that scores the reference, or (None, why not)."""
    if settings.model_uri is None:
        return None, "the reference has no predictions (pass --model to score it)"
    if settings.model_uri != AUTO:
        return settings.model_uri, ""
    meta = current.meta
    if meta is None:
        return None, "the reference has no predictions (pass --model to score it)"
    served = meta.loc[~meta["shadow"].astype(bool), ["model_name", "model_version"]].dropna()
    pairs = sorted({(str(n), str(v)) for n, v in served.itertuples(index=False)})
    if len(pairs) != 1:
        what = "no model version" if not pairs else f"{len(pairs)} model versions"
        return None, (
            f"the current predictions came from {what}, so the reference was not scored "
            "(pass --model URI to choose one)"
        )
    if settings.tracking_uri is None:
        return None, "no tracking URI to load the model from (pass --model or use mlops.yaml)"
    name, version = pairs[0]
    return f"models:/{name}/{version}", ""


def _score_reference(
    frame: pd.DataFrame, features: list[str], uri: str, settings: DriftReportSettings
) -> pd.DataFrame:
    """The reference with the model's `prediction` (and `prediction_score`) added."""
    import numpy as np

    from mlops_actions.registry import ModelRegistry

    registry = ModelRegistry(settings.tracking_uri or "", settings.registry_uri)
    with registry.using_uris():
        import mlflow.pyfunc

        try:
            model = mlflow.pyfunc.load_model(uri)
        except Exception as exc:  # noqa: BLE001 - any load failure is reported, not fatal
            detail = " ".join(str(exc).split())[:200]
            raise BackendError(f"cannot load {uri}: {detail}") from None
    inputs = frame[[c for c in _model_inputs(model, features) if c in frame.columns]]
    try:
        predicted = np.asarray(model.predict(inputs))
    except Exception as exc:  # noqa: BLE001
        detail = " ".join(str(exc).split())[:200]
        raise BackendError(f"the model failed on the reference: {detail}") from None
    out = frame.copy()
    out[PREDICTION_COLUMN] = predicted.reshape(len(frame), -1)[:, 0]
    scores = _scores(model, inputs)
    if scores is not None:
        out[SCORE_COLUMN] = scores
    return out


def _model_inputs(model: Any, features: list[str]) -> list[str]:
    try:
        schema = model.metadata.get_input_schema()
    except Exception:  # noqa: BLE001
        schema = None
    if schema is not None and schema.has_input_names():
        return [str(n) for n in schema.input_names()]
    return features


def _scores(model: Any, inputs: pd.DataFrame) -> Any:
    """Positive-class probabilities, as the local endpoint logs them (None without them)."""
    from mlops_actions.scoring import probability_scorer

    scorer = probability_scorer(model)
    if scorer is None:
        return None
    try:
        return scorer(inputs)
    except Exception:  # noqa: BLE001 - scores are optional, as when serving
        return None
