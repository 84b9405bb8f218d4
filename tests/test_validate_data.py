"""`mlops validate-data`: the GX gate on real data files, its reports, drafts and bad input."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops_actions.data import data_version
from tests.conftest import EXAMPLE, GithubJob, python_env
from tests.github_files import parse_commands

EXPECTED_OUTPUTS = {
    "success",
    "success-ratio",
    "failed-expectations",
    "data-version",
    "report-path",
}
HOSTILE = ["<script>alert(1)</script>", "a|b", "@team", "#12", "x_y*z", "[l](http://x)", "`c`"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example's clean data (2000 training rows), generated once for the module."""
    out = tmp_path_factory.mktemp("generated")
    subprocess.run(
        [sys.executable, str(EXAMPLE / "generate_data.py"), "--out", str(out), "--rows", "2000"],
        check=True,
        capture_output=True,
        env=python_env(),
    )
    return out


@pytest.fixture
def project(tmp_path: Path, generated: Path) -> Path:
    """A copy of the example repository with freshly generated clean data."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(EXAMPLE / "mlops.yaml", root / "mlops.yaml")
    shutil.copytree(EXAMPLE / "expectations", root / "expectations")
    shutil.copytree(generated, root / "data")
    return root


def corrupt(path: Path) -> None:
    """Negative ages, hostile purpose values and missing incomes: three expectations fail."""
    frame = pd.read_csv(path)
    frame.loc[:9, "age"] = -5
    frame.loc[10 : 10 + len(HOSTILE) - 1, "purpose"] = HOSTILE
    frame.loc[20:30, "income"] = None
    frame.to_csv(path, index=False)


def results(report_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (report_dir / "validate-data-result.json").read_text(encoding="utf-8")
    )
    return data


def verdicts(report_dir: Path) -> list[list[bool]]:
    """Per dataset, the success of each expectation in suite order."""
    return [[r["success"] for r in d["results"]] for d in results(report_dir)["datasets"]]


def one_line_error(run: Any) -> str:
    assert run.code == 2, (run.code, run.out, run.err)
    assert "Traceback" not in run.err + run.out
    assert run.err.count("\n") == 1, run.err
    text: str = run.err
    return text


# ---------------------------------------------------------------- the example, clean and broken


def test_example_suite_passes_on_clean_data(
    project: Path, mlops: Any, github_job: GithubJob
) -> None:
    run = mlops("validate-data", "--config", str(project / "mlops.yaml"))
    assert run.code == 0, run.err
    outputs = github_job.outputs()
    assert set(outputs) == EXPECTED_OUTPUTS
    assert outputs["success"] == "true"
    assert float(outputs["success-ratio"]) == 1.0
    assert outputs["failed-expectations"] == "0"
    train, holdout = (
        data_version(project / "data" / f"{n}.csv").text for n in ("train", "holdout")
    )
    assert outputs["data-version"] == f"train={train},holdout={holdout}"
    html = Path(outputs["report-path"])
    assert html == project / ".mlops" / "reports" / "validate-data.html" and html.is_file()
    summary = github_job.summary.read_text(encoding="utf-8")
    assert "✅ validate-data: passed" in summary
    suite = json.loads((project / "expectations" / "suite.json").read_text(encoding="utf-8"))
    report = results(project / ".mlops" / "reports")
    assert [d["name"] for d in report["datasets"]] == ["train", "holdout"]
    assert all(d["evaluated"] == len(suite["expectations"]) for d in report["datasets"])
    assert [d["rows"] for d in report["datasets"]] == [2000, 500]
    assert not [c for c in parse_commands(run.out) if c[0] == "error"]


def test_example_suite_is_a_gx_1x_suite_as_gx_writes_it() -> None:
    import great_expectations as gx

    raw = json.loads((EXAMPLE / "expectations" / "suite.json").read_text(encoding="utf-8"))
    suite = gx.ExpectationSuite(**raw)
    written = suite.to_json_dict()
    assert set(raw) == set(written)
    assert len(suite.expectations) == len(raw["expectations"]) >= 40
    assert [(e["type"], e["kwargs"]) for e in written["expectations"]] == [
        (e["type"], e["kwargs"]) for e in raw["expectations"]
    ]
    # Real bounds, not the draft's observed ranges: the drifted batch and any sample size fit.
    kinds = {e["type"] for e in raw["expectations"]}
    assert {"expect_column_values_to_be_unique", "expect_column_mean_to_be_between"} <= kinds


def test_broken_data_fails_with_escaped_table_annotations_and_html(
    project: Path, mlops: Any, github_job: GithubJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    corrupt(project / "data" / "holdout.csv")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(project))
    run = mlops("validate-data", "--config", str(project / "mlops.yaml"))
    assert run.code == 1
    outputs = github_job.outputs()
    suite_text = (project / "expectations" / "suite.json").read_text(encoding="utf-8")
    total = len(json.loads(suite_text)["expectations"])
    assert outputs["success"] == "false"
    assert outputs["failed-expectations"] == "3"
    assert float(outputs["success-ratio"]) == pytest.approx((total - 3) / total, abs=1e-6)
    assert verdicts(project / ".mlops" / "reports")[0] == [True] * total  # train is clean

    summary = github_job.summary.read_text(encoding="utf-8")
    assert "❌ validate-data: failed" in summary
    assert "below the minimum 1.0" in summary
    assert "<script" not in summary and "&lt;script&gt;alert(1)&lt;/script&gt;" in summary
    # Five of the seven values (GX's order); each escaped: no link, mention or issue reference.
    for shown in ("&#35;\u200b12", "&#64;\u200bteam", "&#91;l&#93;(http&#58;//x)", "&#96;c&#96;"):
        assert shown in summary
    purpose_row = next(
        line for line in summary.splitlines() if line.startswith("| holdout | purpose")
    )
    assert purpose_row.count(",") == 4  # five sample values of the seven unexpected ones
    assert "1.40 %" in purpose_row  # 7 of 500
    age_row = next(line for line in summary.splitlines() if line.startswith("| holdout | age"))
    assert "-5" in age_row and "10 of 500 values unexpected" in age_row

    errors = [
        c
        for c in parse_commands(run.out)
        if c[0] == "error" and c[1].get("title", "").startswith("validate-data:")
    ]
    assert {e[1]["title"] for e in errors} == {
        "validate-data: column age",
        "validate-data: column purpose",
        "validate-data: column income",
    }
    lines = suite_text.splitlines()
    for _, props, message in errors:
        assert props["file"] == "expectations/suite.json"
        column = props["title"].rsplit(" ", 1)[1]
        kind = message.split(" failed ")[1].split(":")[0]
        # The annotation points at the expectation's opening brace in the suite file.
        assert lines[int(props["line"]) - 1].strip() == "{"
        assert f'"type": "{kind}"' in lines[int(props["line"])]
        assert f'"column": "{column}"' in "\n".join(
            lines[int(props["line"]) : int(props["line"]) + 4]
        )

    html = (project / ".mlops" / "reports" / "validate-data.html").read_text(encoding="utf-8")
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "src=" not in html and "href=" not in html  # no external assets, no links
    assert html.count('<tr class="fail">') == 3


def test_min_success_ratio_lets_a_few_failures_through(project: Path, mlops: Any) -> None:
    corrupt(project / "data" / "holdout.csv")
    run = mlops(
        "validate-data",
        "--config",
        str(project / "mlops.yaml"),
        "--min-success-ratio",
        "0.9",
        "--json",
    )
    assert run.code == 0, run.err
    outputs = json.loads(run.out)
    assert outputs["success"] is True and outputs["failed-expectations"] == 3
    strict = mlops(
        "validate-data", "--config", str(project / "mlops.yaml"), "--min-success-ratio", "0.99"
    )
    assert strict.code == 1


def test_datasets_from_flag_and_data_rev_free_paths(project: Path, mlops: Any) -> None:
    corrupt(project / "data" / "holdout.csv")
    run = mlops(
        "validate-data", "--config", str(project / "mlops.yaml"), "--datasets", "train", "--json"
    )
    assert run.code == 0, run.err
    assert json.loads(run.out)["data-version"] == data_version(project / "data" / "train.csv").text


def test_a_column_the_data_lacks_is_a_failed_expectation(
    tmp_path: Path, mlops: Any, github_job: GithubJob
) -> None:
    hostile_column = "a|b <i>@x"
    pd.DataFrame({"x": [1, 2, 3]}).to_csv(tmp_path / "d.csv", index=False)
    suite = {
        "name": "s",
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x"}},
            {"type": "expect_column_values_to_be_in_type_list",
             "kwargs": {"column": hostile_column, "type_list": ["int64"]}},
            {"type": "expect_column_max_to_be_between",
             "kwargs": {"column": hostile_column, "max_value": 3}},
            {"type": "expect_column_to_exist", "kwargs": {"column": hostile_column}},
        ],
    }  # fmt: skip
    (tmp_path / "s.json").write_text(json.dumps(suite), encoding="utf-8")
    run = mlops(
        "validate-data", "--data", str(tmp_path / "d.csv"), "--suite", str(tmp_path / "s.json"),
        "--report-dir", str(tmp_path / "r"),
    )  # fmt: skip
    assert run.code == 1, run.err
    assert "Traceback" not in run.out + run.err
    assert github_job.outputs()["failed-expectations"] == "3"
    got = results(tmp_path / "r")["datasets"][0]["results"]
    assert [r["success"] for r in got] == [True, False, False, False]
    assert got[1]["error"] == got[2]["error"] == f"column {hostile_column!r} is not in the data"
    assert got[3]["observed"] == "column is missing"
    summary = github_job.summary.read_text(encoding="utf-8")
    assert "a&#124;b &lt;i&gt;&#64;\u200bx" in summary and "<i>" not in summary
    titles = [c[1]["title"] for c in parse_commands(run.out) if c[0] == "error"]
    assert titles.count(f"validate-data: column {hostile_column}") == 3
    # The files written for the workflow: Markdown (also in the job summary), JSON, HTML.
    assert {p.name for p in (tmp_path / "r").iterdir()} >= {
        "validate-data.md",
        "validate-data-result.json",
        "validate-data.html",
        "validate-data.json",
    }


# ---------------------------------------------------------------- drafting


def test_drafted_suite_passes_on_its_data_and_describes_it(tmp_path: Path, mlops: Any) -> None:
    rows = 300
    frame = pd.DataFrame(
        {
            "id": range(rows),
            "score": [0.5 + (i % 17) / 10 for i in range(rows)],
            "share": [(i % 10) / 10 for i in range(rows)],
            "maybe": [None if i % 10 == 0 else float(i) for i in range(rows)],
            "colour": [["red", "green", "blue"][i % 3] for i in range(rows)],
            "name": [f"n{i}" for i in range(rows)],
            "flag": [i % 2 == 0 for i in range(rows)],
        }
    )
    frame.to_parquet(tmp_path / "d.parquet")
    out = tmp_path / "suites" / "draft.json"
    run = mlops(
        "validate-data", "--data", str(tmp_path / "d.parquet"), "--draft-suite", str(out), "--json"
    )
    assert run.code == 0, run.err
    outputs = json.loads(run.out)
    raw = json.loads(out.read_text(encoding="utf-8"))
    assert outputs == {
        "suite-path": str(out),
        "expectations": len(raw["expectations"]),
        "rows": rows,
    }
    by = {(e["type"], e["kwargs"].get("column")): e["kwargs"] for e in raw["expectations"]}
    assert by[("expect_table_columns_to_match_set", None)]["column_set"] == list(frame.columns)
    band = by[("expect_table_row_count_to_be_between", None)]
    # one suite for train, holdout and batches of any size: only an empty table fails
    assert band["min_value"] == 1 and band.get("max_value") is None
    assert by[("expect_column_values_to_be_in_set", "colour")]["value_set"] == [
        "blue",
        "green",
        "red",
    ]
    assert ("expect_column_values_to_be_in_set", "name") not in by  # high cardinality
    assert by[("expect_column_values_to_not_be_null", "maybe")]["mostly"] <= 0.85
    assert "mostly" not in by[("expect_column_values_to_not_be_null", "score")]
    score = by[("expect_column_values_to_be_between", "score")]
    assert score["min_value"] < frame.score.min() and score["max_value"] > frame.score.max()
    share = by[("expect_column_values_to_be_between", "share")]
    assert (share["min_value"], share["max_value"]) == (0.0, 1.0)
    types = by[("expect_column_values_to_be_in_type_list", "maybe")]["type_list"]
    assert {"int64", "float64", "LongType", "DoubleType", "INTEGER", "REAL"} <= set(types)

    check = mlops("validate-data", "--data", str(tmp_path / "d.parquet"), "--suite", str(out),
                  "--report-dir", str(tmp_path / "r"), "--json")  # fmt: skip
    assert check.code == 0 and json.loads(check.out)["failed-expectations"] == 0
    # A holdout or a batch far smaller than the draft data passes too (here 13 % of it).
    frame.iloc[:40].to_parquet(tmp_path / "small.parquet")
    small = mlops("validate-data", "--data", str(tmp_path / "small.parquet"), "--suite", str(out),
                  "--report-dir", str(tmp_path / "r"), "--json")  # fmt: skip
    assert small.code == 0 and json.loads(small.out)["failed-expectations"] == 0, small.err
    # Out-of-range data fails the draft: the bounds are real checks, not placeholders.
    frame.loc[:5, "score"] = 1000.0  # 2 % of the rows: more than a range's 1 % of outliers
    frame.loc[1, "colour"] = "purple"
    frame.to_parquet(tmp_path / "d.parquet")
    worse = mlops("validate-data", "--data", str(tmp_path / "d.parquet"), "--suite", str(out),
                  "--report-dir", str(tmp_path / "r"), "--json")  # fmt: skip
    assert worse.code == 1 and json.loads(worse.out)["failed-expectations"] == 2

    again = mlops("validate-data", "--data", str(tmp_path / "d.parquet"), "--draft-suite", str(out))
    assert "already exists" in one_line_error(again) and "--force" in again.err


def test_widen_contains_the_data_on_round_numbers() -> None:
    import random

    from mlops_actions.validation.suite import widen

    rng = random.Random(3)
    for _ in range(500):
        low = rng.uniform(-1e4, 1e4) * rng.choice([1e-3, 1, 1e3])
        high = low + abs(rng.gauss(0, 1)) * rng.choice([1e-3, 1, 1e3, 0])
        integral = rng.random() < 0.3
        if integral:
            low, high = float(round(low)), float(round(high))
        lo, hi = widen(low, high, integral=integral)
        assert lo <= low and hi >= high, (low, high, lo, hi)
        if low >= 0:
            assert lo >= 0
        if integral:
            assert float(lo).is_integer() and float(hi).is_integer()
        assert len(repr(float(lo))) <= 24 and len(repr(float(hi))) <= 24
    assert widen(0.003, 0.85, integral=False) == (0.0, 1.0)
    assert widen(18, 85, integral=True) == (11, 92)


# ---------------------------------------------------------------- other sources


def test_parquet_folder_and_sql_table_give_the_pandas_verdicts(project: Path, mlops: Any) -> None:
    corrupt(project / "data" / "holdout.csv")
    holdout = pd.read_csv(project / "data" / "holdout.csv")
    folder = project / "parts"
    folder.mkdir()
    holdout.iloc[:200].to_parquet(folder / "part-0.parquet")
    holdout.iloc[200:].to_parquet(folder / "part-1.parquet")
    database = project / "credit.db"
    with sqlite3.connect(database) as con:
        holdout.to_sql("holdout", con, index=False)
    suite = str(project / "expectations" / "suite.json")
    runs = {
        "csv": ["--data", str(project / "data" / "holdout.csv")],
        "parquet": ["--data", str(folder)],
        "sql": ["--engine", "sql", "--sql-connection-string", f"sqlite:///{database}",
                "--sql-table", "holdout"],
    }  # fmt: skip
    found = {}
    for name, argv in runs.items():
        run = mlops(
            "validate-data", "--suite", suite, "--report-dir", str(project / name), *argv, "--json"
        )
        assert run.code == 1, (name, run.err)
        found[name] = verdicts(project / name)
        assert json.loads(run.out)["failed-expectations"] == 3
    assert found["csv"] == found["parquet"] == found["sql"]
    sql = results(project / "sql")["datasets"][0]
    assert sql["data_version"] == data_version(database).text
    assert sql["location"] == f"table holdout in sqlite:///{database}"


def test_sql_table_from_config(project: Path, mlops: Any) -> None:
    database = project / "credit.db"
    with sqlite3.connect(database) as con:
        pd.read_csv(project / "data" / "train.csv").to_sql("applications", con, index=False)
    config = project / "mlops.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "  min_success_ratio: 1.0\n",
            "  min_success_ratio: 1.0\n  engine: sql\n  sql:\n"
            "    connection_string: sqlite:///${DB_FILE}\n    table: applications\n",
        ),
        encoding="utf-8",
    )
    import os

    os.environ["DB_FILE"] = str(database)
    try:
        run = mlops("validate-data", "--config", str(config), "--json")
        assert run.code == 0, run.err
        assert json.loads(run.out)["data-version"] == data_version(database).text
        missing = mlops("validate-data", "--config", str(config), "--sql-table", "nope")
        assert "table 'nope' cannot be read" in one_line_error(missing)
        absent = mlops("validate-data", "--config", str(config),
                       "--sql-connection-string", f"sqlite:///{project / 'none.db'}")  # fmt: skip
        assert "sqlite database not found" in one_line_error(absent)
        assert not (project / "none.db").exists()
    finally:
        del os.environ["DB_FILE"]


# ---------------------------------------------------------------- bad input: exit 2, one line


def _suite_file(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "suite.json"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


GOOD_SUITE = json.dumps(
    {"name": "s", "expectations": [{"type": "expect_column_to_exist", "kwargs": {"column": "a"}}]}
)
LEGACY_SUITE = json.dumps(
    {
        "expectation_suite_name": "old",
        "data_asset_type": None,
        "expectations": [
            {"expectation_type": "expect_column_to_exist", "kwargs": {"column": "a"}, "meta": {}}
        ],
        "meta": {"great_expectations_version": "0.18.12"},
    }
)


@pytest.mark.parametrize(
    ("data", "suite", "fragment"),
    [
        pytest.param(None, GOOD_SUITE, "data not found", id="missing-file"),
        pytest.param(b"", GOOD_SUITE, "is empty", id="empty-file"),
        pytest.param(b"a;b;c\n1;2;3\n", GOOD_SUITE, "delimited by ';'", id="wrong-delimiter"),
        pytest.param(
            "a,city\n1,Zürich\n".encode("latin-1"), GOOD_SUITE, "not UTF-8", id="encoding"
        ),
        pytest.param("truncated", GOOD_SUITE, "truncated or corrupt", id="truncated-parquet"),
        pytest.param(b"a\n1\n", '{"name": "s", "expectations": [', "is not valid JSON", id="json"),
        pytest.param(b"a\n1\n", "[]", "not a GX 1.x ExpectationSuite", id="json-list"),
        pytest.param(b"a\n1\n", '{"expectations": []}', "no `name` key", id="no-name"),
        pytest.param(b"a\n1\n", LEGACY_SUITE, "Great Expectations 0.x suite", id="gx-0x"),
        pytest.param(
            b"a\n1\n",
            '{"name": "s", "expectations": [{"type": "expect_column_to_exits", '
            '"kwargs": {"column": "a"}}]}',
            "did you mean 'expect_column_to_exist'",
            id="unknown-expectation",
        ),
        pytest.param(
            b"a\n1\n",
            '{"name": "s", "expectations": [{"type": "expect_column_values_to_be_between", '
            '"kwargs": {"column": "a", "min_value": 0, "mostly": 3}}]}',
            "mostly: ensure this value is less than or equal to 1",
            id="invalid-kwargs",
        ),
        pytest.param(
            b"a\n1\n", '{"name": "s", "expectations": []}', "has no expectations", id="empty-suite"
        ),
        pytest.param(b"a\n1\n", None, "expectation suite not found", id="missing-suite"),
    ],
)
def test_bad_input_is_exit_2_with_one_actionable_line(
    tmp_path: Path,
    mlops: Any,
    monkeypatch: pytest.MonkeyPatch,
    data: bytes | str | None,
    suite: str | None,
    fragment: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "data.csv"
    if data == "truncated":
        path = tmp_path / "data.parquet"
        pd.DataFrame({"a": range(100)}).to_parquet(path)
        path.write_bytes(path.read_bytes()[:200])
    elif isinstance(data, bytes):
        path.write_bytes(data)
    suite_path = _suite_file(tmp_path, suite) if suite is not None else tmp_path / "none.json"
    run = mlops("validate-data", "--data", str(path), "--suite", str(suite_path))
    err = one_line_error(run)
    assert fragment in err
    if "0.x" in fragment:
        assert "rename `expectation_suite_name` to `name`" in err and "`type`" in err
    assert not (tmp_path / ".mlops" / "reports").exists()


def test_missing_settings_are_explained(
    tmp_path: Path, mlops: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.csv").write_text("a\n1\n", encoding="utf-8")
    no_suite = mlops("validate-data", "--data", "d.csv")
    assert "no expectation suite given" in one_line_error(no_suite)
    _suite_file(tmp_path, GOOD_SUITE)
    no_data = mlops("validate-data", "--suite", "suite.json")
    assert "nothing to validate" in one_line_error(no_data)
    sql_without_table = mlops("validate-data", "--suite", "suite.json", "--engine", "sql")
    assert "needs a connection string and a table" in one_line_error(sql_without_table)
    bad_ratio = mlops("validate-data", "--data", "d.csv", "--min-success-ratio", "1.5")
    assert bad_ratio.code == 2 and "--min-success-ratio" in bad_ratio.err
    assert "validation.min_success_ratio: input should be less than or equal to 1, got 1.5;" in (
        bad_ratio.err
    )
    ok = mlops("validate-data", "--data", "d.csv", "--suite", "suite.json", "--json")
    assert ok.code == 0, ok.err
    assert json.loads(ok.out)["report-path"] == str(
        tmp_path / ".mlops" / "reports" / "validate-data.html"
    )


# ---------------------------------------------------------------- DVC

# One interpreter builds the repository through DVC's Python API: the same git + DVC state as the
# `dvc` CLI (init, remote, add, commit, push), without paying DVC's start-up for every command.
_MAKE_DVC_REPO = """
import subprocess, sys
from pathlib import Path
import pandas as pd
from dvc.repo import Repo

