"""The comparison report: one renderer for the job summary, the PR comment and the report file.

Markdown only, every user-controlled string (metric and slice names, slice values, model names,
URIs, reasons) escaped with `reports.markdown.escape`, so a hostile column name cannot break a
table, open HTML or mention anyone. The chart is a Mermaid block that GitHub renders itself:
nothing is uploaded anywhere. With `max_chars` the slice table (then the metric table) is
shortened, failures first, with a pointer to the full report artifact. The layout and its fixed
prose are `templates/summaries/compare_champion.md`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote

from mlops_actions.reports.markdown import escape, table
from mlops_actions.reports.templates import render

if TYPE_CHECKING:
    from mlops_actions.comparison.candidates import ModelRef
    from mlops_actions.comparison.decision import MetricRow, SliceRow
    from mlops_actions.steps.compare_champion import ChampionComparison

MARKER = "<!-- mlops-actions:compare-champion -->"
"""First line of our sticky PR comment; how we find it again."""

_CHART_NAME = re.compile(r"[^A-Za-z0-9_.-]")
_SHA = re.compile(r"^[0-9a-f]{7,40}$")


def render_comparison(
    comparison: ChampionComparison,
    *,
    max_chars: int | None = None,
    artifact: str | None = None,
    repo_url: str | None = None,
) -> str:
    """The Markdown report; at most `max_chars` characters when given.

    `artifact` names where the full report is (said when tables are shortened); `repo_url`
    (`https://github.com/owner/repo`) turns commit ids into links.
    """
    full = _render(comparison, None, None, artifact, repo_url)
    if max_chars is None or len(full) <= max_chars:
        return full
    slices = len(comparison.slices)
    low, high = 0, slices
    best: str | None = None
    while low <= high:  # the most slice rows that fit
        mid = (low + high) // 2
        text = _render(comparison, mid, None, artifact, repo_url)
        if len(text) <= max_chars:
            best, low = text, mid + 1
        else:
            high = mid - 1
    if best is not None:
        return best
    for metric_rows in (10, 3, 0):
        text = _render(comparison, 0, metric_rows, artifact, repo_url)
        if len(text) <= max_chars:
            return text
    return cut(text, max_chars, artifact)


def cut(text: str, max_chars: int, artifact: str | None) -> str:
    """`text` shortened to `max_chars` with a closing pointer to the full report."""
    note = f"\n\n… shortened; {_pointer(artifact)}\n"
    keep = max(0, max_chars - len(note))
    head = text[:keep]
    if head.count("```") % 2:  # never leave a code block open
        head = head[: head.rfind("```")]
    return head + note


def _pointer(artifact: str | None) -> str:
    if artifact:
        return f"the full report is the artifact {escape(artifact, max_len=100)}."
    return "the full report is in the job summary."


def _render(
    c: ChampionComparison,
    slice_limit: int | None,
    metric_limit: int | None,
    artifact: str | None,
    repo_url: str | None,
) -> str:
    icon, state = _heading(c)
    return render(
        "compare_champion",
        icon=icon,
        model=escape(c.model_name, max_len=120),
        state=state,
        reason=escape(c.reason, max_len=1500),
        metrics=_metric_table(c, metric_limit, artifact),
        bootstrap=_bootstrap(c) if c.bootstrap is not None else "",
        chart=chart_block(c.rows),
        slices=_slice_table(c.slices, c.champion is not None, slice_limit, artifact)
        if c.slices
        else "",
        lineage=_lineage(c, repo_url),
        rows=f"{c.holdout.rows:,}",
        seconds=f"{c.seconds:.1f}",
        recorded="recorded on the candidate run" if c.verdict_recorded else "not recorded",
    )


def _heading(c: ChampionComparison) -> tuple[str, str]:
    """The icon and the state the heading shows."""
    icon = "✅" if c.is_better else "❌"
    if c.first_model:
        return icon, "first model" + (" passes" if c.is_better else " fails the floors")
    assert c.champion is not None
    champion = escape(c.champion.label, max_len=60)
    state = "challenger is better than" if c.is_better else "challenger is not better than"
    return icon, f"{state} champion {champion}"


def fmt(value: float | None) -> str:
    """A metric value for a table."""
    if value is None:
        return "—"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.1f}"


def _delta(value: float | None) -> str:
    if value is None:
        return "—"
    if math.isnan(value):
        return "NaN"
    return f"{value:+.4f}" if abs(value) < 1000 else f"{value:+,.1f}"


def _mark(passed: bool | None) -> str:
    return "" if passed is None else ("✓" if passed else "✗")


def _metric_label(row: MetricRow) -> str:
    arrow = "↑" if row.greater_is_better else "↓"
    role = "" if row.role == "info" else f" ({row.role})"
    return f"{row.metric} {arrow}{role}"


def _metric_table(c: ChampionComparison, limit: int | None, artifact: str | None) -> str:
    rows = list(c.rows)
    hidden = 0
    if limit is not None and len(rows) > limit:
        deciding = [r for r in rows if r.passed is not None]
        rows = (deciding + [r for r in rows if r.passed is None])[: max(limit, len(deciding))]
        hidden = len(c.rows) - len(rows)
    if c.champion is None:
        body = table(
            ["metric", "challenger", "floor", ""],
            [(_metric_label(r), fmt(r.challenger), r.bound, _mark(r.passed)) for r in rows],
        )
    else:
        body = table(
            ["metric", "champion", "challenger", "delta", "bound", ""],
            [
                (
                    _metric_label(r),
                    fmt(r.champion),
                    fmt(r.challenger),
                    _delta(r.delta),
                    r.bound,
                    _mark(r.passed),
                )
                for r in rows
            ],
        )
    if hidden:
        body += f"\n… {hidden} more metric(s); {_pointer(artifact)}\n"
    return body


def _bootstrap(c: ChampionComparison) -> str:
    b = c.bootstrap
    assert b is not None
    mark = "✓" if b.excludes_zero else "✗"
    text = (
        f"\n**Bootstrap** {mark} {b.resamples:,} paired resamples of the holdout: the "
        f"{b.confidence:.0%} interval of the {escape(b.metric)} improvement is "
        f"[{_delta(b.low)}, {_delta(b.high)}] (median {_delta(b.median)}); the challenger is "
        f"better in {b.share_better:.1%} of resamples."
    )
    if b.undefined:
        text += f" The metric was undefined in {b.undefined} resample(s), counted as losses."
    return text + "\n"


def chart_block(rows: Sequence[MetricRow]) -> str:
    """A Mermaid bar chart of each metric's change relative to the champion (positive = better)."""
    names: list[str] = []
    values: list[float] = []
    for row in rows:
        if row.champion is None or not (math.isfinite(row.champion) and row.champion != 0):
            continue
        if not math.isfinite(row.challenger):
            continue
        gain = row.challenger - row.champion
        if not row.greater_is_better:
            gain = -gain
        names.append(_CHART_NAME.sub("_", row.metric)[:30] or "metric")
        values.append(round(100 * gain / abs(row.champion), 3))
    if not values:
        return ""
    low = min(0.0, *values)
    high = max(0.0, *values)
    pad = max((high - low) * 0.1, 0.5)
    labels = ", ".join(f'"{n}"' for n in names)
    numbers = ", ".join(f"{v:g}" for v in values)
    return (
        "\n```mermaid\nxychart-beta\n"
        '    title "Challenger vs champion: change in % of the champion (positive = better)"\n'
        f"    x-axis [{labels}]\n"
        f'    y-axis "change (%)" {low - pad:.2f} --> {high + pad:.2f}\n'
        f"    bar [{numbers}]\n```\n"
    )


