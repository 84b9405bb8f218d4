"""performance-report's Markdown: the verdict, label quality, and tables per window and version.

Every user-controlled string (paths, ids, deployment and version names, labels) is escaped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_actions.reports.markdown import escape, table

if TYPE_CHECKING:
    from mlops_actions.steps.performance_report import Cell, PerformanceReport, WindowResult

MAX_WINDOWS = 60


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
    lines = [f"### {head} Performance: {escape(reason(report), max_len=400)}", ""]
    overall = report.overall
    lines.append(
        f"- **Predictions:** {overall.predictions:,} served, {overall.labelled:,} labelled "
        f"(coverage {overall.coverage:.1%}) from {escape(report.predictions_source, max_len=300)}"
        + (f", between {escape(report.range.describe())}" if not report.range.is_open else "")
    )
    q = report.quality
    parts = [f"{q.labels:,} rows in {escape(report.labels_source, max_len=300)}"]
    parts.append(f"{q.matched:,} matched")
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
    lines.append("- **Labels:** " + "; ".join(parts))
    baselines = "; ".join(
        f"version {escape(v)}: {report.metric} {_num(b.get(report.metric))}"
        for v, b in sorted(report.baselines.items())
        if report.metric in b
    )
    lines.append(
        f"- **Baseline** ({escape(report.baseline_source)}): {baselines or 'none'}; degraded "
        f"when worse by more than {report.max_degradation:g}"
        + (
            f" with {report.confidence:.0%} confidence (bootstrap)"
            if report.confidence is not None
            else ""
        )
        + f", judged with ≥ {report.min_window_labels} labels"
    )
    if report.positive_class is not None:
        lines.append(f"- **Positive class:** {escape(report.positive_class)}")
    for note in report.notes:
        lines.append(f"- **Note:** {escape(note, max_len=300)}")
    lines += ["", f"**Per window ({escape(report.window)}, served traffic)**", ""]
    windows = report.windows[-MAX_WINDOWS:]
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
        for w in windows
    ]
    lines.append(
        table(
            [
                "window (UTC)",
                "predictions",
                "labelled",
                "coverage",
                escape(report.metric),
                "bound",
                "baseline",
                "change",
                "verdict",
            ],
            rows,
        )
    )
    if len(report.windows) > MAX_WINDOWS:
        lines.append(f"… {len(report.windows) - MAX_WINDOWS} earlier windows in the JSON report.")
    lines += ["", "**Per deployment and model version**", ""]
    version_rows = [
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
    lines.append(
        table(
            [
                "deployment",
                "version",
                "predictions",
                "labelled",
                escape(report.metric),
                "baseline",
                "change",
                "verdict",
            ],
            version_rows,
        )
    )
    other = [m for m in report.overall.metrics if m != report.metric]
    if other:
        values = ", ".join(f"{escape(m)} {_num(report.overall.metrics[m])}" for m in other)
        lines.append(f"\nOther metrics over all labelled served predictions: {values}.")
    if link:
        lines.append(f"\nFull report: {link}")
    return "\n".join(lines) + "\n"
