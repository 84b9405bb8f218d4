"""`mlops performance-report`: model quality on production traffic with delayed ground truth.

Flags mirror the action's inputs; the setting flags override mlops.yaml (`monitor.ground_truth`,
`monitor.window`, `monitor.max_degradation`, `evaluate.primary_metric`, `model.task`). Exit 1 on
degradation only with `--fail-on-degradation`; `--on-degradation dispatch` dispatches the
training workflow and keeps the model's tracking issue (`issue`: only the issue).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_actions.commands.base import Command, Context
from mlops_actions.commands.options import (
    add_include_source,
    add_time_window,
    given,
    include_sources,
    monitoring_source,
    non_negative,
    number,
    one_of,
    path,
    positive_int,
    setting_flag,
    text,
    time_window_of,
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
    from mlops_actions.steps.performance_report import PerformanceSettings

TASKS = ("classification", "regression")


def _confidence(value: str) -> float | None:
    result = non_negative(value)
    if result is not None and not result < 1:
        raise argparse.ArgumentTypeError(f"{value} is not in [0, 1)")
    return result


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    _add_data_flags(parser.add_argument_group("data"))
    _add_metric_flags(parser.add_argument_group("metrics"))
    add_retraining(
        parser.add_argument_group("gate and retraining"),
        problem="degradation",
        fail_help="Exit 1 when performance degraded.",
    )


def _add_data_flags(data: argparse._ArgumentGroup) -> None:
    data.add_argument(
        "--predictions",
        type=text,
        metavar="SOURCE",
        help="Prediction log: predictions: (the local endpoint; default), predictions:PATH, a "
        ".jsonl file, an endpoint state folder, or an fsspec URL of Azure ML collected data.",
    )
    setting_flag(
        data,
        "--labels",
        "monitor.ground_truth.path",
        type=path,
        metavar="PATH",
        help="Ground truth table.",
    )
    data.add_argument("--labels-rev", type=text, metavar="REV", help="DVC revision of the labels.")
    setting_flag(
        data,
        "--key-column",
        "monitor.ground_truth.key_column",
        type=text,
        metavar="NAME",
        help="Request id column of the labels.",
    )
    setting_flag(
        data,
        "--label-column",
        "monitor.ground_truth.label_column",
        type=text,
        metavar="NAME",
        help="Label column.",
    )
    setting_flag(
        data,
        "--label-time-column",
        "monitor.ground_truth.time_column",
        type=text,
        metavar="NAME",
        help="When each label arrived, to count late labels.",
    )
    add_time_window(
        data,
        since_help="First prediction time (ISO/7d).",
        until_help="Predictions before this time.",
    )
    add_include_source(data)


def _add_metric_flags(judge: argparse._ArgumentGroup) -> None:
    setting_flag(
        judge,
        "--window",
        "monitor.window",
        type=text,
        metavar="FREQ",
        help="Window length, e.g. 7D.",
    )
    setting_flag(
        judge,
        "--metric",
        "evaluate.primary_metric",
        clears=("evaluate.greater_is_better",),
        type=text,
        metavar="NAME",
        help="Metric that decides degradation.",
    )
    setting_flag(
        judge, "--task", "model.task", type=one_of(TASKS), metavar="{classification,regression}"
    )
    setting_flag(
        judge,
        "--positive-class",
        "evaluate.positive_class",
        type=text,
        metavar="LABEL",
        help="Positive label (unset: 1/True).",
    )
    setting_flag(
        judge,
        "--max-degradation",
        "monitor.max_degradation",
        type=number,
        metavar="X",
        help="Allowed absolute worsening vs the baseline.",
    )
    judge.add_argument(
        "--min-window-labels",
        type=positive_int,
        metavar="N",
        help="Labels a window needs to be judged (default: 50).",
    )
    judge.add_argument(
        "--confidence",
        type=_confidence,
        metavar="X",
        help="Degraded only when the metric's one-sided bootstrap bound at this confidence is "
        "worse than allowed (default: 0.95; 0 compares the point estimate).",
    )
    judge.add_argument(
        "--baseline-metrics",
        type=text,
        metavar="JSON",
        help='Holdout metrics when the registry has none: {"roc_auc": 0.81}, '
        '{"3": {"roc_auc": 0.81}} per version, or a path to such a JSON file.',
    )


def _baseline(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    source = raw
    if not raw.lstrip().startswith("{"):
        path = Path(raw)
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(
                f"--baseline-metrics {raw!r} is neither JSON nor a readable file ({exc.strerror});",
                hint="pass e.g. '{\"roc_auc\": 0.81}' or a path to a JSON file.",
            ) from None
    try:
        value = json.loads(source)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"--baseline-metrics is not valid JSON ({exc.msg} at char {exc.pos});",
            hint="write e.g. '{\"roc_auc\": 0.81}'.",
        ) from None
    if not isinstance(value, dict) or not value:
        raise InputError(
            "--baseline-metrics must be a non-empty JSON object;",
            hint="write e.g. '{\"roc_auc\": 0.81}'.",
        )
    return value


def _step_settings(ctx: Context, settings: Settings | None) -> PerformanceSettings:
    """The step's settings: mlops.yaml with the flags over it (or the flags alone)."""
    from mlops_actions.monitoring.ground_truth import LabelTable
    from mlops_actions.steps.performance_report import (
        DEFAULT_CONFIDENCE,
        DEFAULT_MIN_WINDOW_LABELS,
        PerformanceSettings,
    )

    args = ctx.args
    monitor: MonitorSettings = ctx.section("monitor")
    truth = monitor.ground_truth
    if truth is None:
        raise InputError(
            "no ground truth labels;",
            hint="pass --labels PATH or set monitor.ground_truth.path in mlops.yaml.",
        )
    task, metric, positive = _judged_by(ctx, settings)
    confidence = DEFAULT_CONFIDENCE if args.confidence is None else args.confidence
    return PerformanceSettings(
        predictions=_prediction_source(args.predictions, settings),
        labels=LabelTable(
            path=truth.path,
            key_column=truth.key_column,
            label_column=truth.label_column,
            time_column=truth.time_column,
            rev=args.labels_rev,
        ),
        task=task,
        metric=metric,
        window=monitor.window,
        range=time_window_of(args),
        max_degradation=monitor.max_degradation,
        min_window_labels=args.min_window_labels or DEFAULT_MIN_WINDOW_LABELS,
        confidence=confidence if confidence > 0 else None,
        positive_class=positive,
        baseline_metrics=_baseline(args.baseline_metrics),
        model_name=settings.model.name if settings is not None else None,
        tracking_uri=settings.resolved_tracking_uri() if settings is not None else None,
        registry_uri=settings.registry_uri if settings is not None else None,
        include_sources=include_sources(args),
    )


