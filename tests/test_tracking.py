"""The retraining trigger against FakeGitHub: dispatch, one tracking issue per model, closing.

The fake answers `GET /user` with 403 like the real GITHUB_TOKEN, and every test checks it was
never asked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops_actions.github.tracking import TRACKING_LABEL, dispatch_ref, tracking_marker
from tests.fakes.github_api import FakeGitHub
from tests.test_drift_report import frames
from tests.test_performance_report import concept_drift

REPO = "octo/ml"
RUN_URL = "https://github.com/octo/ml/actions/runs/4242"


@pytest.fixture
def gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, github_job: Any) -> Iterator[FakeGitHub]:
    with FakeGitHub(repos=[REPO], forbid_get_user=True) as fake:
        fake.add_workflow(REPO, "ml-pipeline.yml", inputs=["reason", "report-url"])
        for key, value in {
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_TOKEN": "t0k",
            "GITHUB_API_URL": fake.base_url,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "4242",
            "GITHUB_REF_NAME": "main",
        }.items():
            monkeypatch.setenv(key, value)
        monkeypatch.chdir(tmp_path)
        (tmp_path / "mlops.yaml").write_text(
            "model: {name: credit}\ndata: {target: label}\nevaluate: {primary_metric: roc_auc}\n"
            "monitor: {retrain_workflow: ml-pipeline.yml}\n",
            encoding="utf-8",
        )
        frames(1500).to_csv(tmp_path / "ref.csv", index=False)
        drifted = frames(800, shift=0.8, seed=2)
        drifted["<img src=x> @team"] = "boom"  # a hostile column name, new in current
        drifted.to_csv(tmp_path / "drifted.csv", index=False)
        frames(800, seed=3).to_csv(tmp_path / "clean.csv", index=False)
        yield fake
        assert not fake.find_requests("GET", r"^/user$"), "GET /user is refused to GITHUB_TOKEN"


def drift(mlops: Any, current: str, *extra: str) -> Any:
    return mlops(
        "drift-report", "--no-html", "--reference", "ref.csv", "--current", current,
        "--on-drift", "dispatch", "--json", *extra,
    )  # fmt: skip


def open_issues(gh: FakeGitHub) -> list[Any]:
    return [i for i in gh.repo(REPO).issues.values() if i.state == "open" and not i.is_pull]


def test_drift_dispatches_and_keeps_one_issue_until_a_clean_report(
    gh: FakeGitHub, mlops: Any
) -> None:
    first = drift(mlops, "drifted.csv")
    assert first.code == 0, first.err
    outputs = json.loads(first.out)
    assert outputs["drift-detected"] is True and outputs["retrain-dispatched"] is True
    (dispatch,) = gh.dispatches
    assert (dispatch.workflow_file, dispatch.ref) == ("ml-pipeline.yml", "main")
    assert dispatch.inputs["report-url"] == RUN_URL
    assert dispatch.inputs["reason"].startswith("drift detected:")
    (issue,) = open_issues(gh)
    assert outputs["tracking-issue"].endswith(f"/issues/{issue.number}")
    assert issue.body.splitlines()[0] == tracking_marker("credit")
    assert issue.labels == [TRACKING_LABEL] and "data drift" in issue.title
    assert "<img" not in issue.body and "@team" not in issue.body
    assert "&lt;img src=x&gt; &#64;\u200bteam" in issue.body and RUN_URL in issue.body

    second = drift(mlops, "drifted.csv")
    assert second.code == 0, second.err
    assert len(gh.dispatches) == 2
    assert open_issues(gh) == [issue] and len(gh.repo(REPO).issues) == 1

    clean = drift(mlops, "clean.csv")
    assert clean.code == 0, clean.err
    outputs = json.loads(clean.out)
    assert outputs["drift-detected"] is False and outputs["retrain-dispatched"] is False
    assert len(gh.dispatches) == 2
    assert issue.state == "closed" and issue.state_reason == "completed"
    (comment,) = gh.comments(REPO, issue.number)
    assert comment.body.startswith("✅ All clear") and RUN_URL in comment.body

    again = drift(mlops, "clean.csv")
    assert json.loads(again.out)["tracking-issue"] == ""
    assert len(gh.repo(REPO).issues) == 1

    relapse = drift(mlops, "drifted.csv")
    assert relapse.code == 0
    assert len(open_issues(gh)) == 1 and len(gh.repo(REPO).issues) == 2  # a new episode


def test_drift_and_performance_share_the_issue(gh: FakeGitHub, mlops: Any, tmp_path: Path) -> None:
    log, labels, _ = concept_drift(tmp_path, weeks=2, change_week=1, per_week=250)

    def performance(baseline: float) -> Any:
        return mlops(
            "performance-report", "--predictions", str(log), "--labels", str(labels),
            "--baseline-metrics", json.dumps({"roc_auc": baseline}), "--on-degradation", "issue",
            "--json",
        )  # fmt: skip

    assert drift(mlops, "drifted.csv").code == 0
    degraded = performance(0.9)
    assert degraded.code == 0, degraded.err
    assert json.loads(degraded.out)["degraded"] is True
    assert json.loads(degraded.out)["retrain-dispatched"] is False  # only the issue
    (issue,) = open_issues(gh)
    assert issue.title == "Model credit: data drift and performance degraded"
    assert "mlops-actions:section drift" in issue.body
    assert "mlops-actions:section performance" in issue.body

    assert drift(mlops, "clean.csv").code == 0
    assert issue.state == "open" and issue.title == "Model credit: performance degraded"
    assert "✅ Data drift" in issue.body and "🔴 Performance degraded" in issue.body

    fine = performance(0.2)
    assert fine.code == 0 and json.loads(fine.out)["degraded"] is False
    assert issue.state == "closed"
    assert len(gh.dispatches) == 1  # from the first drift report only


def test_a_workflow_without_the_report_url_input_gets_it_in_the_reason(
    gh: FakeGitHub, mlops: Any
) -> None:
    gh.add_workflow(REPO, "train.yml", inputs=["reason"])
    result = drift(mlops, "drifted.csv", "--retrain-workflow", ".github/workflows/train.yml")
    assert result.code == 0, result.err
    (dispatch,) = gh.dispatches
    assert dispatch.workflow_file == "train.yml" and set(dispatch.inputs) == {"reason"}
    assert dispatch.inputs["reason"].endswith(f"({RUN_URL})")
    rejected = gh.find_requests("POST", r"/dispatches$")
    assert [r.status for r in rejected] == [422, 204]


def test_an_issue_quoting_the_marker_by_someone_else_is_never_edited(
    gh: FakeGitHub, mlops: Any
) -> None:
    human = gh.add_issue(
        REPO, "copy", f"{tracking_marker('credit')}\nmine", user="alice", labels=[TRACKING_LABEL]
    )
    assert drift(mlops, "drifted.csv").code == 0
    assert human.body == f"{tracking_marker('credit')}\nmine" and human.state == "open"
    assert len(open_issues(gh)) == 2


def test_github_errors_name_the_permission(gh: FakeGitHub, mlops: Any) -> None:
    gh.fail_always("POST", r"/dispatches$", 403)
    result = drift(mlops, "drifted.csv")
    assert result.code == 2
    assert "actions: write" in json.loads(result.out)["error"]
    gh.faults.clear()
    gh.fail_always("POST", r"/issues$", 403)
    result = drift(mlops, "drifted.csv")
    assert result.code == 2 and "issues: write" in json.loads(result.out)["error"]


def test_missing_workflow_is_exit_2(gh: FakeGitHub, mlops: Any) -> None:
    result = drift(mlops, "drifted.csv", "--retrain-workflow", "nope.yml")
    assert result.code == 2
    assert "could not find" in json.loads(result.out)["error"]


def test_outside_github_the_trigger_only_says_so(
    gh: FakeGitHub, mlops: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("GITHUB_ACTIONS", "GITHUB_REPOSITORY", "GITHUB_TOKEN"):
        monkeypatch.delenv(key)
    result = drift(mlops, "drifted.csv", "--report-dir", "r")
    assert result.code == 0, result.err
    assert json.loads(result.out)["retrain-dispatched"] is False
    assert (
        "Retraining trigger skipped: not on GitHub Actions" in Path("r/drift-report.md").read_text()
    )
    assert not gh.requests


def test_on_github_without_a_token_is_exit_2(
    gh: FakeGitHub, mlops: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    result = drift(mlops, "drifted.csv")
    assert result.code == 2 and "GITHUB_TOKEN is not set" in json.loads(result.out)["error"]


def test_the_dispatch_ref(gh: FakeGitHub) -> None:
    from github import Auth, Github

    gh.add_repo("octo/trunk", default_branch="trunk")
    client = Github(
        base_url=gh.base_url,
        auth=Auth.Token("t"),
        lazy=True,
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    repo = client.get_repo("octo/trunk")
    assert dispatch_ref(repo, {"GITHUB_REF_NAME": "release/2"}) == "release/2"
    assert dispatch_ref(repo, {"GITHUB_REF_NAME": "17/merge"}) == "trunk"
    assert dispatch_ref(repo, {}) == "trunk"


def test_clean_report_without_an_issue_touches_nothing(gh: FakeGitHub, mlops: Any) -> None:
    result = drift(mlops, "clean.csv")
    assert result.code == 0 and json.loads(result.out)["tracking-issue"] == ""
    assert not gh.find_requests("POST") and not gh.find_requests("PATCH")
    assert pd.read_csv("clean.csv").shape[0] == 800
