"""A hostile-input corpus through every report we write: nothing from data becomes live markup.

Each payload goes where users' data and configs go (column names, category values, model names,
slice values, messages, reasons) in every renderer: the drift report (Evidently HTML and
Markdown, from the real step), validate-data (HTML and Markdown), the comparison report, the
performance report, the PR comment, the tracking issue, the job summary and `error.md`.
HTML is parsed back: no element, attribute or script comes from the data, and the page carries
our Content-Security-Policy. Markdown is checked the way GitHub renders it: no raw HTML, no
table broken, and — after entities are decoded, which is when GitHub looks for them — no
mention, issue reference or autolink. One test opens the drift report in headless Chromium.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_actions.github.pr_comment import (
    MAX_COMMENT_CHARS,
    github_client,
    github_env,
    repository,
    upsert_sticky_comment,
)
from mlops_actions.github.runtime import fail
from mlops_actions.github.tracking import update_tracking_issue
from mlops_actions.reports import validate_data as validation_report
from mlops_actions.reports.comparison import MARKER, render_comparison
from mlops_actions.reports.markdown import escape
from mlops_actions.validation.engines import DatasetValidation, ExpectationOutcome
from tests.fakes.github_api import FakeGitHub
from tests.test_compare_report import _comparison
from tests.test_drift_report import write_log
from tests.test_performance_report import concept_drift

LONG = "A" * 100_000
RTL = "\u202ecod.exe\u202c \u2066isolate\u2069 \u202aembed\u202b"
CORPUS = (
    "<script>alert(1)</script>",
    "</script><script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "javascript:alert(1)",
    "[x](javascript:alert(1))",
    "|a|b|",
    "``tick`` `x`",
    "@octocat",
    "![img](http://x.test/p.png)",
    "www.evil.test",
    "a\nb",
    LONG,
    RTL,
    "<!--",
    "mail me@evil.test #12 http://evil.test/x",
)
SHORT = tuple(p for p in CORPUS if p is not LONG)
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
OUR_LINKS = ("https://github.com/o/r/", "http://mlflow.example:5000/#/")
OUR_MARKUP = re.compile(r"<sub>|</sub>|<!-- mlops-actions:.*? -->")
FENCED = re.compile(r"^```mermaid\n.*?^```$", re.MULTILINE | re.DOTALL)


# ------------------------------------------------------------------ checks


def _visible(text: str) -> str:
    """What a reader sees: entities decoded, zero-width spaces gone, whitespace folded."""
    return " ".join(html.unescape(text).replace("\u200b", "").split())


def _shown(payload: str) -> str:
    """How a payload reads once escaped: one line, direction controls shown as U+FFFD."""
    return BIDI.sub("\ufffd", " ".join(payload.split()))


def assert_inert_markdown(md: str, payloads: tuple[str, ...] = CORPUS) -> None:
    """No payload is live in `md` (and each short one still reads as itself)."""
    for comment in re.findall(r"<!-- mlops-actions:(.*?) -->", md):  # hidden, and stays so
        assert "--" not in comment and ">" not in comment
    for chart in FENCED.findall(md):  # a code block: its labels are plain names
        assert re.fullmatch(r'[\w ."\n,:%()+=\[\]<>-]*', chart.split("\n", 1)[1][:-3]), chart
    md = FENCED.sub("", md)
    rest = OUR_MARKUP.sub("", md)
    assert "<" not in rest, "raw HTML from data"
    assert "![" not in rest, "a raw image"
    for target in re.findall(r"\]\(([^)]*)\)", rest):  # links are ours: to the run, to MLflow
        assert target.startswith(OUR_LINKS), f"a raw link to {target}"
    assert not BIDI.search(rest), "a direction override survived"
    decoded = html.unescape(rest)  # GitHub finds mentions, references and autolinks after this
    assert not re.search(r"(?<![\w`])@[A-Za-z0-9]", decoded), "a live @mention"
    assert not re.search(r"[\w.+-]@[A-Za-z0-9-]+\.[A-Za-z]", decoded), "a live e-mail link"
    assert not re.search(r"(?<![\w&])#\d", decoded), "a live issue reference"
    assert not re.search(r"(?i)\bwww\.", decoded), "a live www autolink"
    # cmark-gfm autolinks a URL at a literal `:` of the source: `http&#58;//` stays text
    our_links = "|".join(map(re.escape, OUR_LINKS))
    ours = re.sub(rf"\]\((?:{our_links})[^)]*\)", "]", rest)
    assert not re.search(r"(?i)\b(?:https?|ftp|mailto|javascript):", ours), "a live URL"
    for block in re.split(r"\n(?!\|)", md):  # each table keeps its columns
        rows = [line for line in block.splitlines() if line.startswith("|")]
        if rows:
            assert {r.count("|") for r in rows} == {rows[0].count("|")}, "a broken table"
    for payload in payloads:
        assert payload not in rest or payload == _shown(payload) == escape(payload)
        if payload is not LONG and "<!--" not in payload:
            assert _shown(payload) in _visible(md), f"{payload!r} should read as itself"
    assert len(md) < len(LONG), "user text is capped"


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.text: list[str] = []
        self._in_script: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = []

    def handle_data(self, data: str) -> None:
        (self._in_script if self._in_script is not None else self.text).append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._in_script is not None:
            self.scripts.append("".join(self._in_script))
            self._in_script = None


def assert_inert_html(page: str, *, scripts: int) -> _Page:
    """Nothing live came from data; the CSP allows exactly the page's own inline scripts."""
    parsed = _Page()
    parsed.feed(page)
    parsed.close()
    names = [tag for tag, _ in parsed.tags]
    for tag in ("img", "svg", "iframe", "object", "embed", "base", "form", "link", "a"):
        assert tag not in names, f"<{tag}> from data"
    for tag, attrs in parsed.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), f"<{tag} {name}=…> from data"
            assert not (value or "").strip().lower().startswith("javascript:")
    [policy] = [
        a.get("content") or ""
        for t, a in parsed.tags
        if t == "meta" and (a.get("http-equiv") or "").lower() == "content-security-policy"
    ]
    assert names.index("meta") < names.index("style") if "style" in names else True
    rules = {}
    for rule in filter(None, (r.strip() for r in policy.split(";"))):
        name, _, value = rule.partition(" ")
        rules[name] = value
    assert rules["default-src"] == "'none'" and rules["img-src"] == "data:"
    assert "'unsafe-inline'" not in rules["script-src"] and "http" not in policy
    assert "connect-src" not in rules
    assert len(parsed.scripts) == scripts
    allowed = set(rules["script-src"].split())
    for text in parsed.scripts:  # every script that runs is one we hashed
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in allowed
    if not scripts:
        assert rules["script-src"] == "'none'"
    return parsed


