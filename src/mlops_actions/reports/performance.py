"""performance-report's reports: the details JSON, and the Markdown (the verdict, label quality,
and tables per window and version; its prose in `templates/summaries/performance_report.md`).

Every user-controlled string (paths, ids, deployment and version names, labels) is escaped.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_actions.reports.markdown import escape, table
from mlops_actions.reports.templates import render

if TYPE_CHECKING:
    from mlops_actions.monitoring.ground_truth import LabelQuality
    from mlops_actions.steps.performance_report import Cell, PerformanceReport, WindowResult

MAX_WINDOWS = 60
DETAILS_NAME = "performance-report.details.json"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _change(report: PerformanceReport, cell: Cell) -> str:
    value = cell.metrics.get(report.metric)
    if value is None or cell.baseline is None:
        return "—"
    return f"{value - cell.baseline:+.4f}"


def _verdict(cell: Cell, min_labels: int) -> str:
    if cell.degraded is None:
        if cell.labelled < min_labels:
            return f"⚪ {cell.labelled} labels (< {min_labels})"
        return "⚪ not judged"
    return "🔴 degraded" if cell.degraded else "✅ ok"


def _day(window: WindowResult) -> str:
    start = window.start.strftime("%Y-%m-%d %H:%M")
    end = window.end.strftime("%Y-%m-%d %H:%M")
    return f"{start} → {end}"


def reason(report: PerformanceReport) -> str:
    """One line: the verdict, with the window and the numbers."""
    judged = report.judged
    if not judged:
        return (
            f"not judged: no window has {report.min_window_labels} labelled predictions "
            f"(coverage {report.coverage:.0%})"
        )
    latest = judged[-1]
    value = latest.served.metrics.get(report.metric)
    base = latest.served.baseline
    numbers = f"{report.metric} {_num(value)}"
    if report.confidence is not None and latest.served.bound is not None:
        side = "upper" if report.greater_is_better else "lower"
        numbers += f" ({report.confidence:.0%} {side} bound {_num(latest.served.bound)})"
    numbers += f" vs baseline {_num(base)}"
    if report.degraded:
        first = _first_of_streak(report)
        return (
            f"performance degraded since the window starting {first.start:%Y-%m-%d %H:%M} UTC: "
            f"{numbers} (allowed worsening {report.max_degradation:g})"
        )
    return f"performance ok in the latest judged window ({latest.start:%Y-%m-%d}): {numbers}"


def _first_of_streak(report: PerformanceReport) -> WindowResult:
    """The first window of the degraded run that ends with the latest judged window."""
    judged = report.judged
    first = judged[-1]
    for window in reversed(judged):
        if not window.served.degraded:
            break
        first = window
    return first


def markdown_summary(report: PerformanceReport, *, link: str | None = None) -> str:
    """The job-summary section of performance-report."""
    head = "🔴" if report.degraded else ("✅" if report.judged else "⚪")
    other = [m for m in report.overall.metrics if m != report.metric]
    values = ", ".join(f"{escape(m)} {_num(report.overall.metrics[m])}" for m in other)
    return render(
        "performance_report",
        head=head,
        reason=escape(reason(report), max_len=400),
        facts="\n".join(_facts(report)),
        window=escape(report.window),
        windows=_window_table(report),
        versions=_version_table(report),
        other_metrics=(
            f"Other metrics over all labelled served predictions: {values}." if other else ""
        ),
        link=f"Full report: {link}" if link else "",
    )


def _facts(report: PerformanceReport) -> list[str]:
    """The bullet list under the heading: predictions, labels, baseline, notes."""
    overall = report.overall
    window = f", between {escape(report.range.describe())}" if not report.range.is_open else ""
    lines = [
        f"- **Predictions:** {overall.predictions:,} served, {overall.labelled:,} labelled "
        f"(coverage {overall.coverage:.1%}) from {escape(report.predictions_source, max_len=300)}"
        + window,
        "- **Labels:** " + "; ".join(_label_facts(report.quality, report.labels_source)),
    ]
    baselines = "; ".join(
        f"version {escape(v)}: {report.metric} {_num(b.get(report.metric))}"
        for v, b in sorted(report.baselines.items())
        if report.metric in b
    )
    confidence = (
        f" with {report.confidence:.0%} confidence (bootstrap)"
        if report.confidence is not None
        else ""
    )
    lines.append(
        f"- **Baseline** ({escape(report.baseline_source)}): {baselines or 'none'}; degraded "
        f"when worse by more than {report.max_degradation:g}{confidence}, judged with "
        f"≥ {report.min_window_labels} labels"
    )
    if report.positive_class is not None:
        lines.append(f"- **Positive class:** {escape(report.positive_class)}")
    lines += [f"- **Note:** {escape(note, max_len=300)}" for note in report.notes]
    return lines


def _label_facts(q: LabelQuality, source: str) -> list[str]:
    parts = [f"{q.labels:,} rows in {escape(source, max_len=300)}", f"{q.matched:,} matched"]
    if q.unmatched:
        shown = ", ".join(escape(k, max_len=60) for k in q.unmatched_examples)
        parts.append(f"{q.unmatched:,} match no prediction (e.g. {shown})")
    if q.duplicates:
        parts.append(
            f"{q.duplicates:,} duplicates ({q.conflicting:,} keys with conflicting labels)"
        )
    if q.null_labels:
        parts.append(f"{q.null_labels:,} null labels")
    if q.late is not None:
        parts.append(f"{q.late:,} late (after their window closed)")
    if q.before_prediction:
        parts.append(f"{q.before_prediction:,} dated before their prediction")
    if q.ambiguous_predictions:
        parts.append(
            f"{q.ambiguous_predictions:,} predictions of multi-row requests unlabelled "
            "(the labels have no `row` column)"
        )
    return parts


def _window_table(report: PerformanceReport) -> str:
    """The latest `MAX_WINDOWS` windows of served traffic, with a line for the rest."""
    rows = [
        (
            _day(w),
            f"{w.served.predictions:,}",
            f"{w.served.labelled:,}",
            f"{w.served.coverage:.0%}",
            _num(w.served.metrics.get(report.metric)),
            _num(w.served.bound),
            _num(w.served.baseline),
            _change(report, w.served),
            _verdict(w.served, report.min_window_labels),
        )
        for w in report.windows[-MAX_WINDOWS:]
    ]
    headers = ["window (UTC)", "predictions", "labelled", "coverage", escape(report.metric)]
    text = table([*headers, "bound", "baseline", "change", "verdict"], rows)
    if len(report.windows) > MAX_WINDOWS:
        text += f"\n… {len(report.windows) - MAX_WINDOWS} earlier windows in the JSON report."
    return text


def _version_table(report: PerformanceReport) -> str:
    rows = [
        (
            v.deployment + (" (shadow)" if v.shadow else ""),
            v.model_version,
            f"{v.cell.predictions:,}",
            f"{v.cell.labelled:,}",
            _num(v.cell.metrics.get(report.metric)),
            _num(v.cell.baseline),
            _change(report, v.cell),
            _verdict(v.cell, report.min_window_labels),
        )
        for v in report.versions
    ]
    headers = ["deployment", "version", "predictions", "labelled", escape(report.metric)]
    return table([*headers, "baseline", "change", "verdict"], rows)


def details_json(report: PerformanceReport) -> dict[str, Any]:
    """The machine-readable report: every window and version, label quality, baselines."""

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


def write_details(report: PerformanceReport, folder: Path) -> PerformanceReport:
    """Write the details JSON into `folder`; the report with `files` set.

    Raises InputError when the folder cannot be written.
    """
    from mlops_actions.errors import InputError

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
