"""validate-data's reports: the Markdown summary, the JSON result and a self-contained HTML page.

Every string that comes from the data or the suite (column names, values, messages, suite and
file names) is escaped: `reports.markdown.escape` in Markdown, `reports.html.text` in the page.
The page is ours rather than GX's data docs because those render data values as raw HTML (a value
`<script>…` becomes a script) and load their styles from CDNs; ours has neither, and its
Content-Security-Policy (`reports.html.csp_meta`) allows no script and no remote load at all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_actions.paths import shown_path, write_files
from mlops_actions.reports.html import csp_meta, text
from mlops_actions.reports.markdown import escape, table
from mlops_actions.reports.templates import render

if TYPE_CHECKING:
    from mlops_actions.steps.validate_data import DataValidation, SuiteDraft
    from mlops_actions.validation.engines import DatasetValidation, ExpectationOutcome

HTML_NAME = "validate-data.html"
JSON_NAME = "validate-data-result.json"
MARKDOWN_NAME = "validate-data.md"

MAX_TABLE_ROWS = 50
"""Failed expectations listed in the Markdown table; the HTML page lists all of them."""


def _names(datasets: Sequence[DatasetValidation]) -> str:
    names = [d.name for d in datasets]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def passed(datasets: Sequence[DatasetValidation]) -> bool:
    """The gate: every dataset reaches the minimum success ratio."""
    return all(d.success for d in datasets)


def verdict(datasets: Sequence[DatasetValidation], min_ratio: float) -> str:
    """One line: pass or fail, how many expectations, on which data, against which minimum."""
    total = sum(d.evaluated for d in datasets)
    failed = sum(len(d.failed) for d in datasets)
    if passed(datasets):
        if failed == 0:
            return f"data valid: all {total} expectations passed on {_names(datasets)}"
        return (
            f"data valid: {failed} of {total} expectations failed on {_names(datasets)}, "
            f"within the minimum success ratio {min_ratio}"
        )
    bad = [d for d in datasets if not d.success]
    worst = min(bad, key=lambda d: d.success_ratio)
    return (
        f"data invalid: {failed} of {total} expectations failed; success ratio "
        f"{worst.success_ratio:.3f} on {worst.name} is below the minimum {min_ratio}: "
        + _first_failures(bad)
    )


def _first_failures(datasets: Sequence[DatasetValidation], most: int = 3) -> str:
    """The first failed expectations, named so the console line alone says what to look at."""
    failed = [(d, o) for d in datasets for o in d.failed]
    named = []
    for d, o in failed[:most]:
        observed = _observed(o)
        observed = observed if len(observed) <= 80 else observed[:77] + "…"
        named.append(f"{', '.join(o.columns) or 'table'} on {d.name}: {o.type} ({observed})")
    more = f" and {len(failed) - most} more" if len(failed) > most else ""
    return "; ".join(named) + more


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _percent(outcome: ExpectationOutcome) -> str:
    return "" if outcome.unexpected_percent is None else f"{outcome.unexpected_percent:.2f} %"


def _observed(outcome: ExpectationOutcome) -> str:
    return outcome.error if outcome.error else outcome.observed


def markdown(
    datasets: Sequence[DatasetValidation],
    *,
    suite_name: str,
    min_ratio: float,
    engine: str,
    html_file: str,
) -> str:
    """The job-summary section: verdict, one row per dataset, a table of failed expectations."""
    ok = passed(datasets)
    per_dataset = table(
        ["dataset", "rows", "data version", "passed", "success ratio", "verdict"],
        [
            (
                d.name,
                "" if d.rows is None else f"{d.rows:,}",
                d.data_version,
                f"{d.evaluated - len(d.failed)}/{d.evaluated}",
                f"{d.success_ratio:.3f}",
                "✅ pass" if d.success else "❌ fail",
            )
            for d in datasets
        ],
    )
    return render(
        "validate_data",
        mark="✅" if ok else "❌",
        state="passed" if ok else "failed",
        verdict=escape(_sentence(verdict(datasets, min_ratio)), max_len=2000),
        suite=escape(suite_name),
        engine=escape(engine),
        datasets=per_dataset,
        failures=_failures(datasets),
        html=escape(html_file),
    )


def _failures(datasets: Sequence[DatasetValidation]) -> str:
    """The table of failed expectations (the first MAX_TABLE_ROWS), or nothing."""
    failed = [(d, o) for d in datasets for o in d.failed]
    if not failed:
        return ""
    many = len(datasets) > 1
    headers = ["column", "expectation", "observed", "unexpected %", "sample unexpected values"]
    rows = [
        (
            *((d.name,) if many else ()),
            ", ".join(o.columns) or "(table)",
            o.type,
            _observed(o),
            _percent(o),
            ", ".join(o.samples),
        )
        for d, o in failed[:MAX_TABLE_ROWS]
    ]
    text = f"#### Failed expectations ({len(failed)})\n\n" + table(
        ["dataset", *headers] if many else headers, rows
    )
    if len(failed) > MAX_TABLE_ROWS:
        text += f"\n… and {len(failed) - MAX_TABLE_ROWS} more in the HTML report.\n"
    return text


def draft_markdown(draft: SuiteDraft, data: Path) -> str:
    """The job-summary section of `--draft-suite`: what was drafted from what, and where."""
    return render(
        "validate_data_draft",
        mark="✅" if draft.passes else "❌",
        name=escape(draft.name),
        expectations=draft.expectations,
        rows=f"{draft.rows:,}",
        columns=draft.columns,
        data=escape(str(data)),
        path=escape(str(draft.path)),
        outcome="They pass on that data. Review the bounds, then point validation.suite at the "
        "file."
        if draft.passes
        else f"{len(draft.failed)} of them fail on that data; please report this.",
    )


@dataclass(frozen=True)
class ReportFiles:
    """Where the reports of one validation were written, and the summary itself."""

    html: Path
    json: Path
    summary: str


def write_reports(result: DataValidation, folder: Path) -> ReportFiles:
    """Write the HTML page, the JSON result and the Markdown summary into `folder`.

    Creates the folder; overwrites earlier reports of the same names. Raises InputError when the
    folder cannot be written.
    """
    common: dict[str, Any] = {
        "suite_name": result.suite.name,
        "min_ratio": result.min_success_ratio,
        "engine": result.engine,
    }
    html_path, json_path = folder / HTML_NAME, folder / JSON_NAME
    summary = markdown(result.datasets, html_file=shown_path(html_path), **common)
    suite = shown_path(result.suite.path)
    document = json_result(result.datasets, suite_path=suite, **common)
    files = {
        HTML_NAME: html_page(result.datasets, suite_path=suite, **common),
        JSON_NAME: json.dumps(document, indent=2, default=str) + "\n",
        MARKDOWN_NAME: summary,
    }
    write_files(folder, files, hint="choose a writable folder (--report-dir).")
    return ReportFiles(html_path, json_path, summary)


def json_result(
    datasets: Sequence[DatasetValidation],
    *,
    suite_name: str,
    suite_path: str,
    min_ratio: float,
    engine: str,
) -> dict[str, Any]:
    """Everything the step found, as plain JSON: verdict, per dataset, per expectation."""
    return {
        "success": passed(datasets),
        "verdict": verdict(datasets, min_ratio),
        "min_success_ratio": min_ratio,
        "engine": engine,
        "suite": {"name": suite_name, "path": suite_path},
        "datasets": [
            {
                "name": d.name,
                "location": d.location,
                "data_version": d.data_version,
                "rows": d.rows,
                "evaluated": d.evaluated,
                "failed": len(d.failed),
                "success_ratio": d.success_ratio,
                "success": d.success,
                "results": [
                    {
                        "index": o.index,
                        "type": o.type,
                        "kwargs": o.kwargs,
                        "columns": list(o.columns),
                        "success": o.success,
                        "observed": o.observed,
                        "unexpected_percent": o.unexpected_percent,
                        "unexpected_count": o.unexpected_count,
                        "samples": list(o.samples),
                        "error": o.error,
                    }
                    for o in d.outcomes
                ],
            }
            for d in datasets
        ],
    }


_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1f2328;max-width:80rem}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;width:100%}
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}tr.fail td{background:#fff5f5}code{font-size:12px}
.pass{color:#1a7f37}.fail{color:#cf222e}
""".strip()


