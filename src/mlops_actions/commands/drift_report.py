"""`mlops drift-report`: data and prediction drift, current vs reference (monitoring).

Flags mirror the action's inputs and override mlops.yaml (`monitor`, `data`). Without mlops.yaml
the command works from `--reference` and `--current` alone. Exit 1 on drift only with
`--fail-on-drift`; `--on-drift dispatch` dispatches the training workflow and keeps the model's
tracking issue (`--on-drift issue`: only the issue).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_actions.commands.base import Command, Context
from mlops_actions.errors import InputError
from mlops_actions.results import Annotation, StepResult

if TYPE_CHECKING:
    from mlops_actions.config import Settings
    from mlops_actions.github.tracking import RetrainTrigger, Signal
    from mlops_actions.steps.drift_report import DriftReport, DriftReportSettings

METHODS = ("ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi")
ON_PROBLEM = ("none", "issue", "dispatch")


def text(value: str) -> str | None:
    """Action inputs arrive as strings, unset ones as ""; both mean "not given"."""
    return value.strip() or None


def _method(value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    if value not in METHODS:
        raise argparse.ArgumentTypeError(f"{value!r} is not one of {', '.join(METHODS)}")
    return value


def positive_float(value: str) -> float | None:
    if not value.strip():
        return None
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not number >= 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(f"{value} is not a finite number ≥ 0")
    return number


def _share(value: str) -> float | None:
    number = positive_float(value)
    if number is not None and not 0 < number <= 1:
        raise argparse.ArgumentTypeError(f"{value} is not in (0, 1]")
    return number


def positive_int(value: str) -> int | None:
    if not value.strip():
        return None
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not ≥ 1")
    return number


def _seed(value: str) -> int | None:
    if not value.strip():
        return None
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None


def _names(value: str) -> list[str] | None:
    names = [n.strip() for n in value.split(",") if n.strip()]
    return names or None


def _pair(value: str) -> tuple[str, str] | None:
    if not value.strip():
        return None
    column, sep, setting = value.rpartition("=")
    if not sep or not column.strip() or not setting.strip():
        raise argparse.ArgumentTypeError(f"{value!r} is not COLUMN=VALUE")
    return column.strip(), setting.strip()


def on_problem(value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    if value not in ON_PROBLEM:
        raise argparse.ArgumentTypeError(f"{value!r} is not one of {', '.join(ON_PROBLEM)}")
    return value


INCLUDE_SOURCE_HELP = (
    "Also count the pipeline's own requests with these traffic labels (comma-separated: "
    "probe = canary probe traffic, smoke = smoke tests; 'all' for every label). Default: "
    "users' requests only; the report says how many pipeline rows were left out."
)


def add_include_source(group: argparse._ArgumentGroup) -> None:
    """`--include-source`, the same flag in drift-report and performance-report."""
    group.add_argument("--include-source", type=text, metavar="LABELS", help=INCLUDE_SOURCE_HELP)


def include_sources(ctx: Context) -> frozenset[str]:
    from mlops_actions.monitoring_sources import parse_include_sources

    raw: str | None = ctx.args.include_source
    return parse_include_sources(raw) if raw else frozenset()


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    sources = parser.add_argument_group("data")
    sources.add_argument(
        "--reference",
        type=text,
        metavar="PATH",
        help="Baseline: CSV, Parquet file or folder (default: monitor.reference, else data.train).",
    )
    sources.add_argument(
        "--reference-rev",
        type=text,
        metavar="REV",
        help="Git revision at which a DVC-tracked reference is read (default: data.dvc_rev).",
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
    sources.add_argument(
        "--since",
        type=text,
        metavar="TIME",
        help="Only current rows at or after this time: ISO 8601 or a duration back (7d, 24h).",
    )
    sources.add_argument(
        "--until", type=text, metavar="TIME", help="Only current rows before this time."
    )
    sources.add_argument(
        "--time-column",
        type=text,
        metavar="NAME",
        help="Time column of a table current, for --since/--until.",
    )
    sources.add_argument(
        "--columns",
        type=_names,
        metavar="A,B",
        help="Columns to compare (default: data.features, else every column but the target, "
        "id and predictions).",
    )
    sources.add_argument("--exclude", type=_names, metavar="A,B", help="Columns never to compare.")
    add_include_source(sources)
    tests = parser.add_argument_group("tests (Evidently's names)")
    tests.add_argument(
        "--num-method", type=_method, metavar="NAME", help="Test for numerical columns."
    )
    tests.add_argument(
        "--cat-method", type=_method, metavar="NAME", help="Test for categorical columns."
    )
    tests.add_argument(
        "--num-threshold", type=positive_float, metavar="X", help="Threshold, numerical."
    )
    tests.add_argument(
        "--cat-threshold", type=positive_float, metavar="X", help="Threshold, categorical."
    )
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
    tests.add_argument(
        "--drift-share",
        type=_share,
        metavar="X",
        help="Dataset drift when this share of columns drifted (default: monitor.drift_share).",
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
    report = parser.add_argument_group("report")
    report.add_argument(
        "--report-sample",
        type=positive_int,
        metavar="N",
        help="Rows per side in Evidently's report (default: 20000; verdicts use all rows).",
    )
    report.add_argument("--seed", type=_seed, metavar="N", help="Seed of the sample (default 0).")
    report.add_argument(
        "--no-html", action="store_true", help="Skip Evidently's HTML/JSON report (faster)."
    )
    gate = parser.add_argument_group("gate and retraining")
    gate.add_argument("--fail-on-drift", action="store_true", help="Exit 1 when drift is found.")
    gate.add_argument(
        "--on-drift",
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


def config(ctx: Context) -> Settings | None:
    """mlops.yaml when there is one (or one was asked for); flags alone also work."""
    if ctx.config_explicit or ctx.config_path.exists():
        return ctx.settings()
    return None


def report_dir(ctx: Context, settings: Settings | None) -> Path:
    if ctx.report_dir is not None:
        return ctx.report_dir
    base = settings.state_dir() if settings is not None else Path(".mlops")
    return base / "reports"


def _settings(ctx: Context, settings: Settings | None) -> DriftReportSettings:
    from mlops_actions.monitoring_sources import parse_source, time_window
    from mlops_actions.steps.drift_report import (
        AUTO,
        DEFAULT_CAT_MAX_UNIQUE,
        DEFAULT_SAMPLE_ROWS,
        DriftOptions,
        DriftReportSettings,
    )

    args = ctx.args
    base = settings.base_dir if settings is not None else None
    monitor = settings.monitor if settings is not None else None
    data = settings.data if settings is not None else None
    state = settings.state_dir() / "endpoint" if settings is not None else None

    reference_rev = args.reference_rev or (data.dvc_rev if data is not None else None)
    reference: str | Path | None = args.reference
    if reference is None and monitor is not None:
        reference = monitor.reference or (data.train if data is not None else None)
    current: str | Path | None = args.current
    if current is None and monitor is not None:
        current = monitor.current or (data.current if data is not None else None)
    if reference is None:
        raise InputError(
            "no reference data;", hint="pass --reference PATH or set monitor.reference."
        )
    if current is None:
        raise InputError(
            "no current data;",
            hint="pass --current (a path, predictions: or a URL) or set monitor.current.",
        )
    # Flags are relative to the working directory; mlops.yaml paths arrive resolved against the
    # config folder (which is also where `predictions:` and URLs written there are recovered).
    reference_source = parse_source(
        reference,
        base_dir=None if args.reference else base,
        rev=reference_rev,
        state_dir=state,
    )
    current_source = parse_source(
        current, base_dir=None if args.current else base, rev=args.current_rev, state_dir=state
    )

    exclude = list(args.exclude or [])
    columns = args.columns or (data.features if data is not None and data.features else None)
    if data is not None and not args.columns:
        exclude += [c for c in (data.target, data.id_column) if c]
    per_method = dict(monitor.per_column_method) if monitor is not None else {}
    for column, method in args.per_column_method or []:
        if method not in METHODS:
            raise InputError(
                f"--per-column-method {column}={method}: unknown method;",
                hint=f"use one of: {', '.join(METHODS)}.",
            )
        per_method[column] = method
    per_threshold: dict[str, float] = {}
    for column, raw in args.per_column_threshold or []:
        value = positive_float(raw) if _is_number(raw) else None
        if value is None:
            raise InputError(
                f"--per-column-threshold {column}={raw}: not a number ≥ 0;",
                hint="write it as COLUMN=0.1.",
            )
        per_threshold[column] = value

    def pick(flag: object, key: str) -> object:
        if flag is not None:
            return flag
        return getattr(monitor, key) if monitor is not None else None

    options = DriftOptions(
        columns=tuple(columns) if columns else None,
        exclude=tuple(exclude),
        num_method=pick(args.num_method, "num_method"),  # type: ignore[arg-type]
        cat_method=pick(args.cat_method, "cat_method"),  # type: ignore[arg-type]
        per_column_method=per_method,
        num_threshold=pick(args.num_threshold, "num_threshold"),  # type: ignore[arg-type]
        cat_threshold=pick(args.cat_threshold, "cat_threshold"),  # type: ignore[arg-type]
        per_column_threshold=per_threshold,
        drift_share=float(pick(args.drift_share, "drift_share") or 0.5),  # type: ignore[arg-type]
        cat_max_unique=args.cat_max_unique or DEFAULT_CAT_MAX_UNIQUE,
    )
    model = args.model or AUTO
    return DriftReportSettings(
        reference=reference_source,
        current=current_source,
        report_dir=report_dir(ctx, settings),
        options=options,
        window=time_window(args.since, args.until),
        time_column=args.time_column,
        sample_rows=args.report_sample or DEFAULT_SAMPLE_ROWS,
        seed=args.seed if args.seed is not None else 0,
        html=not args.no_html,
        model_uri=None if model.lower() == "none" else model,
        tracking_uri=settings.resolved_tracking_uri() if settings is not None else None,
        registry_uri=settings.registry_uri if settings is not None else None,
        include_sources=include_sources(ctx),
    )


def _is_number(raw: str) -> bool:
    try:
        float(raw)
    except ValueError:
        return False
    return True


def _run(ctx: Context) -> StepResult:
    from mlops_actions.github.pr_comment import github_env
    from mlops_actions.reports.drift import markdown_summary
    from mlops_actions.steps.drift_report import drift_report

    settings = config(ctx)
    report = drift_report(_settings(ctx, settings))
    env = github_env()
    summary = markdown_summary(report, link=env.run_url)
    outputs: dict[str, object] = {
        "drift-detected": report.drift_detected,
        "drifted-share": round(report.features.drifted_share, 4),
        "drifted-columns": list(report.drifted_columns),
        "prediction-drift": report.prediction_drift,
        "report-path": str(report.report_path or ""),
        "reference-rows": report.reference.rows,
        "current-rows": report.current.rows,
    }
    annotations = _annotations(report)
    action = ctx.args.on_drift or "none"
    if action != "none":
        trigger = retrain_trigger(
            settings,
            signal="drift",
            problem=report.drift_detected,
            reason=_reason(report),
            section=summary,
            workflow=ctx.args.retrain_workflow,
            dispatch=action == "dispatch",
        )
        outputs.update(trigger.outputs())
        summary += trigger_summary(trigger)
    failed = report.drift_detected and ctx.args.fail_on_drift
    return StepResult(
        "drift-report",
        outputs,
        passed=not failed,
        message=_reason(report),
        summary=summary,
        annotations=annotations,
    )


def _reason(report: DriftReport) -> str:
    f = report.features
    counts = f"{f.number_of_drifted_columns} of {f.number_of_columns} columns drifted"
    if not report.drift_detected:
        return f"no drift: {counts} ({f.drifted_share:.0%} < {f.share_threshold:.0%})"
    what = []
    if f.dataset_drift:
        what.append(f"{counts} ({f.drifted_share:.0%} ≥ {f.share_threshold:.0%})")
    if report.prediction_drift:
        what.append("the predictions drifted")
    return "drift detected: " + "; ".join(what)


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


def retrain_trigger(
    settings: Settings | None,
    *,
    signal: Signal,
    problem: bool,
    reason: str,
    section: str,
    workflow: str | None,
    dispatch: bool,
) -> RetrainTrigger:
    """Run the GitHub retraining trigger for one signal (see github.tracking)."""
    from mlops_actions.github.tracking import report_signal

    if settings is None:
        raise InputError(
            "the retraining trigger needs mlops.yaml (the model name and its training workflow);",
            hint="pass --config, or drop --on-drift/--on-degradation.",
        )
    return report_signal(
        model=settings.model.name,
        signal=signal,
        problem=problem,
        reason=reason,
        section=section,
        workflow=workflow or settings.monitor.retrain_workflow,
        dispatch=dispatch,
    )


def trigger_summary(trigger: RetrainTrigger) -> str:
    from mlops_actions.reports.markdown import escape

    lines = []
    if trigger.skipped:
        lines.append(f"Retraining trigger skipped: {escape(trigger.skipped)}.")
    if trigger.dispatch is not None:
        lines.append(
            f"Retraining dispatched: `{escape(trigger.dispatch.workflow)}` on "
            f"`{escape(trigger.dispatch.ref)}`."
        )
    if trigger.issue is not None:
        lines.append(
            f"Tracking issue #{trigger.issue.number} {trigger.issue.action}: {trigger.issue.url}"
        )
    for note in trigger.notes:
        lines.append(f"Note: {escape(note)}.")
    return ("\n" + "\n\n".join(lines) + "\n") if lines else ""


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
        ("retrain-dispatched", "true when the training workflow was dispatched"),
        ("tracking-issue", "URL of the model's tracking issue, when one is open or was closed"),
    ),
)