# ------------------------------------------------------------------ drift report (real step)


@pytest.fixture(scope="module")
def drift_reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlops_actions.cli import main

    folder = tmp_path_factory.mktemp("drift")
    rng = np.random.default_rng(7)
    rows = 150
    numeric = [p for p in CORPUS if p is not LONG] + [LONG[:5000]]
    ref = pd.DataFrame({name: rng.normal(0, 1, rows) for name in numeric})
    cur = pd.DataFrame({name: rng.normal(0.8, 1, rows) for name in numeric})
    ref["category"] = rng.choice(SHORT, rows)
    cur["category"] = rng.choice(SHORT[:3], rows)  # drifts: the hostile values are charted
    ref.to_csv(folder / "ref.csv", index=False)
    cur.to_csv(folder / "cur.csv", index=False)
    out = folder / "reports"
    code = main(
        ["drift-report", "--reference", str(folder / "ref.csv"), "--current",
         str(folder / "cur.csv"), "--report-dir", str(out), "--report-sample", "150"]
    )  # fmt: skip
    assert code in (0, 1)
    return out


def test_drift_html_embeds_hostile_columns_and_categories_as_inert_data(
    drift_reports: Path,
) -> None:
    page = (drift_reports / "drift-report.html").read_text(encoding="utf-8")
    parsed = assert_inert_html(page, scripts=4)
    [data] = [s for s in parsed.scripts if "var metric_" in s and "drawDashboard" not in s]
    assert "<" not in data and ">" not in data  # JSON with \u003c escapes: nothing to close
    first = re.search(r"var metric_\w+ = (.*);\n", data)
    assert first is not None
    shown = json.dumps(json.loads(first.group(1)))
    for payload in SHORT:  # the names and values are all there, as data
        assert json.dumps(payload)[1:-1] in shown
    graphs = data.split("var additional_graphs_", 1)[1]
    assert (
        json.dumps("</script><script>alert(1)</script>")[1:-1]
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        in graphs
    )  # the category value, in the charts' data
    for script in parsed.scripts:
        assert "</script" not in script.lower() and "<!--" not in script


