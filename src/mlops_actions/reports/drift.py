"""drift-report's reports: Evidently's HTML and JSON, our details JSON, the Markdown summary.

`write_reports` writes the files of a step result into the report folder; Evidently's report is
rendered from a seeded sample of at most `sample_rows` rows per side, told to use the methods
and thresholds resolved on the full data (the default method depends on the row count, so a
sample would otherwise switch tests); its banner and the summary say so.

The Markdown table (job summary, PR comment, tracking issue) is sorted by drift strength: drifted
columns first, then by how far the score is past (or short of) its threshold — `score/threshold`
for distances, `threshold/score` for p-values — so the worst columns lead. Every user-controlled
string (column names, categories in notes, paths) is escaped.
"""

from __future__ import annotations

import html
import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_actions.reports.html import parse_elements, script_json, with_csp
from mlops_actions.reports.markdown import escape, table
from mlops_actions.reports.templates import render

if TYPE_CHECKING:
    import pandas as pd

    from mlops_actions.monitoring.drift_stats import ColumnDrift
    from mlops_actions.steps.drift_report import DriftReport, SideInfo

MAX_TABLE_ROWS = 60
DEFAULT_SAMPLE_ROWS = 20_000
HTML_NAME = "drift-report.html"
EVIDENTLY_JSON_NAME = "drift-report.evidently.json"
DETAILS_NAME = "drift-report.details.json"
KIND_NAMES = {"num": "numerical", "cat": "categorical", "text": "text", "other": "other"}


def strength(column: ColumnDrift) -> float:
    """How strongly a column drifted: > 1 past its threshold, < 1 short of it; -1 unscored."""
    if column.score is None or column.threshold is None:
        return math.inf if column.drifted else -1.0
    if column.is_p_value:
        return math.inf if column.score == 0 else column.threshold / column.score
    if column.threshold == 0:
        return math.inf if column.score > 0 else 0.0
    return column.score / column.threshold


def sorted_columns(columns: Sequence[ColumnDrift]) -> list[ColumnDrift]:
    """Drifted first, then by strength (strongest first), then by name."""
    return sorted(columns, key=lambda c: (not c.drifted, -strength(c), c.column))


def _score(column: ColumnDrift) -> str:
    if column.score is None:
        return "—"
    value = column.score
    if column.is_p_value and 0 < value < 1e-4:
        return f"{value:.1e}"
    return f"{value:.4f}"


def _verdict(column: ColumnDrift) -> str:
    if column.drifted:
        return "🔴 drift"
    return "✅ ok" if column.score is not None else "⚪ not tested"


def _rule(column: ColumnDrift) -> str:
    if column.method is None or column.threshold is None:
        return "—"
    if column.is_p_value:
        op = "≤" if column.method == "ks" else "<"
        return f"p {op} {column.threshold:g}"
    return f"≥ {column.threshold:g}"


def column_table(columns: Sequence[ColumnDrift], *, limit: int = MAX_TABLE_ROWS) -> str:
    """The per-column table, strongest drift first, at most `limit` rows."""
    ordered = sorted_columns(columns)
    rows = [
        (
            c.column,
            KIND_NAMES.get(c.kind, c.kind),
            c.method or "—",
            _score(c),
            _rule(c),
            _verdict(c),
            c.note or "",
        )
        for c in ordered[:limit]
    ]
    text = table(["column", "type", "method", "score", "drift when", "verdict", "note"], rows)
    if len(ordered) > limit:
        text += f"\n… and {len(ordered) - limit} more columns in the HTML and JSON reports.\n"
    return text


def markdown_summary(report: DriftReport, *, link: str | None = None) -> str:
    """The job-summary section: verdict, sources, prediction drift, the column table."""
    predictions = ""
    if report.predictions is not None:
        predictions = "**Predictions**\n\n" + column_table(report.predictions.columns)
    return render(
        "drift_report",
        head=_head(report),
        facts="\n".join(_facts(report)),
        columns=column_table(report.features.columns),
        predictions=predictions,
        verdicts=_verdicts_from(report),
        link=f"Full report: {link}" if link else "",
    )


def verdict(report: DriftReport) -> str:
    """One line: `no drift: …` or `drift detected: …`, with the drifted share and threshold."""
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


def _head(report: DriftReport) -> str:
    line = verdict(report)
    return ("🔴 " if report.drift_detected else "✅ ") + line[:1].upper() + line[1:]


