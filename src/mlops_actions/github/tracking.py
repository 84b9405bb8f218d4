"""The retraining trigger: dispatch the training workflow and keep one tracking issue per model.

When monitoring finds a problem (`drift` from drift-report, `performance` from
performance-report), `report_signal` dispatches the configured training workflow
(`workflow_dispatch` with the reason and a link to the report) and opens or updates the model's
tracking issue; when a later report is clean it marks that signal clean, and once no signal is
active it closes the issue with a comment. One open issue per model: it is found again by a
hidden marker on its first line (`<!-- mlops-actions:tracking model=NAME -->`) among the open
issues with the `mlops-monitoring` label (or, when the label was dropped, among those opened by
our identity), written by our identity (see `pr_comment.comment_authors`). Each signal owns one
section of the body, delimited by hidden markers, so the two reports never overwrite each other's
text; which signals are active is kept in a hidden JSON comment.

Everything comes from the runner's environment (`pr_comment.github_env`): GITHUB_REPOSITORY,
GITHUB_TOKEN, GITHUB_API_URL, GITHUB_SERVER_URL/GITHUB_RUN_ID (the report link) and
GITHUB_REF_NAME (the ref to dispatch; default: the repository's default branch). `GET /user` is
never called (GITHUB_TOKEN may not). GitHub errors become InputError (401/403/404, naming the
permission) or BackendError.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from mlops_actions.errors import InputError
from mlops_actions.github.pr_comment import (
    MAX_COMMENT_CHARS,
    GitHubEnv,
    comment_authors,
    github_client,
    github_env,
    github_error,
    repo_name,
    repository,
)
from mlops_actions.reports.markdown import escape, plain

if TYPE_CHECKING:
    from github import Github
    from github.Issue import Issue
    from github.Repository import Repository

Signal = Literal["drift", "performance"]
SIGNALS: tuple[Signal, ...] = ("drift", "performance")
SIGNAL_TITLES: dict[Signal, str] = {"drift": "data drift", "performance": "performance degraded"}
TRACKING_LABEL = "mlops-monitoring"
IssueAction = Literal["opened", "updated", "closed", "none"]

_STATE = re.compile(r"<!-- mlops-actions:state (\{.*?\}) -->")
_UNEXPECTED = re.compile(r"Unexpected inputs provided: (\[.*?\])", re.DOTALL)
_MAX_INPUT_CHARS = 1000  # GitHub's limit per workflow_dispatch input value


def tracking_marker(model: str) -> str:
    """The hidden first line of a model's tracking issue."""
    return f"<!-- mlops-actions:tracking model={_inert(model)} -->"


def _inert(text: str) -> str:
    """Text safe inside an HTML comment (no `--`, no `>`), on one line."""
    return " ".join(text.split()).replace("--", "-\u2060-").replace(">", "&gt;")


@dataclass(frozen=True)
class WorkflowDispatch:
    """A `workflow_dispatch` that was sent; `dropped` are inputs the workflow does not declare."""

    workflow: str
    ref: str
    inputs: dict[str, str]
    dropped: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrackingIssue:
    """The model's tracking issue after this report (`action` says what changed)."""

    number: int
    url: str
    action: IssueAction
    active: tuple[Signal, ...]


@dataclass(frozen=True)
class RetrainTrigger:
    """What the trigger did; `skipped` says why it did nothing (e.g. not on GitHub Actions)."""

    dispatch: WorkflowDispatch | None = None
    issue: TrackingIssue | None = None
    skipped: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def outputs(self) -> dict[str, object]:
        return {
            "retrain-dispatched": self.dispatch is not None,
            "tracking-issue": self.issue.url if self.issue else "",
        }


