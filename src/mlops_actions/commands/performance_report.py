"""`mlops performance-report`: model quality on production traffic with delayed ground truth.

Flags mirror the action's inputs and override mlops.yaml (`monitor.ground_truth`,
`monitor.window`, `monitor.max_degradation`, `evaluate.primary_metric`). Exit 1 on degradation
only with `--fail-on-degradation`; `--on-degradation dispatch` dispatches the training workflow
and keeps the model's tracking issue (`issue`: only the issue).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_actions.commands.base import Command, Context
from mlops_actions.commands.drift_report import (
    add_include_source,
    config,
    include_sources,
    on_problem,
    positive_float,
    positive_int,
    report_dir,
    retrain_trigger,
    text,
    trigger_summary,
)
from mlops_actions.errors import InputError
from mlops_actions.results import Annotation, StepResult

if TYPE_CHECKING:
    from mlops_actions.config import Settings
    from mlops_actions.steps.performance_report import PerformanceSettings

TASKS = ("classification", "regression")


def _task(value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    if value not in TASKS:
        raise argparse.ArgumentTypeError(f"{value!r} is not one of {', '.join(TASKS)}")
    return value


def _confidence(value: str) -> float | None:
    number = positive_float(value)
    if number is not None and not number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not in [0, 1)")
    return number


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    data.add_argument(
        "--predictions",
        type=text,
        metavar="SOURCE",
        help="Prediction log: predictions: (the local endpoint; default), predictions:PATH, a "
        ".jsonl file, an endpoint state folder, or an fsspec URL of Azure ML collected data.",
    )
    data.add_argument(
        "--labels",
        type=text,
        metavar="PATH",
        help="Ground truth table (default: monitor.ground_truth.path).",
    )
    data.add_argument("--labels-rev", type=text, metavar="REV", help="DVC revision of the labels.")
    data.add_argument(
        "--key-column",
        type=text,
        metavar="NAME",
        help="Request id column of the labels (default: monitor.ground_truth.key_column).",
    )
    data.add_argument(
        "--label-column",
        type=text,
        metavar="NAME",
        help="Label column (default: monitor.ground_truth.label_column).",
    )
    data.add_argument(
        "--label-time-column",
        type=text,
        metavar="NAME",
        help="When each label arrived, to count late labels "
        "(default: monitor.ground_truth.time_column).",
    )
    data.add_argument("--since", type=text, metavar="TIME", help="First prediction time (ISO/7d).")
    data.add_argument("--until", type=text, metavar="TIME", help="Predictions before this time.")
    add_include_source(data)
    judge = parser.add_argument_group("metrics")
    judge.add_argument(
        "--window", type=text, metavar="FREQ", help="Window length, e.g. 7D (monitor.window)."
    )
    judge.add_argument(
        "--metric",
        type=text,
        metavar="NAME",
        help="Metric that decides degradation (default: evaluate.primary_metric).",
    )
    judge.add_argument(
        "--task", type=_task, metavar="{classification,regression}", help="Default: model.task."
    )
    judge.add_argument(
        "--positive-class",
        type=text,
        metavar="LABEL",
        help="Positive label (default: evaluate.positive_class, else 1/True).",
    )
    judge.add_argument(
        "--max-degradation",
        type=positive_float,
        metavar="X",
        help="Allowed absolute worsening vs the baseline (default: monitor.max_degradation).",
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
    gate = parser.add_argument_group("gate and retraining")
    gate.add_argument(
        "--fail-on-degradation", action="store_true", help="Exit 1 when performance degraded."
    )
    gate.add_argument(
        "--on-degradation",
        type=on_problem,
        metavar="{none,issue,dispatch}",
        help="On GitHub: 'dispatch' the training workflow and update the model's tracking "
        "issue, or only the 'issue' (default: none).",
    )
    gate.add_argument(
        "--retrain-workflow",
        type=text,
        metavar="FILE",
        help="Workflow to dispatch (default: monitor.retrain_workflow).",
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


def _settings(ctx: Context, settings: Settings | None) -> PerformanceSettings:
    from mlops_actions.monitoring_sources import DataSource, parse_source, time_window
    from mlops_actions.steps.performance_report import (
        DEFAULT_CONFIDENCE,
        DEFAULT_MIN_WINDOW_LABELS,
        PerformanceSettings,
    )

    args = ctx.args
    base = settings.base_dir if settings is not None else None
    state = settings.state_dir() / "endpoint" if settings is not None else None
    truth = settings.monitor.ground_truth if settings is not None else None
    source: DataSource = parse_source(
        args.predictions or "predictions:",
        base_dir=None if args.predictions else base,
        state_dir=state,
    )
    if source.kind == "table":
        raise InputError(
            f"{source.location} is not a prediction log;",
            hint="pass predictions:, a predictions.jsonl file or an Azure ML collected-data URL.",
        )
    labels: Path | None = Path(args.labels) if args.labels else (truth.path if truth else None)
    if labels is None:
        raise InputError(
            "no ground truth labels;",
            hint="pass --labels PATH or set monitor.ground_truth.path in mlops.yaml.",
        )
    task = args.task or (settings.model.task if settings is not None else None)
    metric = args.metric or (settings.evaluate.primary_metric if settings is not None else None)
    if task is None or metric is None:
        raise InputError(
            "performance-report needs the task and the metric;",
            hint="use mlops.yaml (model.task, evaluate.primary_metric) or pass --task and "
            "--metric.",
        )
    positive: object | None = args.positive_class
    if positive is None and settings is not None:
        positive = settings.evaluate.positive_class
    if isinstance(positive, str) and positive.lstrip("-").isdigit():
        positive = int(positive)
    monitor = settings.monitor if settings is not None else None
    max_degradation = args.max_degradation
    if max_degradation is None:
        max_degradation = monitor.max_degradation if monitor is not None else 0.05
    return PerformanceSettings(
        predictions=source,
        labels=labels,
        task=task,
        metric=metric,
        report_dir=report_dir(ctx, settings),
        key_column=args.key_column or (truth.key_column if truth else "request_id"),
        label_column=args.label_column or (truth.label_column if truth else "label"),
        label_time_column=args.label_time_column or (truth.time_column if truth else None),
        labels_rev=args.labels_rev,
        window=args.window or (monitor.window if monitor is not None else "7D"),
        range=time_window(args.since, args.until),
        max_degradation=max_degradation,
        min_window_labels=args.min_window_labels or DEFAULT_MIN_WINDOW_LABELS,
        confidence=(
            DEFAULT_CONFIDENCE
            if args.confidence is None
            else (args.confidence if args.confidence > 0 else None)
        ),
        positive_class=positive,
        baseline_metrics=_baseline(args.baseline_metrics),
        model_name=settings.model.name if settings is not None else None,
        tracking_uri=settings.resolved_tracking_uri() if settings is not None else None,
        registry_uri=settings.registry_uri if settings is not None else None,
        include_sources=include_sources(ctx),
    )


def _run(ctx: Context) -> StepResult:
    from mlops_actions.github.pr_comment import github_env
    from mlops_actions.reports.performance import markdown_summary, reason
    from mlops_actions.steps.performance_report import performance_report

    settings = config(ctx)
    report = performance_report(_settings(ctx, settings))
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
            workflow=ctx.args.retrain_workflow,
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
    failed = report.degraded and ctx.args.fail_on_degradation
    return StepResult(
        "performance-report",
        outputs,
        passed=not failed,
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
        ("retrain-dispatched", "true when the training workflow was dispatched"),
        ("tracking-issue", "URL of the model's tracking issue, when one is open or was closed"),
    ),
)