def _slice_table(
    slices: Sequence[SliceRow], with_champion: bool, limit: int | None, artifact: str | None
) -> str:
    rows = list(slices)
    hidden = 0
    if limit is not None and len(rows) > limit:
        rows = sorted(rows, key=lambda r: r.passed is not False)[:limit]
        hidden = len(slices) - len(rows)
    if with_champion:
        body = table(
            ["slice", "rows", "metric", "champion", "challenger", "delta", "bound", ""],
            [
                (
                    f"{r.column} = {r.value}",
                    f"{r.rows:,}",
                    r.metric,
                    fmt(r.champion),
                    fmt(r.challenger),
                    _delta(r.delta),
                    r.bound,
                    _mark(r.passed),
                )
                for r in rows
            ],
        )
    else:
        body = table(
            ["slice", "rows", "metric", "challenger"],
            [(f"{r.column} = {r.value}", f"{r.rows:,}", r.metric, fmt(r.challenger)) for r in rows],
        )
    failed = sum(1 for r in slices if r.passed is False)
    head = f"\n**Slices** ({len(slices)} rows, {failed} failing)\n\n"
    if hidden:
        body += f"\n… {hidden} more slice row(s); {_pointer(artifact)}\n"
    return head + body


def link(text: str, url: str | None) -> str:
    """`[text](url)` for an http(s) URL (escaped text, encoded URL), else the escaped text."""
    label = escape(text, max_len=120)
    if not url or not re.match(r"^https?://[^\s]+$", url):
        return label
    safe = quote(url, safe=":/?#=&%.,;+~-_!$*'@")
    safe = safe.replace("(", "%28").replace(")", "%29")
    return f"[{label}]({safe})"