def report_signal(
    *,
    model: str,
    signal: Signal,
    problem: bool,
    reason: str,
    section: str,
    workflow: str | None,
    dispatch: bool,
    env: GitHubEnv | None = None,
    client: Github | None = None,
    now: datetime | None = None,
) -> RetrainTrigger:
    """Dispatch retraining (when `problem` and `dispatch`) and update the tracking issue.

    `reason` is one line (the dispatch's `reason` input and the issue's summary); `section` is
    Markdown, already escaped, for this signal's part of the issue. Outside GitHub Actions without
    GITHUB_REPOSITORY/GITHUB_TOKEN it does nothing and says so in `skipped`; inside, missing
    credentials are an InputError.
    """
    env = env or github_env()
    if not env.can_call_api:
        if os.environ.get("GITHUB_ACTIONS") == "true":
            missing = "GITHUB_TOKEN" if env.repository else "GITHUB_REPOSITORY"
            raise InputError(
                f"{missing} is not set, so the retraining trigger cannot reach GitHub;",
                hint="pass it to the step: `env: GITHUB_TOKEN: ${{ github.token }}`.",
            )
        return RetrainTrigger(
            skipped="not on GitHub Actions (GITHUB_REPOSITORY and GITHUB_TOKEN are not set)"
        )
    assert env.repository is not None
    client = client or github_client(env)
    repo = repository(client, env.repository)
    sent: WorkflowDispatch | None = None
    notes: list[str] = []
    if problem and dispatch:
        if not workflow:
            raise InputError(
                "no training workflow to dispatch;",
                hint="set monitor.retrain_workflow in mlops.yaml or pass --retrain-workflow.",
            )
        inputs = {"reason": reason[:_MAX_INPUT_CHARS]}
        if env.run_url:
            inputs["report-url"] = env.run_url
        sent = dispatch_workflow(repo, workflow, ref=dispatch_ref(repo), inputs=inputs)
        if sent.dropped:
            notes.append(
                f"{workflow} does not declare the input(s) {', '.join(sent.dropped)}: "
                "the report link went into `reason`"
            )
    issue = update_tracking_issue(
        repo,
        model,
        signal,
        problem=problem,
        reason=reason,
        section=section,
        run_url=env.run_url,
        dispatched=sent,
        now=now,
    )
    return RetrainTrigger(sent, issue, notes=tuple(notes))


def dispatch_ref(repo: Repository, environ: Mapping[str, str] | None = None) -> str:
    """GITHUB_REF_NAME, unless it is a pull request's merge ref; else the default branch."""
    env = os.environ if environ is None else environ
    ref = (env.get("GITHUB_REF_NAME") or "").strip()
    if ref and not re.fullmatch(r"\d+/merge", ref):
        return ref
    try:
        return str(repo.default_branch)
    except Exception as exc:  # noqa: BLE001 - translated below
        action = f"read the default branch of {repo_name(repo)}"
        raise github_error(exc, action, "contents: read") from None


def dispatch_workflow(
    repo: Repository, workflow: str, *, ref: str, inputs: Mapping[str, str]
) -> WorkflowDispatch:
    """Send `workflow_dispatch` to `workflow` (file name or id) at `ref`.

    When the workflow does not declare some inputs (GitHub answers 422 "Unexpected inputs"), they
    are dropped and the dispatch is sent again, with `report-url` folded into `reason`.
    """
    from github import GithubException

    name = workflow.rsplit("/", 1)[-1]
    sent = dict(inputs)
    dropped: list[str] = []
    action = f"dispatch workflow {name} on {repo_name(repo)}"
    for _ in range(2):
        try:
            handle = repo.get_workflow(name)
            handle.create_dispatch(ref, sent, throw=True)
            return WorkflowDispatch(name, ref, sent, tuple(dropped))
        except GithubException as exc:
            unexpected = _unexpected_inputs(exc)
            if exc.status != 422 or not unexpected or dropped:
                raise github_error(exc, action, "actions: write") from None
            for key in unexpected:
                if key in sent and key != "reason":
                    dropped.append(key)
                    value = sent.pop(key)
                    if "reason" in sent:
                        sent["reason"] = f"{sent['reason']} ({value})"[:_MAX_INPUT_CHARS]
            if not dropped:
                raise github_error(exc, action, "actions: write") from None
        except Exception as exc:  # noqa: BLE001 - translated below
            raise github_error(exc, action, "actions: write") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _unexpected_inputs(exc: Any) -> list[str]:
    data = exc.data if isinstance(exc.data, dict) else {}
    match = _UNEXPECTED.search(str(data.get("message") or ""))
    if not match:
        return []
    try:
        names = json.loads(match.group(1))
    except ValueError:
        return []
    return [str(n) for n in names] if isinstance(names, list) else []


# ---------------------------------------------------------------- the tracking issue


def find_tracking_issue(repo: Repository, model: str) -> Issue | None:
    """The open tracking issue of `model` written by our identity, oldest first; None if none."""
    marker = tracking_marker(model)
    owners = comment_authors()

    def ours(issue: Issue) -> bool:
        first = (issue.body or "").split("\n", 1)[0].strip()
        login = issue.user.login if issue.user is not None else None
        return first == marker and login in owners and issue.pull_request is None

    found = [i for i in repo.get_issues(state="open", labels=[TRACKING_LABEL]) if ours(i)]
    if not found:  # the label is dropped silently when the token may not set labels
        for login in sorted(owners):
            mine = repo.get_issues(state="open", creator=login)  # type: ignore[arg-type]
            found += [i for i in mine if ours(i)]
    return min(found, key=lambda i: i.number) if found else None


