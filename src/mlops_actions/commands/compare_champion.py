"""`mlops compare-champion`: score the challenger against the champion and report the verdict.

Exit 0 when the challenger is better (or is a first model that meets the floors), 1 when it is
not (0 with `--no-fail-if-worse`, for PR evaluation), 2 for bad input, 3 when the registry or the
champion fails. The report goes to the job summary, a file (`report-path`), and on GitHub to a
sticky PR comment (pull_request events) and the commit status `mlops/compare-champion`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_actions.commands.base import Command, Context
from mlops_actions.commands.options import setting_flag
from mlops_actions.results import Annotation, StepResult

if TYPE_CHECKING:
    from github.Repository import Repository

    from mlops_actions.github.pr_comment import GitHubEnv
    from mlops_actions.steps.compare_champion import ChampionComparison

STATUS_CONTEXT = "mlops/compare-champion"
REPORT_NAME = "compare-champion-report.md"
SUMMARY_LIMIT = 900_000
"""Characters of report in the job summary (GitHub allows 1 MiB per step)."""


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--candidate",
        required=True,
        metavar="MODEL_URI|RUN_ID",
        help="The challenger: an MLflow run id, runs:/RUN_ID/model, models:/m-…, "
        "models:/NAME/VERSION or models:/NAME@ALIAS.",
    )
    setting_flag(parser, "--holdout", "data.holdout", type=Path, metavar="PATH")
    setting_flag(
        parser,
        "--primary-metric",
        "evaluate.primary_metric",
        clears=("evaluate.greater_is_better",),
        metavar="NAME",
    )
    setting_flag(parser, "--min-improvement", "evaluate.min_improvement", type=float, metavar="X")
    setting_flag(
        parser,
        "--confidence",
        "evaluate.confidence",
        help="Require the paired-bootstrap interval at P (e.g. 0.95) to lie above 0.",
        type=float,
        metavar="P",
    )
    setting_flag(
        parser, "--bootstrap-resamples", "evaluate.bootstrap_resamples", type=int, metavar="N"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="Seed of the bootstrap resamples (default 0)."
    )
    parser.add_argument(
        "--fail-if-worse",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Exit 1 when the challenger is not better (default). --no-fail-if-worse only reports.",
    )
    parser.add_argument(
        "--pr-comment",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Post the report as a sticky PR comment (default: on pull_request events).",
    )
    parser.add_argument(
        "--commit-status",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"Set the commit status {STATUS_CONTEXT} (default: on GitHub with a token).",
    )
    parser.add_argument(
        "--comment-author",
        metavar="LOGIN",
        help="Login that owns our PR comment when GITHUB_TOKEN is not the workflow token "
        "(default: github-actions[bot], or $MLOPS_COMMENT_AUTHOR).",
    )
    parser.add_argument(
        "--artifact-name",
        default="compare-champion-report",
        metavar="NAME",
        help="Name of the uploaded report artifact, quoted where a table is shortened.",
    )


def _run(ctx: Context) -> StepResult:
    from mlops_actions.config import default_report_dir
    from mlops_actions.github import runtime
    from mlops_actions.github.pr_comment import github_env
    from mlops_actions.reports.comparison import render_comparison
    from mlops_actions.steps.compare_champion import CompareOptions, compare_champion

    args = ctx.args
    settings = ctx.settings()
    comparison = compare_champion(settings, args.candidate, CompareOptions(seed=args.seed))
    env = github_env()
    report = render_comparison(comparison, artifact=args.artifact_name, repo_url=env.repo_url)
    folder = ctx.report_dir or default_report_dir(settings)
    path = runtime.report_dir_file(folder, REPORT_NAME, report)
    assert path is not None
    summary = render_comparison(
        comparison, max_chars=SUMMARY_LIMIT, artifact=args.artifact_name, repo_url=env.repo_url
    )

    annotations: list[Annotation] = []
    outputs: dict[str, object] = {
        "is-better": comparison.is_better,
        "decision-reason": comparison.reason,
        "challenger-metrics": comparison.challenger_metrics,
        "champion-metrics": comparison.champion_metrics,
        "report-path": str(path),
        "champion-version": comparison.champion.version if comparison.champion else "",
        "candidate-uri": comparison.challenger.uri,
        "first-model": comparison.first_model,
    }
    if runtime.in_github_actions():
        outputs.update(_publish(comparison, args, env, annotations))
    if not comparison.is_better and not args.fail_if_worse:
        annotations.append(
            Annotation(
                "warning",
                f"challenger is not better (reported only, --no-fail-if-worse): "
                f"{comparison.reason}",
                title="mlops compare-champion",
            )
        )
    return StepResult(
        "compare-champion",
        outputs,
        passed=comparison.is_better or not args.fail_if_worse,
        message=comparison.reason,
        summary=summary,
        annotations=annotations,
    )


def _publish(
    comparison: ChampionComparison,
    args: argparse.Namespace,
    env: GitHubEnv,
    annotations: list[Annotation],
) -> dict[str, object]:
    """The sticky PR comment and the commit status; returns extra outputs."""
    from mlops_actions.github.pr_comment import github_client, repository, set_commit_status

    want_comment = args.pr_comment is not False and env.pr_number is not None
    want_status = args.commit_status is not False and env.sha is not None
    if args.pr_comment and env.pr_number is None:
        annotations.append(
            Annotation("warning", "no PR comment: this is not a pull_request event", title="mlops")
        )
    if not (want_comment or want_status):
        return {}
    if not env.can_call_api:
        annotations.append(
            Annotation(
                "warning",
                "no PR comment or commit status: set GITHUB_TOKEN (and GITHUB_REPOSITORY) "
                "in the step's env",
                title="mlops compare-champion",
            )
        )
        return {}
    assert env.repository is not None
    extra: dict[str, object] = {}
    client = github_client(env)
    try:
        repo = repository(client, env.repository)
        if want_comment:
            extra["comment-url"] = _post_comment(comparison, args, env, repo)
        if want_status:
            assert env.sha is not None
            set_commit_status(
                repo,
                env.sha,
                "success" if comparison.is_better else "failure",
                comparison.reason,
                context=STATUS_CONTEXT,
                target_url=env.run_url,
            )
    finally:
        client.close()
    return extra


def _post_comment(
    comparison: ChampionComparison, args: argparse.Namespace, env: GitHubEnv, repo: Repository
) -> str:
    """Create or update our sticky comment on the pull request; returns its URL."""
    from mlops_actions.github.pr_comment import (
        BOT_LOGIN,
        MAX_COMMENT_CHARS,
        comment_authors,
        upsert_sticky_comment,
    )
    from mlops_actions.reports.comparison import MARKER, render_comparison

    assert env.pr_number is not None
    body = render_comparison(
        comparison,
        max_chars=MAX_COMMENT_CHARS - len(MARKER) - 1,
        artifact=args.artifact_name,
        repo_url=env.repo_url,
    )
    authors = comment_authors() | ({args.comment_author} if args.comment_author else set())
    authors.add(BOT_LOGIN)
    return upsert_sticky_comment(repo, env.pr_number, MARKER, body, authors=authors).url


COMMAND = Command(
    "compare-champion",
    "Score challenger vs champion on the holdout",
    _add_arguments,
    _run,
    outputs=(
        ("is-better", "true when the challenger passed every rule"),
        ("decision-reason", "one sentence: why"),
        ("challenger-metrics", "metrics of the challenger on the holdout (JSON)"),
        ("champion-metrics", "metrics of the champion on the holdout (JSON; {} for a first model)"),
        ("report-path", "Markdown report to upload as an artifact"),
        ("champion-version", "the version behind alias champion (empty for a first model)"),
        ("first-model", "true when there was no champion yet"),
        ("comment-url", "the sticky PR comment, when one was posted"),
    ),
    description="Score the challenger and the current champion on the same holdout and decide "
    "whether the challenger is better (exit 0) or not (exit 1).",
)