def _facts(report: DriftReport) -> list[str]:
    """The bullet list under the heading: the sides, prediction drift, schema changes, notes."""
    current = _side_text(report.current)
    if not report.window.is_open:
        current += f", between {escape(report.window.describe())}"
    lines = [
        f"- **Reference:** {_side_text(report.reference)}",
        f"- **Current:** {current}",
        f"- **Prediction drift:** {_prediction_text(report)}",
    ]
    schema = report.schema_problems()
    if schema:
        shown = ", ".join(f"{escape(c.column)} ({escape(c.note)})" for c in schema[:10])
        more = f" and {len(schema) - 10} more" if len(schema) > 10 else ""
        lines.append(f"- **Schema changes:** {shown}{more}")
    if report.excluded:
        lines.append(f"- **Not compared:** {escape(', '.join(report.excluded), max_len=300)}")
    lines += [f"- **Note:** {escape(note, max_len=300)}" for note in report.notes]
    return lines


def _verdicts_from(report: DriftReport) -> str:
    rows = f"{report.reference.rows:,} reference and {report.current.rows:,} current rows"
    if report.sample_rows is None:
        return f"Verdicts come from the full data ({rows}); no Evidently report was rendered."
    ref_rows, cur_rows = report.sample_rows
    return (
        f"Verdicts come from the full data ({rows}). The Evidently report was rendered from a "
        f"sample of {ref_rows:,} + {cur_rows:,} rows (seed {report.seed}) with the same tests."
    )


def _side_text(side: SideInfo) -> str:
    text = f"{escape(side.description, max_len=300)} ({side.rows:,} rows"
    if side.total_rows != side.rows:
        text += f" of {side.total_rows:,}"
    if side.version:
        text += f", {escape(side.version)}"
    return text + ")"


def _prediction_text(report: DriftReport) -> str:
    if report.predictions is None:
        return f"not computed: {escape(report.prediction_note or 'no predictions', max_len=400)}"
    drifted = report.predictions.drifted_columns
    state = f"🔴 drifted ({escape(', '.join(drifted))})" if drifted else "✅ not drifted"
    if report.scored_with:
        state += f"; reference scored with {escape(report.scored_with)}"
    if report.prediction_note:
        state += f"; {escape(report.prediction_note, max_len=300)}"
    return state


def details_json(report: DriftReport) -> dict[str, Any]:
    """Our machine-readable report: verdicts from the full data, sources, sample, notes."""
    return {
        "drift_detected": report.drift_detected,
        "verdicts_from": "full data",
        "features": report.features.as_dict(),
        "predictions": None if report.predictions is None else report.predictions.as_dict(),
        "prediction_drift": report.prediction_drift,
        "prediction_note": report.prediction_note,
        "reference": vars(report.reference),
        "current": vars(report.current),
        "window": {
            "since": report.window.since.isoformat() if report.window.since else None,
            "until": report.window.until.isoformat() if report.window.until else None,
        },
        "evidently_sample": None
        if report.sample_rows is None
        else {
            "reference_rows": report.sample_rows[0],
            "current_rows": report.sample_rows[1],
            "seed": report.seed,
        },
        "excluded": list(report.excluded),
        "scored_with": report.scored_with,
        "notes": list(report.notes),
    }


def write_reports(
    report: DriftReport, folder: Path, *, with_html: bool, sample_rows: int, seed: int
) -> DriftReport:
    """Write the details JSON and, with `with_html`, Evidently's HTML and JSON into `folder`.

    Returns the report with `files` (and the Evidently sample) filled in. Raises InputError when
    the folder cannot be created.
    """
    from mlops_actions.errors import InputError

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot create the report folder {folder}: {exc.strerror};",
            hint="pass a writable --report-dir.",
        ) from None
    report = replace(report, seed=seed)
    files: dict[str, Path] = {}
    if with_html and report.frames is not None:
        reference, current = report.frames
        ref_sample = _sample(reference, sample_rows, seed)
        cur_sample = _sample(current, sample_rows, seed)
        report = replace(report, sample_rows=(len(ref_sample), len(cur_sample)))
        files["html"], files["evidently-json"] = folder / HTML_NAME, folder / EVIDENTLY_JSON_NAME
        render_evidently(
            ref_sample,
            cur_sample,
            [c for s in (report.features, report.predictions) if s is not None for c in s.columns],
            drift_share=report.features.share_threshold,
            html_path=files["html"],
            json_path=files["evidently-json"],
            banner=_banner(report),
        )
    files["details"] = folder / DETAILS_NAME
    files["details"].write_text(
        json.dumps(details_json(report), indent=2, sort_keys=True, default=str) + "\n",
        encoding="utf-8",
    )
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


