"""The comparison report: escaped, charted, shortened to fit a PR comment, linked."""

from __future__ import annotations

import re

from mlops_actions.comparison.candidates import ModelRef
from mlops_actions.comparison.decision import MetricRow, SliceRow
from mlops_actions.metrics import BootstrapInterval
from mlops_actions.reports.comparison import chart_block, link, render_comparison
from mlops_actions.steps.compare_champion import ChampionComparison, HoldoutInfo

HOSTILE = "<img src=x onerror=alert(1)> @org/team #12 | [x](javascript:alert(1)) `code`"


def _comparison(
    *, slices: int = 2, champion: bool = True, hostile: str = "region", better: bool = True
) -> ChampionComparison:
    rows = (
        MetricRow("roc_auc", True, 0.80, 0.75 if champion else None, "primary", "≥ +0.002", better),
        MetricRow(
            "recall", True, 0.60, 0.62 if champion else None, "guardrail", "≤ 0.05 worse", True
        ),
        MetricRow("log_loss", False, 0.40, 0.45 if champion else None, "info"),
    )
    slice_rows = tuple(
        SliceRow(
            hostile,
            f"{hostile}-{i}",
            100 + i,
            "recall",
            True,
            0.6,
            0.5 if champion else None,
            "≤ 0.05 worse" if champion else "",
            (i % 7 != 3) if champion else None,
        )
        for i in range(slices)
    )
    return ChampionComparison(
        is_better=better,
        reason=f"challenger beats champion v3: {hostile}",
        task="classification",
        primary_metric="roc_auc",
        model_name=hostile,
        challenger=ModelRef(
            "models:/m-abc",
            "a" * 32,
            "1",
            tags={
                "mlops.git.commit": "b" * 40,
                "mlops.git.branch": hostile,
                "mlops.workflow.run_url": "https://github.com/o/r/actions/runs/1",
            },
        ),
        champion=ModelRef("models:/x/3", "c" * 32, "1", "3") if champion else None,
        rows=rows,
        slices=slice_rows,
        bootstrap=BootstrapInterval("roc_auc", 0.95, 1000, 0.01, 0.09, 0.05, 0.99, 0)
        if champion
        else None,
        holdout=HoldoutInfo("/data/holdout.csv", 1000, hostile, "sha256:0123", "1"),
        tracking_uri="http://mlflow.example:5000",
        verdict_recorded=True,
        seconds=1.5,
    )


def _table_rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("|")]


def test_report_has_the_comparison_table_verdict_bootstrap_and_lineage() -> None:
    text = render_comparison(_comparison(), repo_url="https://github.com/o/r")
    assert text.startswith("### ✅ compare-champion")
    assert "| metric | champion | challenger | delta | bound |  |" in text
    assert "| roc&#95;auc ↑ (primary) | 0.7500 | 0.8000 | +0.0500 | ≥ +0.002 | ✓ |" in text
    assert "95% interval of the roc&#95;auc improvement is [+0.0100, +0.0900]" in text
    assert f"[bbbbbbbbbbbb](https://github.com/o/r/commit/{'b' * 40})" in text
    assert f"(http://mlflow.example:5000/#/experiments/1/runs/{'a' * 32})" in text
    assert "[workflow run](https://github.com/o/r/actions/runs/1)" in text


def test_user_text_cannot_inject_html_mentions_links_or_columns() -> None:
    text = render_comparison(_comparison(hostile=HOSTILE))
    assert "<img" not in text and "@org" not in text and " #12" not in text
    assert "](javascript" not in text and "`code`" not in text
    # every row of each table has the same number of cells as its header
    tables = re.split(r"\n(?!\|)", text)
    for block in tables:
        lines = [ln for ln in block.splitlines() if ln.startswith("|")]
        if lines:
            assert len({ln.count("|") for ln in lines}) == 1, lines


def test_first_model_report_has_floors_and_no_chart() -> None:
    text = render_comparison(_comparison(champion=False))
    assert "first model" in text
    assert "| metric | challenger | floor |  |" in text
    assert "```mermaid" not in text
    assert "champion: none yet" in text


def test_chart_is_a_mermaid_bar_chart_of_relative_change() -> None:
    block = chart_block(_comparison().rows)
    assert block.startswith("\n```mermaid\nxychart-beta\n")
    assert 'x-axis ["roc_auc", "recall", "log_loss"]' in block
    # +6.667 % AUC, -3.226 % recall, log_loss down 11.1 % is better: +11.111
    assert "bar [6.667, -3.226, 11.111]" in block
    hostile = MetricRow('a"]\n%%{init}', True, 2.0, 1.0, "info")
    assert 'x-axis ["a______init_"]' in chart_block([hostile])


def test_long_reports_are_shortened_with_failures_kept_and_a_pointer() -> None:
    comparison = _comparison(slices=3000)
    full = render_comparison(comparison)
    assert len(full) > 65536
    short = render_comparison(comparison, max_chars=60_000, artifact="compare-report")
    assert len(short) <= 60_000
    assert "more slice row(s); the full report is the artifact compare-report" in short
    failing = sum(1 for s in comparison.slices if s.passed is False)
    shown = [ln for ln in _table_rows(short) if "= " in ln]
    assert failing < len(shown) < 3000
    assert all(ln.endswith("✗ |") for ln in shown[:failing])
    assert "```mermaid" in short and short.count("```") % 2 == 0


def test_link_only_links_http_urls_and_encodes_parentheses() -> None:
    assert link("run", "javascript:alert(1)") == "run"
    assert link("run", "https://x.test/a (b)") == "run"
    assert link("run", "https://x.test/a(b)") == "[run](https://x.test/a%28b%29)"
    assert link("<b>", "https://x.test/") == "[&lt;b&gt;](https://x.test/)"
