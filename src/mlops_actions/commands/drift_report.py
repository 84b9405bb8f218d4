"""`mlops drift-report`: data and prediction drift, current vs reference (monitoring).

Flags mirror the action's inputs; the setting flags override mlops.yaml (`monitor`, `data`).
Without mlops.yaml the command works from `--reference` and `--current` alone. Exit 1 on drift
only with `--fail-on-drift`; `--on-drift dispatch` dispatches the training workflow and keeps the
model's tracking issue (`--on-drift issue`: only the issue).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mlops_actions.commands.base import Command, Context
from mlops_actions.commands.options import (
    add_include_source,
    add_time_window,
    given,
    include_sources,
    monitoring_source,
    names,
    non_negative,
    number,
    one_of,
    positive_int,
    setting_flag,
    text,
    time_window_of,
    whole_number,
)
from mlops_actions.commands.retraining import (
    OUTPUTS,
    add_retraining,
    retrain_trigger,
    trigger_summary,
)
from mlops_actions.errors import InputError
from mlops_actions.results import Annotation, StepResult

if TYPE_CHECKING:
    from mlops_actions.config import MonitorSettings, Settings
    from mlops_actions.monitoring.sources import DataSource
    from mlops_actions.steps.drift_report import DriftOptions, DriftReport, DriftReportSettings

METHODS = ("ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi")


def _pair(value: str) -> tuple[str, str] | None:
    if not value.strip():
        return None
    column, sep, setting = value.rpartition("=")
    if not sep or not column.strip() or not setting.strip():
        raise argparse.ArgumentTypeError(f"{value!r} is not COLUMN=VALUE")
    return column.strip(), setting.strip()


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    _add_data_flags(parser.add_argument_group("data"))
    _add_test_flags(parser.add_argument_group("tests (Evidently's names)"))
    report = parser.add_argument_group("report")
    report.add_argument(
        "--report-sample",
        type=positive_int,
        metavar="N",
        help="Rows per side in Evidently's report (default: 20000; verdicts use all rows).",
    )
    report.add_argument(
        "--seed", type=whole_number, metavar="N", help="Seed of the sample (default 0)."
    )
    report.add_argument(
        "--no-html", action="store_true", help="Skip Evidently's HTML/JSON report (faster)."
    )
    add_retraining(
        parser.add_argument_group("gate and retraining"),
        problem="drift",
        fail_help="Exit 1 when drift is found.",
    )


def _add_data_flags(sources: argparse._ArgumentGroup) -> None:
    sources.add_argument(
        "--reference",
        type=text,
        metavar="PATH",
        help="Baseline: CSV, Parquet file or folder (default: monitor.reference, else data.train).",
    )
    setting_flag(
        sources,
        "--reference-rev",
        "data.dvc_rev",
        type=text,
        metavar="REV",
        help="Git revision at which a DVC-tracked reference is read.",
    )
    sources.add_argument(
        "--current",
        type=text,
        metavar="SOURCE",
        help="Production data: a table path; predictions: (the local endpoint's log), "
        "predictions:PATH or a .jsonl log; or an fsspec URL of Azure ML collected data "
        "(default: monitor.current, else data.current).",
    )
    sources.add_argument(
        "--current-rev", type=text, metavar="REV", help="Git revision of a DVC-tracked current."
    )
    add_time_window(
        sources,
        since_help="Only current rows at or after this time: ISO 8601 or a duration back "
        "(7d, 24h).",
        until_help="Only current rows before this time.",
    )
    sources.add_argument(
        "--time-column",
        type=text,
        metavar="NAME",
        help="Time column of a table current, for --since/--until.",
    )
    setting_flag(
        sources,
        "--columns",
        "data.features",
        type=names,
        metavar="A,B",
        help="Columns to compare (unset: every column but the target, id and predictions).",
    )
    sources.add_argument("--exclude", type=names, metavar="A,B", help="Columns never to compare.")
    add_include_source(sources)


def _add_test_flags(tests: argparse._ArgumentGroup) -> None:
    method = one_of(METHODS)
    setting_flag(
        tests,
        "--num-method",
        "monitor.num_method",
        type=method,
        metavar="NAME",
        help="Test for numerical columns.",
    )
    setting_flag(
        tests,
        "--cat-method",
        "monitor.cat_method",
        type=method,
        metavar="NAME",
        help="Test for categorical columns.",
    )
    setting_flag(
        tests,
        "--num-threshold",
        "monitor.num_threshold",
        type=number,
        metavar="X",
        help="Threshold, numerical.",
    )
    setting_flag(
        tests,
        "--cat-threshold",
        "monitor.cat_threshold",
        type=number,
        metavar="X",
        help="Threshold, categorical.",
    )
    _add_per_column_flags(tests)
    setting_flag(
        tests,
        "--drift-share",
        "monitor.drift_share",
        type=number,
        metavar="X",
        help="Dataset drift when this share of columns drifted.",
    )
    tests.add_argument(
        "--cat-max-unique",
        type=positive_int,
        metavar="N",
        help="Skip categorical columns with more distinct values (default: 1000).",
    )
    tests.add_argument(
        "--model",
        type=text,
        metavar="URI",
        help="Model that scores the reference for prediction drift: a models:/ URI, 'auto' "
        "(the version that served the current predictions; default) or 'none'.",
    )


def _add_per_column_flags(tests: argparse._ArgumentGroup) -> None:
    tests.add_argument(
        "--per-column-method",
        type=_pair,
        action="append",
        metavar="COL=NAME",
        help="Test for one column (repeatable; adds to monitor.per_column_method).",
    )
    tests.add_argument(
        "--per-column-threshold",
        type=_pair,
        action="append",
        metavar="COL=X",
        help="Threshold for one column (repeatable).",
    )


def _step_settings(ctx: Context, settings: Settings | None) -> DriftReportSettings:
    """The step's settings: mlops.yaml with the flags over it (or the flags alone)."""
    from mlops_actions.steps.drift_report import AUTO, DriftReportSettings

    reference, current = _sources(ctx, settings)
    model = ctx.args.model or AUTO
    return DriftReportSettings(
        reference=reference,
        current=current,
        options=_options(ctx, settings),
        window=time_window_of(ctx.args),
        time_column=ctx.args.time_column,
        model_uri=None if model.lower() == "none" else model,
        tracking_uri=settings.resolved_tracking_uri() if settings is not None else None,
        registry_uri=settings.registry_uri if settings is not None else None,
        include_sources=include_sources(ctx.args),
    )


