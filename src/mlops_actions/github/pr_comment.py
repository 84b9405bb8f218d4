"""Sticky pull-request comments and commit statuses through the GitHub REST API (PyGithub).

A step's report goes into one comment per pull request, found again by a hidden marker on its
first line and updated in place. Only a comment that starts with the marker *and* was written by
our identity is ours: `github-actions[bot]` for the workflow's `GITHUB_TOKEN`, or the login given
(`MLOPS_COMMENT_AUTHOR`) for another token. We never call `GET /user`, which `GITHUB_TOKEN` may not.
A human comment that quotes the marker is never edited. All pages of comments are read.

Everything comes from the runner's environment: `GITHUB_REPOSITORY`, `GITHUB_TOKEN`,
`GITHUB_API_URL`, `GITHUB_EVENT_NAME` and `GITHUB_EVENT_PATH` (the PR number), `GITHUB_SHA`.
GitHub errors become one actionable message: 401/403/404 an InputError naming the permission the
job needs, anything else a BackendError.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlops_actions.errors import BackendError, InputError, MlopsError

if TYPE_CHECKING:
    from github import Github
    from github.Repository import Repository

BOT_LOGIN = "github-actions[bot]"
AUTHOR_ENV = "MLOPS_COMMENT_AUTHOR"
MAX_COMMENT_CHARS = 65536
MAX_STATUS_DESCRIPTION = 140
DEFAULT_API_URL = "https://api.github.com"
StatusState = Literal["error", "failure", "pending", "success"]


@dataclass(frozen=True)
class GitHubEnv:
    """What the runner tells a step about the repository, the event and the credentials."""

    repository: str | None
    token: str | None
    api_url: str
    server_url: str
    event_name: str | None
    pr_number: int | None
    sha: str | None
    run_id: str | None

    @property
    def repo_url(self) -> str | None:
        if not self.repository:
            return None
        return f"{self.server_url.rstrip('/')}/{self.repository}"

    @property
    def run_url(self) -> str | None:
        if not (self.repo_url and self.run_id):
            return None
        return f"{self.repo_url}/actions/runs/{self.run_id}"

    @property
    def can_call_api(self) -> bool:
        return bool(self.repository and self.token)

    def server_link(self, url: str | None) -> str | None:
        """`url` when it may be rendered as a link (see `server_link`), else None."""
        return server_link(url, self.server_url)


def server_link(url: str | None, server_url: str) -> str | None:
    """`url` when it points at the GitHub server of the run, else None (show it as text).

    A `mlops.workflow.run_url` tag is written by whatever code trained the model, pull
    requests' code included: only `https://<GITHUB_SERVER_URL host>/…` (no userinfo, no other
    port or scheme) becomes a link in a comment; anything else is escaped text.
    """
    from urllib.parse import urlsplit

    if not url or any(c.isspace() for c in url):
        return None
    try:
        link, server = urlsplit(url), urlsplit(server_url or "https://github.com")
    except ValueError:
        return None
    same = (
        link.scheme == server.scheme
        and link.scheme in ("https", "http")
        and link.netloc.lower() == server.netloc.lower()
        and "@" not in link.netloc
    )
    return url if same and link.path.startswith("/") else None


def github_env(environ: Mapping[str, str] | None = None) -> GitHubEnv:
    """Read the GitHub Actions environment (`os.environ` unless given)."""
    env = os.environ if environ is None else environ
    event_name = env.get("GITHUB_EVENT_NAME") or None
    event = _event(env.get("GITHUB_EVENT_PATH"))
    number = pull_request_number(event_name, event)
    sha = env.get("GITHUB_SHA") or None
    head = event.get("pull_request", {}) if isinstance(event.get("pull_request"), dict) else {}
    head_sha = head.get("head", {}).get("sha") if isinstance(head.get("head"), dict) else None
    if number is not None and isinstance(head_sha, str) and head_sha:
        sha = head_sha  # on pull_request, GITHUB_SHA is the merge commit; statuses go on the head
    return GitHubEnv(
        repository=env.get("GITHUB_REPOSITORY") or None,
        token=env.get("GITHUB_TOKEN") or None,
        api_url=(env.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/"),
        server_url=env.get("GITHUB_SERVER_URL") or "https://github.com",
        event_name=event_name,
        pr_number=number,
        sha=sha,
        run_id=env.get("GITHUB_RUN_ID") or None,
    )


def _event(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def pull_request_number(event_name: str | None, event: Mapping[str, Any]) -> int | None:
    """The PR number of a `pull_request` event payload (`number`, else `pull_request.number`)."""
    if event_name != "pull_request":
        return None
    number = event.get("number")
    if not isinstance(number, int):
        pr = event.get("pull_request")
        number = pr.get("number") if isinstance(pr, dict) else None
    return number if isinstance(number, int) and number > 0 else None


def github_client(env: GitHubEnv) -> Github:
    """A PyGithub client for `env` (lazy objects; short retries on 5xx and rate limits)."""
    from github import Auth, Github, GithubRetry

    if not env.token:
        raise InputError(
            "GITHUB_TOKEN is not set;",
            hint="pass it to the step: `env: GITHUB_TOKEN: ${{ github.token }}`.",
        )
    return Github(
        base_url=env.api_url,
        auth=Auth.Token(env.token),
        lazy=True,
        timeout=30,
        retry=GithubRetry(total=3, backoff_factor=0.5, max_rate_limit_wait=60),
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def repository(client: Github, full_name: str) -> Repository:
    """A repository handle; lazy (no request until used) with `github_client`'s client."""
    return client.get_repo(full_name)


