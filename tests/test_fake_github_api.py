"""The GitHub REST fake, driven by real PyGithub the way the project's GitHub glue will use it."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from github import Auth, BadCredentialsException, Github, GithubException, UnknownObjectException

from tests.fakes.github_api import BOT_LOGIN, FORBIDDEN_BY_INTEGRATION, FakeGitHub

REPO = "octo-org/models"
SHA = "3f" * 20

ClientFactory = Callable[..., Github]


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    with FakeGitHub(repos=[REPO]) as fake:
        yield fake


@pytest.fixture
def client(gh: FakeGitHub) -> Iterator[ClientFactory]:
    made: list[Github] = []

    def make(token: str = "t", per_page: int = 30) -> Github:  # noqa: S107 - a fake token
        g = Github(
            base_url=gh.base_url,
            auth=Auth.Token(token),
            per_page=per_page,
            lazy=True,
            retry=None,
            timeout=10,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )
        made.append(g)
        return g

    yield make
    for g in made:
        g.close()


def _raw_get(url: str) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(url, headers={"Authorization": "token t"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as err:
        with err:
            return err.code, dict(err.headers), json.loads(err.read())


# ----------------------------------------------------------------------------- lifecycle


def test_serves_on_loopback_and_closes_on_exit() -> None:
    with FakeGitHub() as fake:
        assert fake.base_url == f"http://127.0.0.1:{fake.port}/api/v3"
        port = fake.port
        status, _, body = _raw_get(f"{fake.base_url}/user")
        assert status == 200
        assert body == {**body, "login": BOT_LOGIN, "type": "Bot", "id": 41898282}
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=1),
    ):
        pass
    with pytest.raises(RuntimeError, match="not running"):
        _ = fake.base_url


def test_get_user_login_is_configurable(gh: FakeGitHub, client: ClientFactory) -> None:
    assert client().get_user().login == BOT_LOGIN
    gh.user_login = "mlops-bot"
    assert client().get_user().login == "mlops-bot"


def test_get_user_can_be_forbidden_like_github_token() -> None:
    with FakeGitHub(forbid_get_user=True) as fake:
        g = Github(base_url=fake.base_url, auth=Auth.Token("t"), lazy=True, retry=None)
        try:
            with pytest.raises(GithubException) as caught:
                _ = g.get_user().login
        finally:
            g.close()
    assert caught.value.status == 403
    assert caught.value.data["message"] == FORBIDDEN_BY_INTEGRATION


def test_unknown_route_and_repo_are_404(gh: FakeGitHub, client: ClientFactory) -> None:
    with pytest.raises(UnknownObjectException) as caught:
        _ = client().get_repo("nobody/nothing").default_branch
    assert caught.value.status == 404
    status, _, body = _raw_get(f"{gh.base_url}/repos/{REPO}/no-such-thing")
    assert status == 404
    assert isinstance(body, dict)
    assert body["message"] == "Not Found"


def test_repository_json_points_back_at_the_server(gh: FakeGitHub, client: ClientFactory) -> None:
    repo = client().get_repo(REPO)
    assert repo.full_name == REPO
    assert repo.default_branch == "main"
    assert repo.url == f"{gh.base_url}/repos/{REPO}"


# ----------------------------------------------------------------------------- comments


def test_comments_paginate_across_pages(gh: FakeGitHub, client: ClientFactory) -> None:
    gh.add_pull(REPO, "Train model", head_sha=SHA)
    pr = client(per_page=3).get_repo(REPO).get_pull(1)
    for i in range(8):
        pr.create_issue_comment(f"comment {i}")

    comments = list(pr.get_issue_comments())

    assert [c.body for c in comments] == [f"comment {i}" for i in range(8)]
    assert {c.user.login for c in comments} == {BOT_LOGIN}
    pages = [r.query.get("page", "1") for r in gh.find_requests("GET", r"/issues/1/comments$")]
    assert pages == ["1", "2", "3"]
    assert pr.get_issue_comments().totalCount == 8
    assert [c.body for c in gh.comments(REPO, 1)] == [f"comment {i}" for i in range(8)]


def test_link_header_has_next_and_last(gh: FakeGitHub) -> None:
    gh.add_issue(REPO, "Tracking")
    for i in range(7):
        gh.add_comment(REPO, 1, f"c{i}")
    url = f"{gh.base_url}/repos/{REPO}/issues/1/comments?per_page=3"

    _, headers, first = _raw_get(url)
    _, last_headers, last = _raw_get(url + "&page=3")

    assert isinstance(first, list)
    assert len(first) == 3
    assert headers["Link"] == (
        f'<{gh.base_url}/repos/{REPO}/issues/1/comments?per_page=3&page=2>; rel="next", '
        f'<{gh.base_url}/repos/{REPO}/issues/1/comments?per_page=3&page=3>; rel="last"'
    )
    assert isinstance(last, list)
    assert [c["body"] for c in last] == ["c6"]
    assert 'rel="prev"' in last_headers["Link"]
    assert 'rel="next"' not in last_headers["Link"]


def test_edit_own_comment_leaves_human_comment_alone(gh: FakeGitHub, client: ClientFactory) -> None:
    gh.add_pull(REPO, "Train model", head_sha=SHA)
    human = gh.add_comment(REPO, 1, "<!-- mlops-report --> looks like ours", user="alice")
    ours = gh.add_comment(REPO, 1, "<!-- mlops-report --> v1")
    created = ours.updated_at

    pr = client().get_repo(REPO).get_pull(1)
    mine = [
        c
        for c in pr.get_issue_comments()
        if c.user.login == BOT_LOGIN and c.body.startswith("<!-- mlops-report -->")
    ]
    assert [c.id for c in mine] == [ours.id]
    mine[0].edit("<!-- mlops-report --> v2")

    assert mine[0].body == "<!-- mlops-report --> v2"
    assert ours.body == "<!-- mlops-report --> v2"
    assert ours.updated_at > created
    assert human.body == "<!-- mlops-report --> looks like ours"
    assert human.user == "alice"
    patches = gh.find_requests("PATCH")
    assert [r.path for r in patches] == [f"/repos/{REPO}/issues/comments/{ours.id}"]
    assert patches[0].json == {"body": "<!-- mlops-report --> v2"}


def test_delete_comment(gh: FakeGitHub, client: ClientFactory) -> None:
    issue = gh.add_issue(REPO, "Tracking")
    first = gh.add_comment(REPO, issue.number, "one")
    gh.add_comment(REPO, issue.number, "two")
    comment = client().get_repo(REPO).get_issue(issue.number).get_comment(first.id)

    comment.delete()

    assert [c.body for c in gh.comments(REPO, issue.number)] == ["two"]
    assert gh.requests[-1].status == 204
    with pytest.raises(UnknownObjectException):
        comment.delete()


def test_comment_body_limit_is_422(gh: FakeGitHub, client: ClientFactory) -> None:
    gh.add_issue(REPO, "Tracking")
    issue = client().get_repo(REPO).get_issue(1)
    with pytest.raises(GithubException) as caught:
        issue.create_comment("x" * 65537)
    assert caught.value.status == 422
    assert issue.create_comment("x" * 65536).body == "x" * 65536


# ----------------------------------------------------------------------------- statuses


def test_commit_statuses(gh: FakeGitHub, client: ClientFactory) -> None:
    commit = client().get_repo(REPO).get_commit(SHA)
    commit.create_status("pending", context="mlops/validate", description="running")
    made = commit.create_status(
        "success",
        target_url="https://example.test/run/1",
        description="all checks passed",
        context="mlops/validate",
    )
    commit.create_status("failure", context="mlops/drift", description="drift detected")

    assert made.state == "success"
    assert made.creator.login == BOT_LOGIN
    assert [(s.context, s.state) for s in commit.get_statuses()] == [
        ("mlops/drift", "failure"),
        ("mlops/validate", "success"),
        ("mlops/validate", "pending"),
    ]
    combined = commit.get_combined_status()
    assert combined.state == "failure"
    assert combined.total_count == 2
    stored = gh.statuses(REPO, SHA)
    assert [s.state for s in stored] == ["pending", "success", "failure"]
    assert stored[1].target_url == "https://example.test/run/1"
    assert gh.find_requests("POST")[0].path == f"/repos/{REPO}/statuses/{SHA}"


def test_status_validation(client: ClientFactory) -> None:
    commit = client().get_repo(REPO).get_commit(SHA)
    with pytest.raises(GithubException) as bad_state:
        commit.create_status("passed")
    with pytest.raises(GithubException) as long_description:
        commit.create_status("success", description="d" * 141)
    assert bad_state.value.status == 422
    assert long_description.value.status == 422


# ----------------------------------------------------------------------------- workflows


def test_workflow_dispatch_is_recorded(gh: FakeGitHub, client: ClientFactory) -> None:
    workflow = gh.add_workflow(REPO, "deploy.yml", name="Deploy", inputs={"model", "stage"})
    gh.add_workflow(REPO, "train.yml")
    repo = client().get_repo(REPO)

    found = repo.get_workflow("deploy.yml")
    ok = found.create_dispatch("main", {"model": "churn", "stage": "production"}, throw=True)

    assert ok is True
    assert found.id == workflow.id
    assert found.name == "Deploy"
    assert [w.path for w in repo.get_workflows()] == [
        ".github/workflows/deploy.yml",
        ".github/workflows/train.yml",
    ]
    [dispatch] = gh.dispatches
    assert (dispatch.workflow_file, dispatch.ref, dispatch.inputs) == (
        "deploy.yml",
        "main",
        {"model": "churn", "stage": "production"},
    )
    assert gh.repo(REPO).dispatches == [dispatch]
    post = gh.find_requests("POST", r"/dispatches$")[0]
    assert post.path == f"/repos/{REPO}/actions/workflows/deploy.yml/dispatches"
    assert post.status == 204


def test_workflow_dispatch_errors(gh: FakeGitHub, client: ClientFactory) -> None:
    gh.add_workflow(REPO, "deploy.yml", inputs={"model"})
    repo = client().get_repo(REPO)

    with pytest.raises(GithubException) as unexpected:
        repo.get_workflow("deploy.yml").create_dispatch("main", {"typo": "x"}, throw=True)
    with pytest.raises(UnknownObjectException):
        repo.get_workflow("missing.yml").create_dispatch("main", throw=True)

    assert unexpected.value.status == 422
    assert "Unexpected inputs provided" in unexpected.value.data["message"]
    assert gh.dispatches == []


# ----------------------------------------------------------------------------- issues


def test_issue_create_update_close(gh: FakeGitHub, client: ClientFactory) -> None:
    repo = client().get_repo(REPO)

    issue = repo.create_issue("Drift detected: churn", body="details", labels=["drift"])
    assert (issue.number, issue.state, [lab.name for lab in issue.labels]) == (
        1,
        "open",
        ["drift"],
    )
    assert issue.user.login == BOT_LOGIN

    issue.edit(title="Drift detected: churn (2 runs)", body="more", labels=["drift", "mlops"])
    issue.create_comment("run 2")
    issue.edit(state="closed")

    stored = gh.issue(REPO, 1)
    assert (stored.title, stored.body, stored.state, stored.state_reason) == (
        "Drift detected: churn (2 runs)",
        "more",
        "closed",
        "completed",
    )
    assert stored.labels == ["drift", "mlops"]
    assert stored.closed_at is not None
    assert issue.state == "closed"
    assert [i.number for i in repo.get_issues(state="open")] == []
    assert [i.number for i in repo.get_issues(state="closed", labels=["drift"])] == [1]
    assert repo.get_issue(1).comments == 1

    issue.edit(state="open")
    assert gh.issue(REPO, 1).state_reason == "reopened"


def test_issue_list_filters_and_pages(gh: FakeGitHub, client: ClientFactory) -> None:
    for i in range(7):
        gh.add_issue(REPO, f"issue {i}", labels=["drift"] if i % 2 == 0 else ["other"])
    gh.add_pull(REPO, "a pull request", labels=["drift"])
    gh.add_issue(REPO, "closed drift", labels=["drift"], state="closed")
    repo = client(per_page=2).get_repo(REPO)

    drift = list(repo.get_issues(state="open", labels=["drift"]))

    assert [i.title for i in drift] == [
        "a pull request",
        "issue 6",
        "issue 4",
        "issue 2",
        "issue 0",
    ]
    assert drift[0].pull_request is not None
    assert drift[1].pull_request is None
    assert len(gh.find_requests("GET", rf"^/repos/{REPO}/issues$")) == 3
    assert len(list(repo.get_issues(state="all"))) == 9
    assert [i.title for i in repo.get_issues(state="open", direction="asc")][:2] == [
        "issue 0",
        "issue 1",
    ]


def test_issue_labels_endpoints(gh: FakeGitHub, client: ClientFactory) -> None:
    gh.add_issue(REPO, "Tracking", labels=["mlops"])
    issue = client().get_repo(REPO).get_issue(1)

    issue.add_to_labels("drift", "urgent")
    issue.remove_from_labels("urgent")
    assert gh.issue(REPO, 1).labels == ["mlops", "drift"]
    issue.set_labels("only")
    assert gh.issue(REPO, 1).labels == ["only"]
    with pytest.raises(GithubException) as absent:
        issue.remove_from_labels("absent")
    assert absent.value.status == 404
    assert {label.name for label in client().get_repo(REPO).get_labels()} == {
        "drift",
        "mlops",
        "only",
        "urgent",
    }


def test_pull_request_shape(gh: FakeGitHub, client: ClientFactory) -> None:
    gh.add_pull(REPO, "Train", head_sha=SHA, head_ref="feat/train")
    gh.add_issue(REPO, "not a PR")
    repo = client().get_repo(REPO)

    pr = repo.get_pull(1)
    assert (pr.head.sha, pr.head.ref, pr.base.ref) == (SHA, "feat/train", "main")
    assert pr.html_url == f"https://github.com/{REPO}/pull/1"
    assert repo.get_issue(1).pull_request is not None
    with pytest.raises(UnknownObjectException):
        _ = repo.get_pull(2).title


def test_search_issues(gh: FakeGitHub, client: ClientFactory) -> None:
    gh.add_issue(REPO, "Drift detected: churn", labels=["drift"])
    gh.add_issue(REPO, "Drift detected: fraud", labels=["drift"], state="closed")
    gh.add_issue(REPO, "Something else")

    found = client().search_issues("churn", repo=REPO, state="open", type="issue", label="drift")

    assert [i.title for i in found] == ["Drift detected: churn"]
    assert found.totalCount == 1


# ----------------------------------------------------------------------------- faults and auth


def test_fail_next_403_then_recovers(gh: FakeGitHub, client: ClientFactory) -> None:
    gh.add_pull(REPO, "Train", head_sha=SHA)
    fault = gh.fail_next("POST", r"/issues/\d+/comments$", 403)
    issue = client().get_repo(REPO).get_issue(1)

    with pytest.raises(GithubException) as caught:
        issue.create_comment("report")

    assert caught.value.status == 403
    assert caught.value.data["message"] == "Resource not accessible by integration"
    assert "documentation_url" in caught.value.data
    assert gh.comments(REPO, 1) == []
    assert fault.hits == 1
    assert issue.create_comment("report").body == "report"


def test_fail_next_404_and_422_and_always(gh: FakeGitHub, client: ClientFactory) -> None:
    gh.add_issue(REPO, "Tracking")
    repo = client().get_repo(REPO)
    gh.fail_next("GET", r"/issues/1$", 404)
    gh.fail_next("PATCH", r"/issues/1$", 422, "Validation Failed")
    gh.fail_always("*", r"/statuses/", 500)

    with pytest.raises(UnknownObjectException) as not_found:
        _ = repo.get_issue(1).title
    issue = repo.get_issue(1)
    assert issue.title == "Tracking"
    with pytest.raises(GithubException) as invalid:
        issue.edit(title="new")
    for _ in range(2):
        with pytest.raises(GithubException) as server_error:
            repo.get_commit(SHA).create_status("success")

    assert not_found.value.status == 404
    assert invalid.value.status == 422
    assert server_error.value.status == 500
    assert gh.issue(REPO, 1).title == "Tracking"
    assert gh.statuses(REPO, SHA) == []


def test_allowed_tokens(gh: FakeGitHub, client: ClientFactory) -> None:
    gh.allowed_tokens = {"good"}
    gh.token_logins = {"good": "deploy-app[bot]"}

    with pytest.raises(BadCredentialsException) as caught:
        _ = client("bad").get_user().login
    assert caught.value.status == 401
    assert client("good").get_user().login == "deploy-app[bot]"


def test_requests_are_recorded(gh: FakeGitHub, client: ClientFactory) -> None:
    gh.add_issue(REPO, "Tracking")
    issue = client("secret-token").get_repo(REPO).get_issue(1)
    assert issue.title == "Tracking"  # lazy objects fetch on first attribute access
    issue.create_comment("hello")

    [get, post] = gh.requests
    assert (get.method, get.path, get.status) == ("GET", f"/repos/{REPO}/issues/1", 200)
    assert (str(post), post.json, post.status) == (
        f"POST /repos/{REPO}/issues/1/comments",
        {"body": "hello"},
        201,
    )
    assert post.headers["authorization"] == "token secret-token"
    gh.clear_requests()
    assert gh.requests == []