def _sources(ctx: Context, settings: Settings | None) -> tuple[DataSource, DataSource]:
    """(reference, current): the flags, else monitor.reference/current, else data.train/current."""
    args = ctx.args
    monitor: MonitorSettings = ctx.section("monitor")
    data = settings.data if settings is not None else None
    reference = args.reference or monitor.reference or (data.train if data else None)
    current = args.current or monitor.current or (data.current if data else None)
    if reference is None:
        raise InputError(
            "no reference data;", hint="pass --reference PATH or set monitor.reference."
        )
    if current is None:
        raise InputError(
            "no current data;",
            hint="pass --current (a path, predictions: or a URL) or set monitor.current.",
        )
    rev = data.dvc_rev if data is not None else given(ctx.overrides, "data.dvc_rev")
    return (
        monitoring_source(reference, settings, from_flag=bool(args.reference), rev=rev),
        monitoring_source(current, settings, from_flag=bool(args.current), rev=args.current_rev),
    )


def _options(ctx: Context, settings: Settings | None) -> DriftOptions:
    """Columns, methods and thresholds: monitor.* and data.features, with the flags over them."""
    from mlops_actions.steps.drift_report import DEFAULT_CAT_MAX_UNIQUE, DriftOptions

    args = ctx.args
    monitor: MonitorSettings = ctx.section("monitor")
    data = settings.data if settings is not None else None
    columns = data.features if data is not None else given(ctx.overrides, "data.features")
    exclude = list(args.exclude or [])
    if data is not None:  # the target and id are never features, unless named as columns
        exclude += [c for c in (data.target, data.id_column) if c and c not in (columns or ())]
    return DriftOptions(
        columns=tuple(columns) if columns else None,
        exclude=tuple(exclude),
        num_method=monitor.num_method,
        cat_method=monitor.cat_method,
        per_column_method=_column_methods(monitor, args.per_column_method or []),
        num_threshold=monitor.num_threshold,
        cat_threshold=monitor.cat_threshold,
        per_column_threshold=_column_thresholds(args.per_column_threshold or []),
        drift_share=monitor.drift_share,
        cat_max_unique=args.cat_max_unique or DEFAULT_CAT_MAX_UNIQUE,
    )