def repo_name(repo: Repository) -> str:
    """`owner/name` of a repository handle without a request (lazy handles know their URL)."""
    url = str(getattr(repo, "url", "") or "")
    if "/repos/" in url:
        return url.split("/repos/", 1)[1].strip("/")
    return str(repo.full_name)


@dataclass(frozen=True)
class StickyComment:
    """The comment that holds a step's report on a pull request."""

    id: int
    url: str
    created: bool


def upsert_sticky_comment(
    repo: Repository,
    pr_number: int,
    marker: str,
    body: str,
    *,
    authors: Collection[str] | None = None,
) -> StickyComment:
    """Create or update our comment that starts with `marker` on pull request `pr_number`.

    Ours = first line is `marker` and the author is one of `authors` (default: `github-actions[bot]`
    and `$MLOPS_COMMENT_AUTHOR`). The oldest such comment is edited in place; a body over
    65,536 characters is cut with a pointer. Raises InputError (with the permission the job
    needs) on 401/403/404, BackendError otherwise.
    """
    if not marker.startswith("<!--") or not marker.endswith("-->"):
        raise ValueError("marker must be an HTML comment, e.g. <!-- my-step -->")
    text = body if body.startswith(marker) else f"{marker}\n{body}"
    if len(text) > MAX_COMMENT_CHARS:
        note = "\n\n… shortened to fit a GitHub comment; see the job summary for the full report.\n"
        text = _cut_inert(text, MAX_COMMENT_CHARS - len(note)) + note
    owners = set(authors) if authors is not None else comment_authors()
    where = f"pull request #{pr_number} of {repo_name(repo)}"
    try:
        issue = repo.get_issue(pr_number)
        for comment in issue.get_comments():
            first_line = (comment.body or "").split("\n", 1)[0].strip()
            login = comment.user.login if comment.user is not None else None
            if first_line == marker and login in owners:
                comment.edit(text)
                return StickyComment(comment.id, comment.html_url, created=False)
        made = issue.create_comment(text)
        return StickyComment(made.id, made.html_url, created=True)
    except Exception as exc:  # noqa: BLE001 - translated below
        raise github_error(exc, f"comment on {where}", "pull-requests: write") from None


def _cut_inert(text: str, limit: int) -> str:
    """`text` cut to `limit` characters without leaving a code block or an entity half open."""
    head = text[:limit]
    amp = head.rfind("&")
    if amp >= 0 and len(head) - amp <= 10 and ";" not in head[amp:]:
        head = head[:amp]  # `&#6` alone would render as text that was never escaped
    if head.count("```") % 2:
        head = head[: head.rfind("```")]
    return head


def comment_authors() -> set[str]:
    """Logins whose marked comments are ours."""
    extra = os.environ.get(AUTHOR_ENV, "").strip()
    return {BOT_LOGIN, extra} if extra else {BOT_LOGIN}


def set_commit_status(
    repo: Repository,
    sha: str,
    state: StatusState,
    description: str,
    *,
    context: str,
    target_url: str | None = None,
) -> None:
    """Set the commit status `context` on `sha` (description cut to GitHub's 140 characters)."""
    text = " ".join(description.split())
    if len(text) > MAX_STATUS_DESCRIPTION:
        text = text[: MAX_STATUS_DESCRIPTION - 1] + "…"
    kwargs: dict[str, str] = {"description": text, "context": context}
    if target_url:
        kwargs["target_url"] = target_url
    try:
        repo.get_commit(sha).create_status(state, **kwargs)
    except Exception as exc:  # noqa: BLE001 - translated below
        raise github_error(
            exc,
            f"set status {context} on commit {sha[:12]} of {repo_name(repo)}",
            "statuses: write",
        ) from None


def github_error(exc: BaseException, action: str, permission: str) -> MlopsError:
    """A GitHub API failure as one actionable error."""
    from github import GithubException

    if isinstance(exc, MlopsError):
        return exc
    if not isinstance(exc, GithubException):
        detail = " ".join(str(exc).split())[:200]
        return BackendError(
            f"GitHub API unreachable while trying to {action}: {type(exc).__name__}: {detail};",
            hint="check GITHUB_API_URL and the runner's network, then re-run the job.",
        )
    status = exc.status
    data = exc.data if isinstance(exc.data, dict) else {}
    message = str(data.get("message") or exc.message or "").strip() or "no message"
    if status == 401:
        return InputError(
            f"GitHub rejected the token while trying to {action} (401 {message});",
            hint="pass a valid token: `env: GITHUB_TOKEN: ${{ github.token }}`.",
        )
    if status == 403:
        return InputError(
            f"GitHub refused to {action} (403 {message});",
            hint=f"the job needs `permissions: {permission}` (pull requests from forks get a "
            "read-only token: skip this there).",
        )
    if status == 404:
        return InputError(
            f"GitHub could not find what is needed to {action} (404 {message});",
            hint="check GITHUB_REPOSITORY and the pull request; on a private repository a token "
            f"without `{permission}` also gets 404.",
        )
    errors = data.get("errors")
    extra = f" {json.dumps(errors)[:300]}" if errors else ""
    return BackendError(
        f"GitHub failed to {action} ({status} {message}{extra});",
        hint="see https://www.githubstatus.com and re-run the job.",
    )