def update_tracking_issue(
    repo: Repository,
    model: str,
    signal: Signal,
    *,
    problem: bool,
    reason: str,
    section: str,
    run_url: str | None,
    dispatched: WorkflowDispatch | None = None,
    now: datetime | None = None,
) -> TrackingIssue | None:
    """Open, update or close the model's tracking issue for one signal's latest report.

    A problem opens the issue (or updates this signal's section of the open one); a clean report
    updates the section of an open issue and closes the issue when no signal is active anymore.
    Returns None when the report is clean and no issue is open.
    """
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    where = f"the tracking issue of {model!r} in {repo_name(repo)}"
    try:
        issue = find_tracking_issue(repo, model)
        if issue is None and not problem:
            return None
        body = (issue.body or "") if issue is not None else ""
        state = _read_state(body)
        state[signal] = problem
        active = tuple(s for s in SIGNALS if state.get(s))
        text = _section_text(signal, problem, reason, section, run_url, dispatched, stamp)
        new_body = _render_body(model, state, _sections(body), signal, text)
        title = _title(model, active)
        if issue is None:
            made = repo.create_issue(title=title, body=new_body, labels=[TRACKING_LABEL])
            return TrackingIssue(made.number, made.html_url, "opened", active)
        if active:
            issue.edit(title=title, body=new_body)
            return TrackingIssue(issue.number, issue.html_url, "updated", active)
        issue.edit(body=new_body)
        link = f" ([report]({run_url}))" if run_url else ""
        issue.create_comment(
            f"✅ All clear on {stamp}: the latest {SIGNAL_TITLES[signal]} report is clean{link}. "
            "Closing; a new problem opens a new issue."
        )
        issue.edit(state="closed", state_reason="completed")
        return TrackingIssue(issue.number, issue.html_url, "closed", active)
    except Exception as exc:  # noqa: BLE001 - translated below
        raise github_error(exc, f"update {where}", "issues: write") from None


def _read_state(body: str) -> dict[str, bool]:
    match = _STATE.search(body)
    if not match:
        return {}
    try:
        data = json.loads(match.group(1))
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {s: data[s] for s in SIGNALS if isinstance(data.get(s), bool)}


def _sections(body: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for signal in SIGNALS:
        start = f"<!-- mlops-actions:section {signal} -->"
        end = f"<!-- mlops-actions:end {signal} -->"
        if start in body and end in body:
            found[signal] = body.split(start, 1)[1].split(end, 1)[0].strip("\n")
    return found


def _section_text(
    signal: Signal,
    problem: bool,
    reason: str,
    section: str,
    run_url: str | None,
    dispatched: WorkflowDispatch | None,
    stamp: str,
) -> str:
    head = "🔴" if problem else "✅"
    link = f" · [workflow run]({run_url})" if run_url else ""
    lines = [f"### {head} {SIGNAL_TITLES[signal].capitalize()}: {escape(reason, max_len=500)}"]
    lines.append(f"_Last report: {stamp}{link}_")
    if dispatched is not None:
        lines.append(
            f"Retraining dispatched: `{escape(dispatched.workflow)}` on `{escape(dispatched.ref)}`."
        )
    return "\n\n".join(lines) + "\n\n" + section.strip() + "\n"


def _render_body(
    model: str, state: Mapping[str, bool], old: Mapping[str, str], signal: Signal, text: str
) -> str:
    sections = dict(old)
    sections[signal] = text
    status = ", ".join(
        f"{SIGNAL_TITLES[s]}: {'🔴 active' if state.get(s) else '✅ clean'}"
        for s in SIGNALS
        if s in state
    )
    parts = [
        tracking_marker(model),
        f"<!-- mlops-actions:state {json.dumps(dict(state), sort_keys=True)} -->",
        f"## Monitoring of model {escape(model)}",
        "",
        f"Opened and kept up to date by mlops-actions; closed when every signal is clean. "
        f"Status: {status}.",
        "",
    ]
    budget = MAX_COMMENT_CHARS - sum(len(p) + 1 for p in parts) - 400
    for name in SIGNALS:
        if name not in sections:
            continue
        content = sections[name]
        share = budget // max(1, len(sections))
        if len(content) > share:
            content = (
                content[: share - 80] + "\n\n… shortened; see the workflow run for the rest.\n"
            )
        parts += [
            f"<!-- mlops-actions:section {name} -->",
            content.strip("\n"),
            f"<!-- mlops-actions:end {name} -->",
            "",
        ]
    return "\n".join(parts)


def _title(model: str, active: tuple[Signal, ...]) -> str:
    what = " and ".join(SIGNAL_TITLES[s] for s in active) or "all clear"
    return f"Model {plain(model, max_len=120)}: {what}"