def _column_methods(monitor: MonitorSettings, pairs: list[tuple[str, str]]) -> dict[str, str]:
    """monitor.per_column_method with each `--per-column-method COL=NAME` over it."""
    methods: dict[str, str] = dict(monitor.per_column_method)
    for column, method in pairs:
        if method not in METHODS:
            raise InputError(
                f"--per-column-method {column}={method}: unknown method;",
                hint=f"use one of: {', '.join(METHODS)}.",
            )
        methods[column] = method
    return methods


def _column_thresholds(pairs: list[tuple[str, str]]) -> dict[str, float]:
    """`--per-column-threshold COL=X` pairs; InputError unless X is a finite number ≥ 0."""
    thresholds: dict[str, float] = {}
    for column, raw in pairs:
        try:
            value = non_negative(raw)
        except argparse.ArgumentTypeError:
            value = None
        if value is None:
            raise InputError(
                f"--per-column-threshold {column}={raw}: not a number ≥ 0;",
                hint="write it as COLUMN=0.1.",
            )
        thresholds[column] = value
    return thresholds


def _run(ctx: Context) -> StepResult:
    from mlops_actions.github.pr_comment import github_env
    from mlops_actions.reports.drift import (
        DEFAULT_SAMPLE_ROWS,
        markdown_summary,
        verdict,
        write_reports,
    )
    from mlops_actions.steps.drift_report import drift_report

    args = ctx.args
    settings = ctx.optional_settings()
    report = write_reports(
        drift_report(_step_settings(ctx, settings)),
        ctx.report_folder(settings),
        with_html=not args.no_html,
        sample_rows=args.report_sample or DEFAULT_SAMPLE_ROWS,
        seed=args.seed if args.seed is not None else 0,
    )
    summary = markdown_summary(report, link=github_env().run_url)
    outputs: dict[str, object] = {
        "drift-detected": report.drift_detected,
        "drifted-share": round(report.features.drifted_share, 4),
        "drifted-columns": list(report.drifted_columns),
        "prediction-drift": report.prediction_drift,
        "report-path": str(report.report_path or ""),
        "reference-rows": report.reference.rows,
        "current-rows": report.current.rows,
    }
    action = args.on_drift or "none"
    if action != "none":
        trigger = retrain_trigger(
            settings,
            signal="drift",
            problem=report.drift_detected,
            reason=verdict(report),
            section=summary,
            dispatch=action == "dispatch",
        )
        outputs.update(trigger.outputs())
        summary += trigger_summary(trigger)
    return StepResult(
        "drift-report",
        outputs,
        passed=not (report.drift_detected and args.fail_on_drift),
        message=verdict(report),
        summary=summary,
        annotations=_annotations(report),
    )


def _annotations(report: DriftReport) -> list[Annotation]:
    notes = []
    for column in report.schema_problems():
        notes.append(
            Annotation(
                "warning",
                f"column {column.column!r}: {column.note}",
                title="mlops drift-report: schema change",
            )
        )
    return notes


COMMAND = Command(
    "drift-report",
    "Data and prediction drift report (Evidently), with an optional retraining trigger",
    _add_arguments,
    _run,
    outputs=(
        ("drift-detected", "true when the data or the predictions drifted"),
        ("drifted-share", "Share of compared columns that drifted (0..1)"),
        ("drifted-columns", "JSON list of the drifted columns"),
        ("prediction-drift", "true when the model's predictions drifted"),
        ("report-path", "Path of the Evidently HTML report (or the details JSON)"),
        ("reference-rows", "Rows in the reference"),
        ("current-rows", "Rows in the current window"),
        *OUTPUTS,
    ),
)