def test_drift_markdown_is_inert(drift_reports: Path) -> None:
    assert_inert_markdown((drift_reports / "drift-report.md").read_text(encoding="utf-8"))


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


NO_CHROMIUM = "chromium is not installed (apt-get install -y chromium)"


# `make test` installs Chromium; in CI a missing browser is a failure, not a skip.
@pytest.mark.skipif(_chromium() is None and not os.environ.get("CI"), reason=NO_CHROMIUM)
def test_drift_html_in_chromium_runs_no_injected_script(tmp_path: Path) -> None:
    """A column and a category value that would mark the page if they ran; the report renders."""
    from mlops_actions.cli import main

    mark = "<script>document.documentElement.setAttribute(/data-pwned/.source,1)</script>"
    close = "</script><script>document.documentElement.setAttribute(/data-pwned/.source,2)</script>"
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({mark: rng.normal(0, 1, 120), "c": rng.choice([close, "ok"], 120)})
    cur = pd.DataFrame({mark: rng.normal(1, 1, 120), "c": rng.choice([close, "ok"], 120)})
    ref.to_csv(tmp_path / "ref.csv", index=False)
    cur.to_csv(tmp_path / "cur.csv", index=False)
    args = ["--reference", str(tmp_path / "ref.csv"), "--current", str(tmp_path / "cur.csv")]
    assert main(["drift-report", *args, "--report-dir", str(tmp_path / "r")]) in (0, 1)
    page = tmp_path / "r" / "drift-report.html"
    chromium = _chromium()
    assert chromium is not None
    run = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
         "--v=0", "--virtual-time-budget=8000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    dom = run.stdout
    assert "Dataset Drift" in dom, run.stderr[-2000:]  # Evidently's scripts ran: it rendered
    assert "/data-pwned/.source" in dom  # the payloads are on the page, as text,
    assert not re.search(r"<[^>]*\sdata-pwned=", dom)  # and the data's scripts did not run
    assert "Content Security Policy" not in run.stderr
    assert "Content-Security-Policy" not in run.stderr


# ------------------------------------------------------------------ validate-data


def _validation(payload: str) -> list[DatasetValidation]:
    outcomes = (
        ExpectationOutcome(
            0, "expect_column_values_to_be_in_set", {"column": payload, "value_set": [payload]},
            (payload,), False, f"observed {payload}", 12.5, 3, (payload, payload[:10]),
        ),
        ExpectationOutcome(1, "expect_column_to_exist", {"column": payload}, (payload,), True, ""),
        ExpectationOutcome(
            2, "expect_table_row_count_to_be_between", {}, (), False, "", error=payload
        ),
    )  # fmt: skip
    return [DatasetValidation(payload, f"data/{payload}.csv", payload, 10, outcomes, 1.0)]


@pytest.mark.parametrize("payload", CORPUS, ids=range(len(CORPUS)))
def test_validate_data_html_and_markdown_are_inert(payload: str) -> None:
    datasets = _validation(payload)
    common: dict[str, Any] = {"suite_name": payload, "min_ratio": 1.0, "engine": payload}
    page = validation_report.html_page(datasets, suite_path=payload, **common)
    parsed = assert_inert_html(page, scripts=0)
    if payload is not LONG:
        assert _shown(payload) in " ".join(" ".join(parsed.text).split())
    md = validation_report.markdown(datasets, html_file=payload, **common)
    assert_inert_markdown(md, (payload,))


# ------------------------------------------------------------------ comparison, PR comment


@pytest.mark.parametrize("payload", CORPUS, ids=range(len(CORPUS)))
def test_comparison_report_is_inert(payload: str) -> None:
    comparison = _comparison(hostile=payload)
    metric = dataclasses.replace(comparison.rows[2], metric=payload[:300])
    comparison = dataclasses.replace(comparison, rows=(*comparison.rows[:2], metric))
    md = render_comparison(comparison, max_chars=60_000)
    assert_inert_markdown(md.replace(MARKER, ""), (payload,))