def html_page(
    datasets: Sequence[DatasetValidation],
    *,
    suite_name: str,
    suite_path: str,
    min_ratio: float,
    engine: str,
) -> str:
    """A standalone page (no scripts, no external assets) with every expectation's result."""
    e = text
    ok = passed(datasets)
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">' + csp_meta(),
        f"<title>validate-data: {e(suite_name)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f'<h1>validate-data: <span class="{"pass" if ok else "fail"}">'
        f"{'passed' if ok else 'failed'}</span></h1>",
        f"<p><strong>{e(verdict(datasets, min_ratio))}</strong></p>",
        f"<p>Suite <code>{e(suite_name)}</code> ({e(suite_path)}), engine {e(engine)}, "
        f"minimum success ratio {min_ratio}.</p>",
    ]
    for d in datasets:
        state = "pass" if d.success else "fail"
        rows = "" if d.rows is None else f"{d.rows:,} rows, "
        parts += [
            f'<h2>{e(d.name)}: <span class="{state}">{state}</span></h2>',
            f"<p>{e(d.location)} — {rows}data version <code>{e(d.data_version)}</code>, "
            f"{d.evaluated - len(d.failed)}/{d.evaluated} expectations passed "
            f"(success ratio {d.success_ratio:.3f}).</p>",
            "<table><thead><tr><th>#</th><th>status</th><th>column</th><th>expectation</th>"
            "<th>arguments</th><th>observed</th><th>unexpected %</th>"
            "<th>sample unexpected values</th></tr></thead><tbody>",
        ]
        for o in d.outcomes:
            arguments = ", ".join(
                f"{k}={_short(v)}" for k, v in o.kwargs.items() if k not in ("column",)
            )
            parts.append(
                f'<tr class="{"pass" if o.success else "fail"}"><td>{o.index}</td>'
                f"<td>{'✅' if o.success else '❌'}</td>"
                f"<td>{e(', '.join(o.columns))}</td><td><code>{e(o.type)}</code></td>"
                f"<td><code>{e(arguments)}</code></td><td>{e(_observed(o))}</td>"
                f"<td>{e(_percent(o))}</td><td>{e(', '.join(o.samples))}</td></tr>"
            )
        parts.append("</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