def render_evidently(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: Sequence[ColumnDrift],
    *,
    drift_share: float,
    html_path: Path,
    json_path: Path,
    banner: str,
) -> None:
    """Evidently's DataDriftPreset report of the scored columns, with our methods and thresholds.

    Columns without a score (missing on one side, dtype changed, text, all null) are left out:
    Evidently would fail or test them differently; the Markdown and details report them. The
    banner (sample size, where the verdicts come from) is put at the top of the HTML.
    """
    import numpy as np
    import pandas as pd

    scored = [c for c in columns if c.method is not None and c.score is not None]
    names = [c.column for c in scored]
    ref = reference[names].replace([np.inf, -np.inf], np.nan)
    cur = current[names].replace([np.inf, -np.inf], np.nan)
    for c in scored:  # the kinds resolved on the full data, whatever the sample's dtypes
        if c.kind == "cat":
            ref[c.column] = _as_category_values(ref[c.column])
            cur[c.column] = _as_category_values(cur[c.column])
    with warnings.catch_warnings():
        # Evidently's import and run warn about its own deprecations and scipy edge cases; the
        # verdicts are ours, its numbers only illustrate them.
        warnings.simplefilter("ignore")
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset

        definition = DataDefinition(
            numerical_columns=[c.column for c in scored if c.kind == "num"],
            categorical_columns=[c.column for c in scored if c.kind == "cat"],
        )
        preset = DataDriftPreset(
            columns=names,
            per_column_method={c.column: c.method for c in scored if c.method},
            per_column_threshold={c.column: c.threshold for c in scored if c.threshold is not None},
            drift_share=drift_share,
        )
        snapshot = Report([preset], include_tests=True).run(
            Dataset.from_pandas(pd.DataFrame(cur), data_definition=definition),
            Dataset.from_pandas(pd.DataFrame(ref), data_definition=definition),
        )
        page, scripts = evidently_page(snapshot)
        json_path.write_text(snapshot.json(), encoding="utf-8")
    html_path.write_text(with_csp(_with_banner(page, banner), scripts), encoding="utf-8")


def evidently_page(snapshot: Any) -> tuple[str, list[str]]:
    """Evidently's standalone page of `snapshot`, with its data embedded safely; and its scripts.

    Evidently's own `get_html_str` puts the report data (column names, category values) into an
    inline `<script>` as raw JSON, so a column named `</script><script>…` runs. Here its page
    template is rendered without the data, and the data goes in as `script_json` (every `<`, `>`
    and `&` a `\\u` escape), in the place Evidently's template gives it. Returns the page and
    the exact texts of its inline scripts (for the CSP hashes).
    """
    import uuid

    from evidently.legacy.model.dashboard import DashboardInfo
    from evidently.legacy.model.widget import AdditionalGraphInfo, BaseWidgetInfo
    from evidently.legacy.renderers.html_widgets import group_widget
    from evidently.legacy.utils import NumpyEncoder
    from evidently.legacy.utils.dashboard import TemplateParams, file_html_template

    # What evidently.core.metric_types.render_widgets does, but the data stays ours to embed.
    model = snapshot.to_snapshot_model()
    widgets = [group_widget(title="", widgets=list(model.widgets)), *model.tests_widgets]
    graphs: dict[str, Any] = {}
    for widget in widgets:
        for graph in widget.get_additional_graphs():
            item = graph.params if isinstance(graph, AdditionalGraphInfo) else graph
            graphs[str(graph.id)] = item.dict() if isinstance(item, BaseWidgetInfo) else item
    dashboard_id = "metric_" + uuid.uuid4().hex
    info = DashboardInfo(name="Report", widgets=widgets).dict()
    for widget_info in info["widgets"]:
        widget_info.pop("additionalGraphs", None)
    params = TemplateParams(
        dashboard_id=dashboard_id,
        dashboard_info=None,  # not read without embed_data
        additional_graphs={},
        embed_data=False,
    )
    template = file_html_template(params)
    placeholder = "<!-- no embedded data -->"
    if template.count(placeholder) != 1:
        raise RuntimeError("Evidently's page template changed: no single place for the data")
    data = (
        f"\n    var {dashboard_id} = {script_json(info, cls=NumpyEncoder)};\n"
        f"    var additional_graphs_{dashboard_id} = {script_json(graphs, cls=NumpyEncoder)};\n"
    )
    scripts = [*parse_elements(template).scripts, data]
    return template.replace(placeholder, f"<script>{data}</script>"), scripts


def _as_category_values(series: pd.Series) -> pd.Series:
    """Booleans and categories as plain objects: Evidently's categorical tests count values."""
    if series.dtype.name in ("bool", "boolean", "category"):
        return series.astype(object)
    return series


def _with_banner(page: str, banner: str) -> str:
    note = (
        '<div style="font-family:sans-serif;padding:12px 16px;margin:0;background:#fff8e1;'
        'border-bottom:1px solid #e0c97a">' + html.escape(banner) + "</div>"
    )
    lowered = page.lower()
    at = lowered.find("<body")
    if at >= 0:
        end = page.find(">", at)
        if end >= 0:
            return page[: end + 1] + note + page[end + 1 :]
    return note + page
