"""Monitoring, drift-report: data drift per column and prediction drift, reference vs current.

The verdicts come from `drift_stats.detect_drift` on the full data (Evidently 0.7.23's methods
and verdicts, vectorised). Evidently renders its HTML and JSON report from a seeded sample of at
most `sample_rows` rows per side, told to use the methods and thresholds resolved on the full data
(the default method depends on the row count, so a sample would otherwise switch tests); the
report says so. The dataset verdict is the share of drifted feature columns against
`drift_share`; prediction drift (the model's `prediction` and `prediction_score` columns) is
reported apart, and either one makes `drift_detected` true.

The reference usually has no predictions (training data): with `model_uri` (or "auto", the one
model version that served the current predictions, read from the registry) the reference is
scored with that model, so prediction drift compares like with like.

A prediction-log current holds users' requests only: the pipeline's smoke and probe requests
are left out (a note says how many) unless `include_sources` names them.

Raises InputError (exit 2) for sources that cannot be read, an empty current window, bad methods
or columns; BackendError when a remote store or the registry fails.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_actions.errors import BackendError, InputError, MlopsError
from mlops_actions.monitoring_sources import (
    PREDICTION_COLUMN,
    SCORE_COLUMN,
    DataSource,
    LoadedData,
    TimeWindow,
    load_source,
)

if TYPE_CHECKING:
    import pandas as pd

    from mlops_actions.drift_stats import ColumnDrift, DriftSummary

DEFAULT_SAMPLE_ROWS = 20_000
DEFAULT_CAT_MAX_UNIQUE = 1000
AUTO = "auto"
HTML_NAME = "drift-report.html"
EVIDENTLY_JSON_NAME = "drift-report.evidently.json"
DETAILS_NAME = "drift-report.details.json"


@dataclass(frozen=True)
class DriftOptions:
    """Methods and thresholds, with Evidently's names; None means Evidently's default."""

    columns: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    method: str | None = None
    num_method: str | None = None
    cat_method: str | None = None
    per_column_method: Mapping[str, str] = field(default_factory=dict)
    threshold: float | None = None
    num_threshold: float | None = None
    cat_threshold: float | None = None
    per_column_threshold: Mapping[str, float] = field(default_factory=dict)
    drift_share: float = 0.5
    cat_max_unique: int | None = DEFAULT_CAT_MAX_UNIQUE


@dataclass(frozen=True)
class DriftReportSettings:
    """Everything drift-report needs, resolved from flags and mlops.yaml."""

    reference: DataSource
    current: DataSource
    report_dir: Path
    options: DriftOptions = field(default_factory=DriftOptions)
    window: TimeWindow = field(default_factory=TimeWindow)
    time_column: str | None = None
    sample_rows: int = DEFAULT_SAMPLE_ROWS
    seed: int = 0
    html: bool = True
    model_uri: str | None = AUTO
    """Model that scores the reference for prediction drift: a URI, "auto", or None (never)."""
    tracking_uri: str | None = None
    registry_uri: str | None = None
    workers: int = 2
    include_sources: frozenset[str] = frozenset()
    """Traffic source labels (smoke, probe) read from prediction sources besides users'
    requests (`all`: every label); see `monitoring_sources`."""


@dataclass(frozen=True)
class SideInfo:
    """What was read for one side of the comparison."""

    description: str
    rows: int
    total_rows: int
    version: str | None = None


@dataclass(frozen=True)
class DriftReport:
    """The verdicts (from the full data) and where the reports were written."""

    features: DriftSummary
    predictions: DriftSummary | None
    prediction_note: str | None
    reference: SideInfo
    current: SideInfo
    window: TimeWindow
    sample_rows: tuple[int, int] | None
    seed: int
    files: dict[str, Path]
    excluded: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    scored_with: str | None = None

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
    from mlops_actions.drift_stats import detect_drift

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

    ref_frame = reference.frame
    scored_with: str | None = None
    prediction_summary: DriftSummary | None = None
    prediction_note: str | None = None
    if prediction_columns:
        missing = [c for c in prediction_columns if c not in ref_frame.columns]
        if missing:
            uri, why = _scoring_model(settings, current)
            if uri is None:
                prediction_note = why
            else:
                try:
                    ref_frame = _score_reference(ref_frame, features, uri, settings)
                    scored_with = uri
                except MlopsError as exc:
                    prediction_note = f"the reference could not be scored with {uri}: {exc}"
        usable = [c for c in prediction_columns if c in ref_frame.columns]
        if usable:
            prediction_summary = detect_drift(
                ref_frame, current.frame, columns=usable, workers=settings.workers, **common
            )
    else:
        prediction_note = "the current data has no model predictions (a `prediction` column)"

    report = DriftReport(
        features=feature_summary,
        predictions=prediction_summary,
        prediction_note=prediction_note,
        reference=_side(reference),
        current=_side(current),
        window=current.window,
        sample_rows=None,
        seed=settings.seed,
        files={},
        excluded=tuple(sorted(c for c in excluded if c in _all_columns(reference, current))),
        notes=tuple(notes),
        scored_with=scored_with,
    )
    return _write_reports(report, settings, ref_frame, current.frame)


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


# ---------------------------------------------------------------- reports


def _write_reports(
    report: DriftReport,
    settings: DriftReportSettings,
    reference: pd.DataFrame,
    current: pd.DataFrame,
) -> DriftReport:
    from dataclasses import replace

    from mlops_actions.reports.drift import details_json, render_evidently

    folder = settings.report_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot create the report folder {folder}: {exc.strerror};",
            hint="pass a writable --report-dir.",
        ) from None
    files: dict[str, Path] = {}
    sample: tuple[int, int] | None = None
    if settings.html:
        columns = [
            c
            for summary in (report.features, report.predictions)
            if summary is not None
            for c in summary.columns
        ]
        ref_sample = _sample(reference, settings.sample_rows, settings.seed)
        cur_sample = _sample(current, settings.sample_rows, settings.seed)
        sample = (len(ref_sample), len(cur_sample))
        report = replace(report, sample_rows=sample)
        html, evidently_json = folder / HTML_NAME, folder / EVIDENTLY_JSON_NAME
        render_evidently(
            ref_sample,
            cur_sample,
            columns,
            drift_share=settings.options.drift_share,
            html_path=html,
            json_path=evidently_json,
            banner=_banner(report),
        )
        files["html"], files["evidently-json"] = html, evidently_json
    details = folder / DETAILS_NAME
    details.write_text(
        json.dumps(details_json(report), indent=2, sort_keys=True, default=str) + "\n",
        encoding="utf-8",
    )
    files["details"] = details
    return replace(report, files=files)


def _sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    if len(frame) <= rows:
        return frame
    return frame.sample(n=rows, random_state=seed).sort_index()


def _banner(report: DriftReport) -> str:
    assert report.sample_rows is not None
    ref_rows, cur_rows = report.sample_rows
    verdict = "drift detected" if report.drift_detected else "no drift"
    return (
        f"mlops-actions drift-report, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. "
        f"This Evidently report was rendered from a sample of {ref_rows:,} of "
        f"{report.reference.rows:,} reference rows and {cur_rows:,} of {report.current.rows:,} "
        f"current rows (seed {report.seed}), with the tests resolved on the full data. "
        f"The verdicts (dataset: {verdict}, {report.features.number_of_drifted_columns} of "
        f"{report.features.number_of_columns} columns drifted) come from the full data; the "
        "sample's own numbers can differ slightly."
    )