def _prediction_source(value: str | None, settings: Settings | None) -> DataSource:
    """`--predictions`, by default the local endpoint's log; InputError for a table."""
    source = monitoring_source(value or "predictions:", settings, from_flag=bool(value))
    if source.kind == "table":
        raise InputError(
            f"{source.location} is not a prediction log;",
            hint="pass predictions:, a predictions.jsonl file or an Azure ML collected-data URL.",
        )
    return source


def _judged_by(ctx: Context, settings: Settings | None) -> tuple[Any, str, object | None]:
    """(task, primary metric, positive class) from model.task and evaluate.*."""
    if settings is not None:
        task: Any = settings.model.task
        metric: str | None = settings.evaluate.primary_metric
        positive: object | None = settings.evaluate.positive_class
    else:
        task = given(ctx.overrides, "model.task")
        metric = given(ctx.overrides, "evaluate.primary_metric")
        positive = given(ctx.overrides, "evaluate.positive_class")
    if task is None or metric is None:
        raise InputError(
            "performance-report needs the task and the metric;",
            hint="use mlops.yaml (model.task, evaluate.primary_metric) or pass --task and "
            "--metric.",
        )
    if isinstance(positive, str) and positive.lstrip("-").isdigit():
        positive = int(positive)
    return task, metric, positive


def _run(ctx: Context) -> StepResult:
    from mlops_actions.github.pr_comment import github_env
    from mlops_actions.reports.performance import markdown_summary, reason, write_details
    from mlops_actions.steps.performance_report import performance_report

    settings = ctx.optional_settings()
    report = write_details(
        performance_report(_step_settings(ctx, settings)), ctx.report_folder(settings)
    )
    summary = markdown_summary(report, link=github_env().run_url)
    latest = report.judged[-1] if report.judged else None
    outputs: dict[str, object] = {
        "degraded": report.degraded,
        "metrics": dict(report.overall.metrics),
        "coverage": round(report.coverage, 4),
        "degraded-windows": [w.start.isoformat() for w in report.degraded_windows],
        "latest-window": latest.start.isoformat() if latest else "",
        "labelled": report.overall.labelled,
        "predictions": report.overall.predictions,
        "report-path": str(report.files.get("details", "")),
    }
    why = reason(report)
    action = ctx.args.on_degradation or "none"
    if action != "none":
        trigger = retrain_trigger(
            settings,
            signal="performance",
            problem=report.degraded,
            reason=why,
            section=summary,
            dispatch=action == "dispatch",
        )
        outputs.update(trigger.outputs())
        summary += trigger_summary(trigger)
    notes = []
    if report.quality.unmatched:
        notes.append(
            Annotation(
                "warning",
                f"{report.quality.unmatched} labels match no prediction",
                title="mlops performance-report: labels",
            )
        )
    return StepResult(
        "performance-report",
        outputs,
        passed=not (report.degraded and ctx.args.fail_on_degradation),
        message=why,
        summary=summary,
        annotations=notes,
    )


COMMAND = Command(
    "performance-report",
    "Model performance with delayed ground truth, per window and model version",
    _add_arguments,
    _run,
    outputs=(
        ("degraded", "true when the latest judged window is worse than the baseline"),
        ("metrics", "JSON object of the metrics over all labelled served predictions"),
        ("coverage", "Share of served predictions that have a label (0..1)"),
        ("degraded-windows", "JSON list of the start times of degraded windows"),
        ("latest-window", "Start of the latest window with enough labels to judge"),
        ("labelled", "Labelled served predictions"),
        ("predictions", "Served predictions in the range"),
        ("report-path", "Path of the details JSON"),
        *OUTPUTS,
    ),
)
