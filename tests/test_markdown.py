"""User-controlled text in reports stays inert."""

from __future__ import annotations

from mlops_actions.reports.markdown import escape, table


def test_escape_neutralises_markdown_html_mentions_and_links() -> None:
    hostile = "<img src=x onerror=alert(1)> @org/team #12 [click](http://x) `code` | *b* _i_ ~s~"
    out = escape(hostile, max_len=None)
    for dangerous in ("<", ">", "@org", " #12", "[click]", "`", "|", "*b*", "_i_", "~s~"):
        assert dangerous not in out
    assert "&lt;img" in out and "&#64;\u200borg" in out  # GitHub decodes entities before mentions


def test_escape_folds_lines_and_shortens() -> None:
    assert escape("a\nb\r\nc") == "a b c"
    assert escape("x" * 300, max_len=10) == "x" * 9 + "…"


def test_table_escapes_cells_not_headers() -> None:
    md = table(["column", "value"], [("a|b", "1"), ("@x", 2)])
    lines = md.splitlines()
    assert lines[0] == "| column | value |"
    assert lines[2] == "| a&#124;b | 1 |"
    assert len(lines) == 4


def test_summary_templates_close_gaps_but_keep_code_blocks() -> None:
    from mlops_actions.reports.templates import render

    text = render("pipeline", model="m", steps="a\n\n\n", facts="```\nx\n\n\ny  \n```\n")
    assert text == "### Pipeline for model m\n\na\n\n```\nx\n\n\ny  \n```\n"