def _tracking_link(tracking_uri: str, ref: ModelRef) -> str | None:
    if not tracking_uri.startswith(("http://", "https://")) or not ref.run_id:
        return None
    base = tracking_uri.rstrip("/")
    return f"{base}/#/experiments/{ref.experiment_id or '0'}/runs/{ref.run_id}"


def _lineage_items(ref: ModelRef, tracking_uri: str, repo_url: str | None) -> list[str]:
    from mlops_actions.lineage import LINEAGE_TAGS

    items: list[str] = []
    if ref.run_id:
        items.append(f"run {link(ref.run_id, _tracking_link(tracking_uri, ref))}")
    for key, label in LINEAGE_TAGS:
        value = ref.tags.get(key)
        if not value:
            continue
        if key == "mlops.git.commit" and repo_url and _SHA.match(value):
            commit_url = f"{repo_url.rstrip('/')}/commit/{value}"
            items.append(f"{label} {link(value[:12], commit_url)}")
        elif key == "mlops.workflow.run_url":
            # Training code writes this tag, a pull request's too: link only the run's server.
            from mlops_actions.github.pr_comment import github_env

            url = github_env().server_link(value)
            items.append(link(label, url) if url else f"{label} {escape(value, max_len=120)}")
        else:
            items.append(f"{label} {escape(value, max_len=80)}")
    return items


def _lineage(c: ChampionComparison, repo_url: str | None) -> str:
    lines: list[str] = []
    challenger = _lineage_items(c.challenger, c.tracking_uri, repo_url)
    lines.append(
        f"- challenger {escape(c.challenger.uri, max_len=160)}"
        + (": " + " · ".join(challenger) if challenger else "")
    )
    if c.champion is not None:
        champion = _lineage_items(c.champion, c.tracking_uri, repo_url)
        lines.append(
            f"- champion {escape(c.champion.label)} of {escape(c.model_name)}"
            + (": " + " · ".join(champion) if champion else "")
        )
    else:
        lines.append(f"- champion: none yet; this is the first model of {escape(c.model_name)}")
    h = c.holdout
    positive = f", positive class {escape(h.positive_class)}" if h.positive_class else ""
    lines.append(
        f"- holdout {escape(h.path.rsplit('/', 1)[-1])} ({h.rows:,} rows, "
        f"{escape(h.version)}), target {escape(h.target)}{positive}"
    )
    return "\n".join(lines) + "\n"