root = Path(sys.argv[1])
(root / "data").mkdir(parents=True)
def git(*args):
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)
git("init", "-q", "-b", "main")
git("config", "user.email", "t@example.invalid")
git("config", "user.name", "t")
repo = Repo.init(str(root))
with repo.config.edit("local") as conf:  # .dvc/config.local: never committed
    conf["remote"]["store"] = {"url": str(root.parent / "remote")}
    conf["core"]["remote"] = "store"
frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [0.5, 1.5, None]})
frame.to_csv(root / "data" / "t.csv", index=False)
repo.add(str(root / "data" / "t.csv"))
git("add", "-A"); git("commit", "-qm", "v1"); git("tag", "v1")
frame.iloc[:1].to_csv(root / "data" / "t.csv", index=False)
repo.add(str(root / "data" / "t.csv"))
git("commit", "-qam", "v2")
repo.push(all_commits=True)
repo.close()
"""


def make_dvc_repo(tmp_path: Path) -> Path:
    """git + DVC repo, data/t.csv: 3 rows at tag v1, 1 at HEAD; remote only in config.local."""
    repo = tmp_path / "repo"
    subprocess.run(
        [sys.executable, "-c", _MAKE_DVC_REPO, str(repo)],
        check=True,
        capture_output=True,
        env=python_env(),
    )
    return repo


@pytest.mark.slow
def test_dvc_tracked_data_at_a_revision_and_its_failures(tmp_path: Path, mlops: Any) -> None:
    repo = make_dvc_repo(tmp_path)
    path = repo / "data" / "t.csv"
    drafted = tmp_path / "drafted.json"
    run = mlops(
        "validate-data", "--data", str(path), "--data-rev", "v1", "--draft-suite", str(drafted)
    )
    assert run.code == 0, run.err
    assert (
        json.loads(drafted.read_text(encoding="utf-8"))["expectations"][1]["meta"]["observed_rows"]
        == 3
    )  # drafted from v1 (three rows), not from the workspace (one row)

    # v1 has three rows, the workspace one.
    suite = _suite_file(
        tmp_path,
        json.dumps(
            {
                "name": "s",
                "expectations": [
                    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 2}}
                ],
            }
        ),
    )
    common = ("--data", str(path), "--suite", str(suite), "--report-dir", str(tmp_path / "r"))
    old = mlops("validate-data", *common, "--data-rev", "v1", "--json")
    assert old.code == 0, old.err
    version = data_version(path, rev="v1")
    assert json.loads(old.out)["data-version"] == version.text == f"dvc:v1:{version.md5}"
    now = mlops("validate-data", *common, "--json")
    assert now.code == 1
    assert json.loads(now.out)["data-version"] == data_version(path).text != version.text

    unknown = mlops("validate-data", *common, "--data-rev", "no-such-tag")
    assert "cannot find git revision 'no-such-tag'" in one_line_error(unknown)

    # Without the local cache, v1 comes from the remote; without a remote it cannot be read.
    shutil.rmtree(repo / ".dvc" / "cache")
    assert mlops("validate-data", *common, "--data-rev", "v1").code == 0
    shutil.rmtree(repo / ".dvc" / "cache", ignore_errors=True)
    (repo / ".dvc" / "config.local").unlink()
    lost = mlops("validate-data", *common, "--data-rev", "v1")
    assert "no DVC remote is configured" in one_line_error(lost)


def test_drafted_ranges_hold_for_holdouts_of_skewed_data() -> None:
    """Real data is skewed: a holdout exceeds the training maximum often, by a lot."""
    import numpy as np

    from mlops_actions.validation.suite import draft_suite

    rng = np.random.default_rng(7)
    outside, columns = 0, 0
    for _ in range(10):
        draw = {f"c{i}": rng.lognormal(3, 0.8, 570) for i in range(10)}
        draw["signed"] = rng.standard_t(5, 570)
        frame = pd.DataFrame(draw)
        train, holdout = frame.iloc[:400], frame.iloc[400:]
        suite = draft_suite(train, name="s", source="train").suite
        for e in suite["expectations"]:
            if e["type"] == "expect_column_values_to_be_between":
                k = e["kwargs"]
                values = holdout[k["column"]]
                out = int(((values < k["min_value"]) | (values > k["max_value"])).sum())
                assert out / len(values) <= 1 - k["mostly"], (k, out)
                outside, columns = outside + out, columns + 1
    # 110 columns × 170 rows: the training data's min/max alone would let ~90 values out
    assert columns == 110 and outside <= 3