@pytest.fixture
def fake_repo() -> Iterator[tuple[FakeGitHub, Any]]:
    with FakeGitHub(repos=["octo/ml"], forbid_get_user=True) as fake:
        env = github_env(
            {"GITHUB_REPOSITORY": "octo/ml", "GITHUB_TOKEN": "t", "GITHUB_API_URL": fake.base_url}
        )
        client = github_client(env)
        yield fake, repository(client, "octo/ml")
        client.close()


def test_pr_comment_body_is_inert_and_cut_without_opening_anything(
    fake_repo: tuple[FakeGitHub, Any],
) -> None:
    fake, repo = fake_repo
    pr = fake.add_pull("octo/ml", "Train", head_sha="a" * 40)
    bodies = [render_comparison(_comparison(hostile=p, slices=3)) for p in SHORT]
    body = "\n".join(bodies)
    upsert_sticky_comment(repo, pr.number, MARKER, body)
    [comment] = fake.comments("octo/ml", pr.number)
    assert_inert_markdown(comment.body.replace(MARKER, ""), SHORT)
    huge = render_comparison(_comparison(hostile=SHORT[0], slices=3000))  # over 65,536 chars
    upsert_sticky_comment(repo, pr.number, MARKER, huge)
    [comment] = fake.comments("octo/ml", pr.number)
    assert len(comment.body) <= MAX_COMMENT_CHARS and "shortened" in comment.body
    assert comment.body.count("```") % 2 == 0
    assert not re.search(r"&#?\w*$", comment.body.split("\n\n… shortened")[0])


def test_tracking_issue_body_is_inert(
    fake_repo: tuple[FakeGitHub, Any], drift_reports: Path
) -> None:
    fake, repo = fake_repo
    section = (drift_reports / "drift-report.md").read_text(encoding="utf-8")
    for i, payload in enumerate(SHORT):
        update_tracking_issue(
            repo, f"model {i} {payload}", "drift", problem=True, reason=payload,
            section=section, run_url=None,
        )  # fmt: skip
    for number in range(1, len(SHORT) + 1):
        issue = fake.issue("octo/ml", number)
        assert_inert_markdown(issue.body, ())
        assert not BIDI.search(issue.title) and len(issue.title) < 200  # plain text, one line


# ------------------------------------------------------------------ performance report


@pytest.mark.parametrize("payload", SHORT, ids=range(len(SHORT)))
def test_performance_report_is_inert(
    payload: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every payload as the deployment and the model version of the prediction log."""
    from mlops_actions.cli import main

    _, labels, _ = concept_drift(tmp_path, weeks=2, per_week=120)
    hostile = tmp_path / "hostile.jsonl"
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x1": rng.normal(0, 1, 240), "x2": rng.normal(0, 1, 240)})
    score = 1 / (1 + np.exp(-frame["x1"].to_numpy()))
    write_log(
        hostile, frame, outputs=(score >= 0.5).astype(int).tolist(), scores=score.tolist(),
        deployment=payload, model=("credit", payload),
        request_ids=[f"r{i:05d}" for i in range(240)],
    )  # fmt: skip
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.chdir(tmp_path)
    code = main(
        ["performance-report", "--predictions", str(hostile), "--labels", str(labels),
         "--task", "classification", "--metric", "roc_auc",
         "--baseline-metrics", '{"roc_auc": 0.8}']
    )  # fmt: skip
    assert code in (0, 1), summary.read_text(encoding="utf-8") if summary.exists() else ""
    assert_inert_markdown(summary.read_text(encoding="utf-8"), (payload,))


# ------------------------------------------------------------------ job summary and error.md


@pytest.mark.parametrize("payload", CORPUS, ids=range(len(CORPUS)))
def test_failure_summary_and_error_md_are_inert(
    payload: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    message = f"column {payload} is not in the data;\n- hint: {payload}\n1. {payload}\n=== x"
    assert fail(message, 2, title=f"drift-report: {payload}", report_dir=tmp_path / "r") == 2
    for md in (summary.read_text(encoding="utf-8"), (tmp_path / "r" / "error.md").read_text()):
        assert_inert_markdown(md, (payload,))
    error = (tmp_path / "r" / "error.md").read_text(encoding="utf-8")
    assert error.startswith("# drift-report&#58; ")
    body = error.split("\n", 2)[2]
    assert not re.search(r"(?m)^(?:[-+=]|\d+\.)", body)  # no line starts a list or a rule
