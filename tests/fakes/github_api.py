"""A local, in-memory fake of the GitHub REST API that real PyGithub can talk to.

``FakeGitHub`` serves ``http://127.0.0.1:PORT/api/v3`` from a ``ThreadingHTTPServer`` in a daemon
thread. Point PyGithub at ``gh.base_url``::

    with FakeGitHub() as gh:
        gh.add_pull("octo/demo", "Add model", head_sha="a" * 40)
        g = Github(base_url=gh.base_url, auth=Auth.Token("t"), lazy=True, retry=None,
                   seconds_between_requests=None, seconds_between_writes=None)
        g.get_repo("octo/demo").get_pull(1).create_issue_comment("hi")
        assert gh.comments("octo/demo", 1)[0].body == "hi"

Every response carries ``url`` fields that point back at the server (PyGithub builds later
requests from them) and list endpoints send GitHub's ``Link`` header (rel="first"/"prev"/
"next"/"last"); without it PyGithub would stop after the first page.

What the fake checks the way GitHub does: unknown repositories, issues, comments and workflows
are 404; missing ``title``/``body``/``state``/``ref`` are 422; comment and issue bodies longer than
65536 characters are 422; status descriptions longer than 140 characters are 422; a dispatch with
inputs the workflow does not declare is 422 (only when the workflow's ``inputs`` are seeded).
With ``forbid_get_user=True``, ``GET /user`` answers 403 "Resource not accessible by
integration", which is what the real ``GITHUB_TOKEN`` (an installation token) gets.

Paths given to ``fail_next`` and stored in ``gh.requests`` are relative to the API root
(``/repos/octo/demo/issues/1/comments``, without ``/api/v3`` and without the query string).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

__all__ = [
    "API_PREFIX",
    "BOT_LOGIN",
    "FORBIDDEN_BY_INTEGRATION",
    "Comment",
    "CommitStatus",
    "Dispatch",
    "FakeGitHub",
    "Fault",
    "Issue",
    "Label",
    "PullInfo",
    "RecordedRequest",
    "Repo",
    "Workflow",
]

API_PREFIX = "/api/v3"
BOT_LOGIN = "github-actions[bot]"
BOT_USER_ID = 41898282
FORBIDDEN_BY_INTEGRATION = "Resource not accessible by integration"
DOCS_URL = "https://docs.github.com/rest"
MAX_BODY_CHARS = 65536
MAX_STATUS_DESCRIPTION_CHARS = 140
STATUS_STATES = ("error", "failure", "pending", "success")
_DEFAULT_MESSAGES = {
    400: "Problems parsing JSON",
    401: "Bad credentials",
    403: FORBIDDEN_BY_INTEGRATION,
    404: "Not Found",
    409: "Conflict",
    422: "Validation Failed",
    500: "Server Error",
    502: "Server Error",
    503: "Service Unavailable",
}
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

JSONObject = dict[str, Any]


def _fmt(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime(_TIME_FORMAT)


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --------------------------------------------------------------------------------------- state


@dataclass
class Label:
    id: int
    name: str
    color: str = "ededed"
    description: str | None = None


@dataclass
class PullInfo:
    head_sha: str
    head_ref: str = "feature"
    base_ref: str = "main"
    base_sha: str = "0" * 40
    draft: bool = False
    merged: bool = False


@dataclass
class Issue:
    """An issue; a pull request is an issue whose ``pull`` is set (GitHub shares the numbers)."""

    repo: str
    number: int
    id: int
    title: str
    body: str | None
    user: str
    created_at: datetime
    updated_at: datetime
    state: str = "open"
    state_reason: str | None = None
    closed_at: datetime | None = None
    labels: list[str] = field(default_factory=list)
    pull: PullInfo | None = None

    @property
    def is_pull(self) -> bool:
        return self.pull is not None


@dataclass
class Comment:
    id: int
    repo: str
    issue_number: int
    body: str
    user: str
    created_at: datetime
    updated_at: datetime


@dataclass
class CommitStatus:
    id: int
    sha: str
    state: str
    context: str
    description: str | None
    target_url: str | None
    creator: str
    created_at: datetime
    updated_at: datetime


@dataclass
class Workflow:
    id: int
    name: str
    path: str
    state: str = "active"
    #: input names the workflow declares; ``None`` accepts any inputs.
    inputs: frozenset[str] | None = None
    #: ``False`` answers dispatches with GitHub's 422 "does not have 'workflow_dispatch' trigger".
    dispatchable: bool = True

    @property
    def file(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass
class Dispatch:
    repo: str
    workflow_id: int
    workflow_file: str
    ref: str
    inputs: dict[str, Any]
    run_id: int | None = None


@dataclass
class Repo:
    owner: str
    name: str
    id: int
    default_branch: str = "main"
    private: bool = False
    issues: dict[int, Issue] = field(default_factory=dict)
    #: issue comments of every issue and pull request of the repository, by comment id.
    comments: dict[int, Comment] = field(default_factory=dict)
    #: commit statuses by sha, oldest first.
    statuses: dict[str, list[CommitStatus]] = field(default_factory=dict)
    workflows: dict[int, Workflow] = field(default_factory=dict)
    dispatches: list[Dispatch] = field(default_factory=list)
    #: labels by lower-cased name (GitHub label names are case-insensitive).
    labels: dict[str, Label] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def comments_on(self, number: int) -> list[Comment]:
        return sorted(
            (c for c in self.comments.values() if c.issue_number == number), key=lambda c: c.id
        )

    def next_number(self) -> int:
        return max(self.issues, default=0) + 1


@dataclass
class RecordedRequest:
    method: str
    #: path relative to the API root, without the query string (``/repos/o/r/issues/1``).
    path: str
    #: query parameters (last value wins).
    query: dict[str, str]
    #: decoded JSON body, ``None`` when there was none.
    json: Any
    #: request headers with lower-cased names.
    headers: dict[str, str]
    #: status code the fake answered with.
    status: int = 0

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Fault:
    """An injected error: requests matching ``method`` and ``path_regex`` get ``status``."""

    method: str
    path_regex: str
    status: int
    message: str
    #: how many more requests to fail; ``None`` fails forever.
    times: int | None = 1
    body: JSONObject | None = None
    headers: dict[str, str] = field(default_factory=dict)
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.method != "*" and self.method.upper() != method:
            return False
        return re.search(self.path_regex, path) is not None


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str | None = None,
        *,
        errors: list[JSONObject] | None = None,
        documentation_url: str = DOCS_URL,
    ) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message or _DEFAULT_MESSAGES.get(status, "Error")
        self.errors = errors
        self.documentation_url = documentation_url

    def body(self) -> JSONObject:
        payload: JSONObject = {"message": self.message, "documentation_url": self.documentation_url}
        if self.errors is not None:
            payload["errors"] = self.errors
        payload["status"] = str(self.status)
        return payload


def _invalid(resource: str, field_name: str, code: str, message: str | None = None) -> ApiError:
    error: JSONObject = {"resource": resource, "code": code, "field": field_name}
    if message is not None:
        error["message"] = message
    return ApiError(422, "Validation Failed", errors=[error])


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    login: str


@dataclass
class _Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


_Handler = Callable[[_Request, re.Match[str]], _Response]
_REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"


# -------------------------------------------------------------------------------------- server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeGitHub


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeGitHub/1.0"
    timeout = 10
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # silence the default stderr log
        return

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, body, extra = self.server.fake._serve(self.command, self.path, headers, raw)
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _handle


# ---------------------------------------------------------------------------------------- fake


class FakeGitHub:
    """In-memory GitHub REST API on 127.0.0.1 for PyGithub-driven tests."""

    def __init__(
        self,
        *,
        user_login: str = BOT_LOGIN,
        repos: Iterable[str] = (),
        allowed_tokens: Iterable[str] | None = None,
        token_logins: Mapping[str, str] | None = None,
        forbid_get_user: bool = False,
        start_time: datetime = datetime(2024, 1, 1, tzinfo=UTC),
    ) -> None:
        #: login of the authenticated user (``GET /user``, author of comments made via the API).
        self.user_login = user_login
        #: when set, requests without one of these tokens get 401 "Bad credentials".
        self.allowed_tokens: set[str] | None = (
            None if allowed_tokens is None else set(allowed_tokens)
        )
        #: token -> login, for tests where several identities write (else ``user_login``).
        self.token_logins: dict[str, str] = dict(token_logins or {})
        #: answer ``GET /user`` with 403 like an installation token (``GITHUB_TOKEN``) gets.
        self.forbid_get_user = forbid_get_user
        self.repos: dict[str, Repo] = {}
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.clock = start_time
        self._ids = itertools.count(1001)
        self._lock = threading.RLock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._routes: list[tuple[str, re.Pattern[str], _Handler]] = []
        self._register_routes()
        for full_name in repos:
            self.add_repo(full_name)

    # ------------------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", 0), _RequestHandler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-github",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeGitHub is not running; use start() or `with FakeGitHub()`")
        return int(self._server.server_address[1])

    @property
    def server_url(self) -> str:
        """``http://127.0.0.1:PORT`` (what ``GITHUB_SERVER_URL``-style settings want)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/api/v3``, the ``base_url`` for PyGithub."""
        return f"{self.server_url}{API_PREFIX}"

    # ------------------------------------------------------------------------- seeding

    def add_repo(
        self, full_name: str, *, default_branch: str = "main", private: bool = False
    ) -> Repo:
        with self._lock:
            if full_name in self.repos:
                return self.repos[full_name]
            owner, _, name = full_name.partition("/")
            if not owner or not name or "/" in name:
                raise ValueError(f"repository must be 'owner/name', got {full_name!r}")
            repo = Repo(owner, name, self._next_id(), default_branch, private)
            self.repos[full_name] = repo
            return repo

    def repo(self, full_name: str) -> Repo:
        return self.repos[full_name]

    def add_issue(
        self,
        repo: str,
        title: str,
        body: str | None = "",
        *,
        user: str | None = None,
        labels: Iterable[str] = (),
        state: str = "open",
    ) -> Issue:
        with self._lock:
            r = self.add_repo(repo)
            issue = self._new_issue(r, title, body, user or self.user_login, list(labels))
            if state == "closed":
                issue.state, issue.state_reason, issue.closed_at = "closed", "completed", self.clock
            return issue

    def add_pull(
        self,
        repo: str,
        title: str,
        body: str | None = "",
        *,
        head_sha: str = "a" * 40,
        head_ref: str = "feature",
        base_ref: str | None = None,
        user: str | None = None,
        labels: Iterable[str] = (),
        draft: bool = False,
    ) -> Issue:
        with self._lock:
            r = self.add_repo(repo)
            issue = self._new_issue(r, title, body, user or "octocat", list(labels))
            issue.pull = PullInfo(head_sha, head_ref, base_ref or r.default_branch, draft=draft)
            return issue

    def add_comment(self, repo: str, number: int, body: str, *, user: str | None = None) -> Comment:
        """Seed a comment; pass ``user="alice"`` for a human's comment that must stay untouched."""
        with self._lock:
            r = self.add_repo(repo)
            if number not in r.issues:
                raise KeyError(f"{repo}#{number} does not exist; add_issue/add_pull it first")
            return self._new_comment(r, number, body, user or self.user_login)

    def add_status(
        self,
        repo: str,
        sha: str,
        state: str,
        *,
        context: str = "default",
        description: str | None = None,
        target_url: str | None = None,
        creator: str | None = None,
    ) -> CommitStatus:
        with self._lock:
            r = self.add_repo(repo)
            now = self._tick()
            status = CommitStatus(
                self._next_id(),
                sha,
                state,
                context,
                description,
                target_url,
                creator or self.user_login,
                now,
                now,
            )
            r.statuses.setdefault(sha, []).append(status)
            return status

    def add_workflow(
        self,
        repo: str,
        file: str,
        *,
        name: str | None = None,
        inputs: Iterable[str] | None = None,
        state: str = "active",
        dispatchable: bool = True,
    ) -> Workflow:
        """Seed a workflow; ``file`` is ``deploy.yml`` or ``.github/workflows/deploy.yml``."""
        with self._lock:
            r = self.add_repo(repo)
            path = file if "/" in file else f".github/workflows/{file}"
            workflow = Workflow(
                self._next_id(),
                name or path.rsplit("/", 1)[-1].rsplit(".", 1)[0],
                path,
                state,
                None if inputs is None else frozenset(inputs),
                dispatchable,
            )
            r.workflows[workflow.id] = workflow
            return workflow

    def add_label(
        self, repo: str, name: str, color: str = "ededed", description: str | None = None
    ) -> Label:
        with self._lock:
            r = self.add_repo(repo)
            return self._ensure_label(r, name, color, description)

    # ------------------------------------------------------------------------- inspection

    def issue(self, repo: str, number: int) -> Issue:
        return self.repos[repo].issues[number]

    def comments(self, repo: str, number: int) -> list[Comment]:
        """Comments on an issue or pull request, oldest first."""
        with self._lock:
            return self.repos[repo].comments_on(number)

    def statuses(self, repo: str, sha: str) -> list[CommitStatus]:
        """Statuses of a commit, oldest first."""
        with self._lock:
            return list(self.repos[repo].statuses.get(sha, []))

    @property
    def dispatches(self) -> list[Dispatch]:
        """Workflow dispatches of every repository, in the order they arrived."""
        with self._lock:
            found = [d for r in self.repos.values() for d in r.dispatches]
        return sorted(found, key=lambda d: d.run_id or 0)

    def find_requests(
        self, method: str | None = None, path_regex: str | None = None
    ) -> list[RecordedRequest]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method.upper())
                and (path_regex is None or re.search(path_regex, r.path))
            ]

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    # ------------------------------------------------------------------------- faults

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int = 403,
        message: str | None = None,
        *,
        times: int | None = 1,
        body: JSONObject | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Answer the next ``times`` matching requests (``None``: all) with ``status``.

        ``method`` is an HTTP method or ``"*"``; ``path_regex`` is searched in the path relative
        to the API root. The body is GitHub's ``{"message", "documentation_url"}`` unless ``body``
        is given; the default message for 403 is "Resource not accessible by integration".
        """
        fault = Fault(
            method,
            path_regex,
            status,
            message or _DEFAULT_MESSAGES.get(status, "Error"),
            times,
            body,
            dict(headers or {}),
        )
        with self._lock:
            self.faults.append(fault)
        return fault

    def fail_always(
        self, method: str, path_regex: str, status: int = 403, message: str | None = None
    ) -> Fault:
        return self.fail_next(method, path_regex, status, message, times=None)

    # ------------------------------------------------------------------------- internals

    def _next_id(self) -> int:
        return next(self._ids)

    def _tick(self) -> datetime:
        self.clock += timedelta(seconds=1)
        return self.clock

    def _new_issue(
        self, repo: Repo, title: str, body: str | None, user: str, labels: list[str]
    ) -> Issue:
        now = self._tick()
        names = [self._ensure_label(repo, name).name for name in labels]
        issue = Issue(
            repo.full_name, repo.next_number(), self._next_id(), title, body, user, now, now
        )
        issue.labels = list(dict.fromkeys(names))
        repo.issues[issue.number] = issue
        return issue

    def _new_comment(self, repo: Repo, number: int, body: str, user: str) -> Comment:
        now = self._tick()
        comment = Comment(self._next_id(), repo.full_name, number, body, user, now, now)
        repo.comments[comment.id] = comment
        return comment

    def _ensure_label(
        self, repo: Repo, name: str, color: str = "ededed", description: str | None = None
    ) -> Label:
        key = name.lower()
        if key not in repo.labels:
            repo.labels[key] = Label(self._next_id(), name, color, description)
        return repo.labels[key]

    def _serve(
        self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        split = urlsplit(raw_path)
        path = split.path
        if path.startswith(API_PREFIX):
            path = path[len(API_PREFIX) :] or "/"
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        with self._lock:
            record = RecordedRequest(method, path, query, None, headers)
            self.requests.append(record)
            try:
                if raw_body:
                    try:
                        record.json = json.loads(raw_body)
                    except ValueError as exc:
                        raise ApiError(400, "Problems parsing JSON") from exc
                login = self._authenticate(headers)
                response = self._fault_for(method, path) or self._route(
                    _Request(method, path, query, record.json, login),
                    on_prefix=split.path.startswith(API_PREFIX + "/"),
                )
            except ApiError as err:
                response = _Response(err.status, err.body())
            record.status = response.status
            reset = int((datetime.now(tz=UTC) + timedelta(hours=1)).timestamp())
            extra = {
                "X-GitHub-Api-Version-Selected": "2022-11-28",
                "X-GitHub-Request-Id": f"FAKE:{len(self.requests)}",
                "X-RateLimit-Limit": "5000",
                "X-RateLimit-Remaining": "4999",
                "X-RateLimit-Reset": str(reset),
                "X-RateLimit-Used": "1",
                "X-RateLimit-Resource": "core",
            }
            extra.update(response.headers)
            return response.status, response.body, extra

    def _authenticate(self, headers: dict[str, str]) -> str:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        token = token.strip() if scheme.lower() in ("token", "bearer") else ""
        if self.allowed_tokens is not None:
            if not token:
                raise ApiError(401, "Requires authentication")
            if token not in self.allowed_tokens:
                raise ApiError(401, "Bad credentials")
        return self.token_logins.get(token, self.user_login)

    def _fault_for(self, method: str, path: str) -> _Response | None:
        for fault in self.faults:
            if fault.matches(method, path):
                fault.hits += 1
                if fault.times is not None:
                    fault.times -= 1
                body = fault.body
                if body is None:
                    body = {"message": fault.message, "documentation_url": DOCS_URL}
                    body["status"] = str(fault.status)
                return _Response(fault.status, body, dict(fault.headers))
        return None

    def _route(self, request: _Request, *, on_prefix: bool) -> _Response:
        if on_prefix:
            for method, pattern, handler in self._routes:
                match = pattern.fullmatch(request.path)
                if match and method == request.method:
                    return handler(request, match)
        raise ApiError(404)

    def _register_routes(self) -> None:
        routes: list[tuple[str, str, _Handler]] = [
            ("GET", r"/user", self._get_user),
            ("GET", r"/users/(?P<login>[^/]+)", self._get_named_user),
            ("GET", r"/search/issues", self._search_issues),
            ("GET", _REPO, self._get_repo),
            ("GET", _REPO + r"/issues", self._list_issues),
            ("POST", _REPO + r"/issues", self._create_issue),
            ("GET", _REPO + r"/issues/comments/(?P<id>\d+)", self._get_comment),
            ("PATCH", _REPO + r"/issues/comments/(?P<id>\d+)", self._edit_comment),
            ("DELETE", _REPO + r"/issues/comments/(?P<id>\d+)", self._delete_comment),
            ("GET", _REPO + r"/issues/(?P<number>\d+)", self._get_issue),
            ("PATCH", _REPO + r"/issues/(?P<number>\d+)", self._edit_issue),
            ("GET", _REPO + r"/issues/(?P<number>\d+)/comments", self._list_comments),
            ("POST", _REPO + r"/issues/(?P<number>\d+)/comments", self._create_comment),
            ("GET", _REPO + r"/issues/(?P<number>\d+)/labels", self._list_issue_labels),
            ("POST", _REPO + r"/issues/(?P<number>\d+)/labels", self._add_issue_labels),
            ("PUT", _REPO + r"/issues/(?P<number>\d+)/labels", self._set_issue_labels),
            ("DELETE", _REPO + r"/issues/(?P<number>\d+)/labels", self._clear_issue_labels),
            (
                "DELETE",
                _REPO + r"/issues/(?P<number>\d+)/labels/(?P<name>[^/]+)",
                self._remove_issue_label,
            ),
            ("GET", _REPO + r"/pulls/(?P<number>\d+)", self._get_pull),
            ("GET", _REPO + r"/labels", self._list_labels),
            ("POST", _REPO + r"/labels", self._create_label),
            ("GET", _REPO + r"/labels/(?P<name>[^/]+)", self._get_label),
            ("POST", _REPO + r"/statuses/(?P<sha>[^/]+)", self._create_status),
            ("GET", _REPO + r"/statuses/(?P<sha>[^/]+)", self._list_statuses),
            ("GET", _REPO + r"/commits/(?P<sha>[^/]+)/statuses", self._list_statuses),
            ("GET", _REPO + r"/commits/(?P<sha>[^/]+)/status", self._combined_status),
            ("GET", _REPO + r"/commits/(?P<sha>[^/]+)", self._get_commit),
            ("GET", _REPO + r"/actions/workflows", self._list_workflows),
            ("GET", _REPO + r"/actions/workflows/(?P<wf>[^/]+)", self._get_workflow),
            ("POST", _REPO + r"/actions/workflows/(?P<wf>[^/]+)/dispatches", self._dispatch),
        ]
        self._routes = [(m, re.compile(p), h) for m, p, h in routes]

    # ------------------------------------------------------------------------- lookups

    def _repo_of(self, match: re.Match[str]) -> Repo:
        full_name = f"{unquote(match['owner'])}/{unquote(match['repo'])}"
        repo = self.repos.get(full_name)
        if repo is None:
            raise ApiError(404)
        return repo

    def _issue_of(self, repo: Repo, match: re.Match[str]) -> Issue:
        issue = repo.issues.get(int(match["number"]))
        if issue is None:
            raise ApiError(404)
        return issue

    def _comment_of(self, repo: Repo, match: re.Match[str]) -> Comment:
        comment = repo.comments.get(int(match["id"]))
        if comment is None:
            raise ApiError(404)
        return comment

    def _workflow_of(self, repo: Repo, match: re.Match[str]) -> Workflow:
        key = unquote(match["wf"])
        for workflow in repo.workflows.values():
            if key in (str(workflow.id), workflow.file, workflow.path):
                return workflow
        raise ApiError(404)

    # ------------------------------------------------------------------------- JSON shapes

    def _repo_url(self, repo: Repo) -> str:
        return f"{self.base_url}/repos/{quote(repo.owner)}/{quote(repo.name)}"

    def _html(self, repo: Repo) -> str:
        return f"https://github.com/{repo.full_name}"

    def _user_json(self, login: str) -> JSONObject:
        is_bot = login.endswith("[bot]")
        user_id = BOT_USER_ID if login == BOT_LOGIN else 100000 + sum(map(ord, login)) * 7
        return {
            "login": login,
            "id": user_id,
            "node_id": f"U_{user_id}",
            "type": "Bot" if is_bot else "User",
            "site_admin": False,
            "url": f"{self.base_url}/users/{quote(login)}",
            "html_url": f"https://github.com/{quote(login.removesuffix('[bot]'))}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}",
        }

    def _repo_json(self, repo: Repo) -> JSONObject:
        url = self._repo_url(repo)
        return {
            "id": repo.id,
            "node_id": f"R_{repo.id}",
            "name": repo.name,
            "full_name": repo.full_name,
            "owner": self._user_json(repo.owner),
            "private": repo.private,
            "visibility": "private" if repo.private else "public",
            "default_branch": repo.default_branch,
            "url": url,
            "html_url": self._html(repo),
            "issues_url": f"{url}/issues{{/number}}",
            "pulls_url": f"{url}/pulls{{/number}}",
            "statuses_url": f"{url}/statuses/{{sha}}",
            "archived": False,
            "disabled": False,
            "has_issues": True,
        }

    def _label_json(self, repo: Repo, name: str) -> JSONObject:
        label = repo.labels.get(name.lower()) or Label(0, name)
        return {
            "id": label.id,
            "node_id": f"LA_{label.id}",
            "url": f"{self._repo_url(repo)}/labels/{quote(label.name, safe='')}",
            "name": label.name,
            "color": label.color,
            "description": label.description,
            "default": False,
        }

    def _issue_json(self, repo: Repo, issue: Issue) -> JSONObject:
        url = f"{self._repo_url(repo)}/issues/{issue.number}"
        kind = "pull" if issue.is_pull else "issues"
        data: JSONObject = {
            "id": issue.id,
            "node_id": f"I_{issue.id}",
            "number": issue.number,
            "title": issue.title,
            "body": issue.body,
            "state": issue.state,
            "state_reason": issue.state_reason,
            "locked": False,
            "user": self._user_json(issue.user),
            "labels": [self._label_json(repo, name) for name in issue.labels],
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "comments": len(repo.comments_on(issue.number)),
            "created_at": _fmt(issue.created_at),
            "updated_at": _fmt(issue.updated_at),
            "closed_at": _fmt(issue.closed_at),
            "author_association": "NONE",
            "url": url,
            "html_url": f"{self._html(repo)}/{kind}/{issue.number}",
            "repository_url": self._repo_url(repo),
            "comments_url": f"{url}/comments",
            "labels_url": f"{url}/labels{{/name}}",
            "events_url": f"{url}/events",
        }
        if issue.pull is not None:
            pull_url = f"{self._repo_url(repo)}/pulls/{issue.number}"
            html = f"{self._html(repo)}/pull/{issue.number}"
            data["pull_request"] = {
                "url": pull_url,
                "html_url": html,
                "diff_url": f"{html}.diff",
                "patch_url": f"{html}.patch",
                "merged_at": None,
            }
            data["draft"] = issue.pull.draft
        return data

    def _pull_json(self, repo: Repo, issue: Issue) -> JSONObject:
        assert issue.pull is not None
        pull = issue.pull
        url = f"{self._repo_url(repo)}/pulls/{issue.number}"
        issue_url = f"{self._repo_url(repo)}/issues/{issue.number}"
        repo_json = self._repo_json(repo)
        return {
            "id": issue.id,
            "node_id": f"PR_{issue.id}",
            "number": issue.number,
            "title": issue.title,
            "body": issue.body,
            "state": issue.state,
            "locked": False,
            "draft": pull.draft,
            "merged": pull.merged,
            "mergeable": None,
            "user": self._user_json(issue.user),
            "labels": [self._label_json(repo, name) for name in issue.labels],
            "assignees": [],
            "requested_reviewers": [],
            "created_at": _fmt(issue.created_at),
            "updated_at": _fmt(issue.updated_at),
            "closed_at": _fmt(issue.closed_at),
            "merged_at": None,
            "url": url,
            "html_url": f"{self._html(repo)}/pull/{issue.number}",
            "issue_url": issue_url,
            "comments_url": f"{issue_url}/comments",
            "review_comments_url": f"{url}/comments",
            "commits_url": f"{url}/commits",
            "statuses_url": f"{self._repo_url(repo)}/statuses/{pull.head_sha}",
            "head": {
                "label": f"{repo.owner}:{pull.head_ref}",
                "ref": pull.head_ref,
                "sha": pull.head_sha,
                "user": self._user_json(repo.owner),
                "repo": repo_json,
            },
            "base": {
                "label": f"{repo.owner}:{pull.base_ref}",
                "ref": pull.base_ref,
                "sha": pull.base_sha,
                "user": self._user_json(repo.owner),
                "repo": repo_json,
            },
            "author_association": "NONE",
            "comments": len(repo.comments_on(issue.number)),
        }

    def _comment_json(self, repo: Repo, comment: Comment) -> JSONObject:
        issue = repo.issues.get(comment.issue_number)
        kind = "pull" if issue is not None and issue.is_pull else "issues"
        return {
            "id": comment.id,
            "node_id": f"IC_{comment.id}",
            "body": comment.body,
            "user": self._user_json(comment.user),
            "created_at": _fmt(comment.created_at),
            "updated_at": _fmt(comment.updated_at),
            "author_association": "NONE",
            "url": f"{self._repo_url(repo)}/issues/comments/{comment.id}",
            "html_url": (
                f"{self._html(repo)}/{kind}/{comment.issue_number}#issuecomment-{comment.id}"
            ),
            "issue_url": f"{self._repo_url(repo)}/issues/{comment.issue_number}",
        }

    def _status_json(self, repo: Repo, status: CommitStatus) -> JSONObject:
        return {
            "id": status.id,
            "node_id": f"SC_{status.id}",
            "url": f"{self._repo_url(repo)}/statuses/{status.sha}",
            "state": status.state,
            "description": status.description,
            "target_url": status.target_url,
            "context": status.context,
            "avatar_url": None,
            "created_at": _fmt(status.created_at),
            "updated_at": _fmt(status.updated_at),
            "creator": self._user_json(status.creator),
        }

    def _workflow_json(self, repo: Repo, workflow: Workflow) -> JSONObject:
        html = f"{self._html(repo)}/blob/{repo.default_branch}/{workflow.path}"
        return {
            "id": workflow.id,
            "node_id": f"W_{workflow.id}",
            "name": workflow.name,
            "path": workflow.path,
            "state": workflow.state,
            "created_at": _fmt(self.clock),
            "updated_at": _fmt(self.clock),
            "url": f"{self._repo_url(repo)}/actions/workflows/{workflow.id}",
            "html_url": html,
            "badge_url": f"{self._html(repo)}/workflows/{quote(workflow.name)}/badge.svg",
        }

    # ------------------------------------------------------------------------- pagination

    def _page(
        self,
        request: _Request,
        items: list[JSONObject],
        wrap: Callable[[list[JSONObject]], JSONObject] | None = None,
    ) -> _Response:
        try:
            per_page = min(max(int(request.query.get("per_page", "30")), 1), 100)
        except ValueError:
            per_page = 30
        try:
            page = max(int(request.query.get("page", "1")), 1)
        except ValueError:
            page = 1
        last = max((len(items) + per_page - 1) // per_page, 1)
        chunk = items[(page - 1) * per_page : page * per_page]

        def link(number: int) -> str:
            params = {**request.query, "per_page": str(per_page), "page": str(number)}
            return f"<{self.base_url}{request.path}?{urlencode(params)}>"

        rels: list[str] = []
        if page > 1:
            rels.append(f'{link(min(page - 1, last))}; rel="prev"')
        if page < last:
            rels.append(f'{link(page + 1)}; rel="next"')
            rels.append(f'{link(last)}; rel="last"')
        if page > 1:
            rels.append(f'{link(1)}; rel="first"')
        headers = {"Link": ", ".join(rels)} if rels else {}
        return _Response(200, wrap(chunk) if wrap else chunk, headers)

    # ------------------------------------------------------------------------- handlers

    def _get_user(self, request: _Request, match: re.Match[str]) -> _Response:
        if self.forbid_get_user:
            raise ApiError(
                403,
                FORBIDDEN_BY_INTEGRATION,
                documentation_url="https://docs.github.com/rest/users/users#get-the-authenticated-user",
            )
        return _Response(200, self._user_json(request.login))

    def _get_named_user(self, request: _Request, match: re.Match[str]) -> _Response:
        return _Response(200, self._user_json(unquote(match["login"])))

    def _get_repo(self, request: _Request, match: re.Match[str]) -> _Response:
        return _Response(200, self._repo_json(self._repo_of(match)))

    # issues

    def _filter_issues(self, repo: Repo, query: Mapping[str, str]) -> list[Issue]:
        state = query.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise _invalid("Issue", "state", "invalid")
        wanted = [name.strip().lower() for name in query.get("labels", "").split(",") if name]
        issues = [
            issue
            for issue in repo.issues.values()
            if (state == "all" or issue.state == state)
            and all(name in {lab.lower() for lab in issue.labels} for name in wanted)
            and ("creator" not in query or issue.user == query["creator"])
            and ("since" not in query or issue.updated_at >= _parse_time(query["since"]))
        ]
        sort = query.get("sort", "created")
        keys: dict[str, Callable[[Issue], Any]] = {
            "created": lambda i: (i.created_at, i.number),
            "updated": lambda i: (i.updated_at, i.number),
            "comments": lambda i: (len(repo.comments_on(i.number)), i.number),
        }
        key = keys.get(sort, keys["created"])
        return sorted(issues, key=key, reverse=query.get("direction", "desc") != "asc")

    def _list_issues(self, request: _Request, match: re.Match[str]) -> _Response:
        repo = self._repo_of(match)
        issues = self._filter_issues(repo, request.query)
        return self._page(request, [self._issue_json(repo, issue) for issue in issues])

    def _checked_body(self, value: Any, resource: str, *, required: bool) -> str | None:
        if value is None:
            if required:
                raise _invalid(resource, "body", "missing_field")
            return None
        if not isinstance(value, str) or (required and not value.strip()):
            raise _invalid(resource, "body", "invalid")
        if len(value) > MAX_BODY_CHARS:
            raise _invalid(
                resource,
                "body",
                "custom",
                f"body is too long (maximum is {MAX_BODY_CHARS} characters)",
            )
        return value

    def _label_names(self, repo: Repo, value: Any) -> list[str]:
        if isinstance(value, dict):  # {"labels": [...]} as POST/PUT .../labels also accept
            value = value.get("labels")
        if not isinstance(value, list):
            raise _invalid("Label", "labels", "invalid")
        names: list[str] = []
        for item in value:
            name = item.get("name") if isinstance(item, dict) else item
            if not isinstance(name, str) or not name:
                raise _invalid("Label", "name", "invalid")
            names.append(self._ensure_label(repo, name).name)
        return list(dict.fromkeys(names))

    def _create_issue(self, request: _Request, match: re.Match[str]) -> _Response:
        repo = self._repo_of(match)
        body = request.body if isinstance(request.body, dict) else {}
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            raise _invalid("Issue", "title", "missing_field")
        text = self._checked_body(body.get("body"), "Issue", required=False)
        labels = self._label_names(repo, body.get("labels", []))
        issue = self._new_issue(repo, title, text, request.login, labels)
        return _Response(201, self._issue_json(repo, issue))

    def _get_issue(self, request: _Request, match: re.Match[str]) -> _Response:
        repo = self._repo_of(match)
        return _Response(200, self._issue_json(repo, self._issue_of(repo, match)))

    def _edit_issue(self, request: _Request, match: re.Match[str]) -> _Response:
        repo = self._repo_of(match)
        issue = self._issue_of(repo, match)
        body = request.body if isinstance(request.body, dict) else {}
        if "title" in body:
            if not isinstance(body["title"], str) or not body["title"].strip():
                raise _invalid("Issue", "title", "invalid")
            issue.title = body["title"]
        if "body" in body:
            issue.body = self._checked_body(body["body"], "Issue", required=False)
        if "labels" in body:
            issue.labels = self._label_names(repo, body["labels"])
        now = self._tick()
        if "state" in body:
            state = body["state"]
            if state not in ("open", "closed"):
                raise _invalid("Issue", "state", "invalid")
            if state == "closed" and issue.state != "closed":
                issue.closed_at = now
                issue.state_reason = body.get("state_reason") or "completed"
            elif state == "open" and issue.state != "open":
                issue.closed_at = None
                issue.state_reason = "reopened"
            issue.state = state
        elif "state_reason" in body:
            issue.state_reason = body["state_reason"]
        issue.updated_at = now
        return _Response(200, self._issue_json(repo, issue))

    def _get_pull(self, request: _Request, match: re.Match[str]) -> _Response:
        repo = self._repo_of(match)
        issue = self._issue_of(repo, match)
        if not issue.is_pull:
            raise ApiError(404)
        return _Response(200, self._pull_json(repo, issue))

    # issue labels

    def _issue_labels_response(self, repo: Repo, issue: Issue, status: int = 200) -> _Response:
        return _Response(status, [self._label_json(repo, name) for name in issue.labels])

    def _list_issue_labels(self, request: _Request, match: re.Match[str]) -> _Response:
        repo = self._repo_of(match)
        issue = self._issue_of(repo, match)
        return self._page(request, [self._label_json(repo, name) for name in issue.labels])

    def _add_issue_labels(self, request: _Request, match: re.Match[str]) -> _Response:
        repo = self._repo_of(match)
        issue = self._issue_of(repo, match)
        added = self._label_names(repo, request.body)
        issue.labels = list(dict.fromkeys([*issue.labels, *added]))
        issue.updated_at = self._tick()
        return self._issue_labels_response(repo, issue)

    def _set_issue_labels(self, request: _Request, match: re.Match[str]) -> _Response:
        repo = self._repo_of(match)
        issue = self._issue_of(repo, match)
        issue.labels = self._label_names(repo, request.body)
        issue.updated_at = self._tick()
        return self._issue_labels_response(repo, issue)

    def _clear_issue_labels(self, request: _Request, match: re.Match[str]) -> _Response:
        repo = self._repo_of(match)
        issue = self._issue_of(repo, match)
        issue.labels = []
        issue.updated_at = self._tick()
        return _Response(204)

    def _remove_issue_label(self, request: _Request, match: re.Match[str]) -> _Response:
        repo = self._repo_of(match)
        issue = self._issue_of(repo, match)
        name = unquote(match["name"]).lower()
        kept = [label for label in issue.labels if label.lower() != name]
        if len(kept) == len(issue.labels):
            raise ApiError(404, "Label does not exist")
        issue.labels = kept
        issue.updated_at = self._tick()
        return self._issue_labels_response(repo, issue)

    # repository labels

    def _list_labels(self, request: _Request, match: re.Match[str]) -> _Response:
        repo = self._repo_of(match)
        labels = sorted(repo.labels.values(), key=lambda label: label.name.lower())
        return self._page(request, [self._label_json(repo, label.name) for label in labels])

    def _create_label(self, request: _Request, match: re.Match[str]) -> _Response:
        repo = self._repo_of(match)
        body = request.body if isinstance(request.body, dict) else {}
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise _invalid("Label", "name", "missing_field")
        if name.lower() in repo.labels:
            raise _invalid("Label", "name", "already_exists")
        label = self._ensure_label(
            repo, name, str(body.get("color", "ededed")).lstrip("#"), body.get("description")
        )
        return _Response(201, self._label_json(repo, label.name))

    def _get_label(self, request: _Request, match: re.Match[str]) -> _Response:
        repo = self._repo_of(match)
        name = unquote(match["name"])
        if name.lower() not in repo.labels:
            raise ApiError(404)
        return _Response(200, self._label_json(repo, name))

    # comments

    def _list_comments(self, request: _Request, match: re.Match[str]) -> _Response:
        repo = self._repo_of(match)
        issue = self._issue_of(repo, match)
        comments = repo.comments_on(issue.number)
        if "since" in request.query:
            since = _parse_time(request.query["since"])
            comments = [c for c in comments if c.updated_at >= since]
        return self._page(request, [self._comment_json(repo, c) for c in comments])

    def _create_comment(self, request: _Request, match: re.Match[str]) -> _Response:
        repo = self._repo_of(match)
        issue = self._issue_of(repo, match)
        body = request.body if isinstance(request.body, dict) else {}
        text = self._checked_body(body.get("body"), "IssueComment", required=True)
        assert text is not None
        comment = self._new_comment(repo, issue.number, text, request.login)
        return _Response(201, self._comment_json(repo, comment))

    def _get_comment(self, request: _Request, match: re.Match[str]) -> _Response:
        repo = self._repo_of(match)
        return _Response(200, self._comment_json(repo, self._comment_of(repo, match)))

    def _edit_comment(self, request: _Request, match: re.Match[str]) -> _Response:
        repo = self._repo_of(match)
        comment = self._comment_of(repo, match)
        body = request.body if isinstance(request.body, dict) else {}
        text = self._checked_body(body.get("body"), "IssueComment", required=True)
        assert text is not None
        comment.body = text
        comment.updated_at = self._tick()
        return _Response(200, self._comment_json(repo, comment))

    def _delete_comment(self, request: _Request, match: re.Match[str]) -> _Response:
        repo = self._repo_of(match)
        comment = self._comment_of(repo, match)
        del repo.comments[comment.id]
        return _Response(204)

    # statuses and commits

    def _create_status(self, request: _Request, match: re.Match[str]) -> _Response:
        repo = self._repo_of(match)
        sha = unquote(match["sha"])
        body = request.body if isinstance(request.body, dict) else {}
        state = body.get("state")
        if state is None:
            raise _invalid("Status", "state", "missing_field")
        if state not in STATUS_STATES:
            raise _invalid("Status", "state", "invalid")
        description = body.get("description")
        if isinstance(description, str) and len(description) > MAX_STATUS_DESCRIPTION_CHARS:
            raise _invalid(
                "Status",
                "description",
                "custom",
                "description is too long (maximum is 140 characters)",
            )
        now = self._tick()
        status = CommitStatus(
            self._next_id(),
            sha,
            state,
            body.get("context") or "default",
            description,
            body.get("target_url"),
            request.login,
            now,
            now,
        )
        repo.statuses.setdefault(sha, []).append(status)
        return _Response(201, self._status_json(repo, status))

    def _list_statuses(self, request: _Request, match: re.Match[str]) -> _Response:
        repo = self._repo_of(match)
        statuses = list(reversed(repo.statuses.get(unquote(match["sha"]), [])))
        return self._page(request, [self._status_json(repo, s) for s in statuses])

    def _combined_status(self, request: _Request, match: re.Match[str]) -> _Response:
        repo = self._repo_of(match)
        sha = unquote(match["sha"])
        latest: dict[str, CommitStatus] = {}
        for status in repo.statuses.get(sha, []):
            latest[status.context] = status
        states = {s.state for s in latest.values()}
        if states & {"error", "failure"}:
            state = "failure"
        elif not states or "pending" in states:
            state = "pending"
        else:
            state = "success"
        url = f"{self._repo_url(repo)}/commits/{sha}"
        return _Response(
            200,
            {
                "state": state,
                "sha": sha,
                "total_count": len(latest),
                "statuses": [self._status_json(repo, s) for s in latest.values()],
                "repository": self._repo_json(repo),
                "commit_url": url,
                "url": f"{url}/status",
            },
        )

    def _get_commit(self, request: _Request, match: re.Match[str]) -> _Response:
        repo = self._repo_of(match)
        sha = unquote(match["sha"])
        url = f"{self._repo_url(repo)}/commits/{sha}"
        return _Response(
            200,
            {
                "sha": sha,
                "node_id": f"C_{sha}",
                "url": url,
                "html_url": f"{self._html(repo)}/commit/{sha}",
                "commit": {
                    "message": "",
                    "url": f"{self._repo_url(repo)}/git/commits/{sha}",
                },
                "parents": [],
                "files": [],
            },
        )

    # workflows

    def _list_workflows(self, request: _Request, match: re.Match[str]) -> _Response:
        repo = self._repo_of(match)
        workflows = [self._workflow_json(repo, w) for w in repo.workflows.values()]
        return self._page(
            request,
            workflows,
            lambda chunk: {"total_count": len(workflows), "workflows": chunk},
        )

    def _get_workflow(self, request: _Request, match: re.Match[str]) -> _Response:
        repo = self._repo_of(match)
        return _Response(200, self._workflow_json(repo, self._workflow_of(repo, match)))

    def _dispatch(self, request: _Request, match: re.Match[str]) -> _Response:
        repo = self._repo_of(match)
        workflow = self._workflow_of(repo, match)
        body = request.body if isinstance(request.body, dict) else {}
        ref = body.get("ref")
        if not isinstance(ref, str) or not ref:
            raise ApiError(422, 'Invalid request.\n\n"ref" wasn\'t supplied.')
        if not workflow.dispatchable:
            raise ApiError(422, "Workflow does not have 'workflow_dispatch' trigger")
        inputs = body.get("inputs") or {}
        if not isinstance(inputs, dict):
            raise ApiError(422, "Invalid request.\n\nFor 'properties/inputs', is not an object.")
        if workflow.inputs is not None:
            unexpected = sorted(set(inputs) - workflow.inputs)
            if unexpected:
                raise ApiError(422, f"Unexpected inputs provided: {json.dumps(unexpected)}")
        run_id = self._next_id()
        repo.dispatches.append(
            Dispatch(repo.full_name, workflow.id, workflow.file, ref, dict(inputs), run_id)
        )
        if body.get("return_run_details"):
            return _Response(
                200,
                {
                    "workflow_run_id": run_id,
                    "run_url": f"{self._repo_url(repo)}/actions/runs/{run_id}",
                    "html_url": f"{self._html(repo)}/actions/runs/{run_id}",
                },
            )
        return _Response(204)

    # search

    def _search_issues(self, request: _Request, match: re.Match[str]) -> _Response:
        query = request.query.get("q", "")
        if not query.strip():
            raise _invalid("Search", "q", "missing")
        repos: list[str] = []
        kinds: set[str] = set()
        states: set[str] = set()
        labels: list[str] = []
        authors: list[str] = []
        words: list[str] = []
        title_only = False
        for qualifier, value, quoted, bare in re.findall(
            r'(\w+):("[^"]*"|\S+)|"([^"]*)"|(\S+)', query
        ):
            value = value.strip('"')
            if qualifier == "repo":
                repos.append(value)
            elif qualifier in ("is", "type", "state"):
                if value in ("issue", "pr"):
                    kinds.add(value)
                elif value in ("open", "closed"):
                    states.add(value)
            elif qualifier == "label":
                labels.append(value.lower())
            elif qualifier == "author":
                authors.append(value)
            elif qualifier == "in":
                title_only = value == "title"
            elif not qualifier:
                words.append((quoted or bare).lower())
        found: list[tuple[Repo, Issue]] = []
        for full_name, repo in self.repos.items():
            if repos and full_name not in repos:
                continue
            for issue in repo.issues.values():
                text = issue.title if title_only else f"{issue.title}\n{issue.body or ''}"
                if (
                    (not kinds or ("pr" if issue.is_pull else "issue") in kinds)
                    and (not states or issue.state in states)
                    and all(lab in {x.lower() for x in issue.labels} for lab in labels)
                    and (not authors or issue.user in authors)
                    and all(word in text.lower() for word in words)
                ):
                    found.append((repo, issue))
        found.sort(key=lambda pair: (pair[1].created_at, pair[1].id), reverse=True)
        items = [self._issue_json(repo, issue) for repo, issue in found]
        return self._page(
            request,
            items,
            lambda chunk: {
                "total_count": len(items),
                "incomplete_results": False,
                "items": chunk,
            },
        )
