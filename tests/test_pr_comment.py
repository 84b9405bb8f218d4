"""Sticky PR comments and commit statuses: real PyGithub against the GitHub REST fake."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from github import Github

from mlops_actions.errors import BackendError, InputError
from mlops_actions.github.pr_comment import (
    MAX_COMMENT_CHARS,
    github_client,
    github_env,
    repository,
    set_commit_status,
    upsert_sticky_comment,
)
from tests.fakes.github_api import BOT_LOGIN, FakeGitHub

REPO = "octo-org/models"
MARKER = "<!-- mlops-actions:test-step -->"
SHA = "3f" * 20


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    with FakeGitHub(repos=[REPO], forbid_get_user=True) as fake:
        yield fake


@pytest.fixture
def client(gh: FakeGitHub) -> Iterator[Github]:
    env = github_env(
        {"GITHUB_REPOSITORY": REPO, "GITHUB_TOKEN": "t", "GITHUB_API_URL": gh.base_url}
    )
    made = github_client(env)
    yield made
    made.close()


def _event(tmp_path: Path, payload: dict[str, object]) -> str:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    return str(path)


def test_environment_gives_pr_number_head_sha_and_api_url(tmp_path: Path) -> None:
    base = {"GITHUB_REPOSITORY": REPO, "GITHUB_SHA": "merge", "GITHUB_RUN_ID": "9"}
    top = github_env(
        {
            **base,
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": _event(tmp_path, {"number": 5, "pull_request": {"head": {}}}),
            "GITHUB_API_URL": "http://127.0.0.1:1/api/v3/",
        }
    )
    assert (top.pr_number, top.sha, top.api_url) == (5, "merge", "http://127.0.0.1:1/api/v3")
    nested = github_env(
        {
            **base,
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": _event(
                tmp_path, {"pull_request": {"number": 8, "head": {"sha": "head"}}}
            ),
        }
    )
    assert (nested.pr_number, nested.sha) == (8, "head")
    assert nested.run_url == f"https://github.com/{REPO}/actions/runs/9"
    push = github_env(
        {**base, "GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": _event(tmp_path, {"number": 3})}
    )
    assert push.pr_number is None and push.api_url == "https://api.github.com"
    assert github_env({}).can_call_api is False


def test_creates_then_updates_one_comment_in_place(gh: FakeGitHub, client: Github) -> None:
    pr = gh.add_pull(REPO, "Train", head_sha=SHA)
    repo = repository(client, REPO)

    made = upsert_sticky_comment(repo, pr.number, MARKER, "first report")
    again = upsert_sticky_comment(repo, pr.number, MARKER, "second report")

    [comment] = gh.comments(REPO, pr.number)
    assert made.created and not again.created and made.id == again.id == comment.id
    assert comment.body == f"{MARKER}\nsecond report"
    assert comment.user == BOT_LOGIN
    assert gh.find_requests("GET", r"^/user$") == []  # GITHUB_TOKEN cannot read /user


def test_finds_our_comment_on_a_later_page_and_never_edits_a_human_quote(
    gh: FakeGitHub, client: Github
) -> None:
    pr = gh.add_pull(REPO, "Train", head_sha=SHA)
    for i in range(40):
        gh.add_comment(REPO, pr.number, f"review {i}", user="alice")
    human = gh.add_comment(REPO, pr.number, f"{MARKER}\nquoting the bot", user="alice")
    not_first_line = gh.add_comment(REPO, pr.number, f"see\n{MARKER}")
    for i in range(30):
        gh.add_comment(REPO, pr.number, f"more {i}", user="bob")
    ours = gh.add_comment(REPO, pr.number, f"{MARKER}\nold report")

    result = upsert_sticky_comment(repository(client, REPO), pr.number, MARKER, "new report")

    assert result.id == ours.id and not result.created
    assert ours.body == f"{MARKER}\nnew report"
    assert human.body == f"{MARKER}\nquoting the bot" and not_first_line.body == f"see\n{MARKER}"
    pages = [r.query.get("page", "1") for r in gh.find_requests("GET", r"/comments$")]
    assert pages == ["1", "2", "3"]
    assert [r.path for r in gh.find_requests("PATCH")] == [
        f"/repos/{REPO}/issues/comments/{ours.id}"
    ]


def test_a_configured_login_owns_the_comment(
    gh: FakeGitHub, client: Github, monkeypatch: pytest.MonkeyPatch
) -> None:
    gh.user_login = "mlops-bot"  # a PAT or app token that comments as its own user
    pr = gh.add_pull(REPO, "Train", head_sha=SHA)
    theirs = gh.add_comment(REPO, pr.number, f"{MARKER}\nv1")
    repo = repository(client, REPO)

    assert upsert_sticky_comment(repo, pr.number, MARKER, "v2").created  # not ours by default
    monkeypatch.setenv("MLOPS_COMMENT_AUTHOR", "mlops-bot")
    updated = upsert_sticky_comment(repo, pr.number, MARKER, "v3")
    assert updated.id == theirs.id and theirs.body == f"{MARKER}\nv3"


def test_an_oversized_body_is_cut_under_the_limit(gh: FakeGitHub, client: Github) -> None:
    pr = gh.add_pull(REPO, "Train", head_sha=SHA)
    upsert_sticky_comment(repository(client, REPO), pr.number, MARKER, "x" * 100_000)
    [comment] = gh.comments(REPO, pr.number)
    assert len(comment.body) <= MAX_COMMENT_CHARS
    assert comment.body.endswith("see the job summary for the full report.\n")


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (403, InputError, "the job needs `permissions: pull-requests: write`"),
        (404, InputError, "check GITHUB_REPOSITORY and the pull request"),
        (401, InputError, "pass a valid token"),
        (422, BackendError, "422 Validation Failed"),
    ],
)
def test_api_errors_become_actionable_messages(
    gh: FakeGitHub, client: Github, status: int, error: type[Exception], message: str
) -> None:
    pr = gh.add_pull(REPO, "Train", head_sha=SHA)
    gh.fail_next("POST", r"/issues/\d+/comments$", status)
    with pytest.raises(error) as caught:
        upsert_sticky_comment(repository(client, REPO), pr.number, MARKER, "report")
    assert message in str(caught.value)
    assert f"pull request #{pr.number} of {REPO}" in str(caught.value)
    assert gh.comments(REPO, pr.number) == []


def test_unknown_pull_request_is_a_404_input_error(client: Github) -> None:
    with pytest.raises(InputError, match="404"):
        upsert_sticky_comment(repository(client, REPO), 99, MARKER, "report")


def test_commit_status_is_set_and_its_description_cut(gh: FakeGitHub, client: Github) -> None:
    repo = repository(client, REPO)
    set_commit_status(
        repo,
        SHA,
        "failure",
        "challenger is not better: " + "guardrail " * 30,
        context="mlops/compare-champion",
        target_url="https://github.com/o/r/actions/runs/1",
    )
    [status] = gh.statuses(REPO, SHA)
    assert (status.state, status.context) == ("failure", "mlops/compare-champion")
    assert status.description is not None and len(status.description) == 140
    assert status.target_url == "https://github.com/o/r/actions/runs/1"
    gh.fail_next("POST", r"/statuses/", 403)
    with pytest.raises(InputError, match="statuses: write"):
        set_commit_status(repo, SHA, "success", "ok", context="mlops/compare-champion")


def test_missing_token_is_an_input_error() -> None:
    with pytest.raises(InputError, match="GITHUB_TOKEN is not set"):
        github_client(github_env({"GITHUB_REPOSITORY": REPO}))


def test_marker_must_be_a_hidden_html_comment(gh: FakeGitHub, client: Github) -> None:
    with pytest.raises(ValueError, match="HTML comment"):
        upsert_sticky_comment(repository(client, REPO), 1, "mlops", "report")
