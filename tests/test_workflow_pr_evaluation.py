"""The pr-evaluation reusable workflow with act on a pull_request event: a caller that passes no
secrets evaluates the PR's model against a champion already in the registry (a deliberately weak
one, so the comparison is real and says yes), keeps one sticky comment with the comparison table
and sets the commit status, and neither registers, promotes nor deploys anything. The evaluate job
(the PR's code) only writes the report artifact; the report job posts it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlops_actions.reports.comparison import MARKER
from tests.act_harness import (
    MLOPS_ACTIONS_REF,
    ORIGIN,
    example_config,
    example_files,
    example_project,
    job_outputs,
    prepare_reusable_run,
    run_act,
    seed_champion,
    stub_repositories,
)
from tests.conftest import REPO
from tests.fakes.github_api import FakeGitHub

REPOSITORY = ORIGIN.removeprefix("https://github.com/").removesuffix(".git")
HEAD_SHA = "feed" + "0" * 36
JOB = "Evaluate the pull request's model"
REPORT_JOB = "Report the evaluation on the pull request"
# The champion ignores the strongest signals: the PR's model (the example as it is) beats it.
WEAK = example_config(train={"params": {"drop-features": "utilisation,late_payments_12m"}})

CALLER = f"""\
name: pr
on: pull_request
permissions: {{}}
jobs:
  evaluate:
    permissions:
      contents: read
      pull-requests: write
      statuses: write
      id-token: write
    uses: ./.github/workflows/pr-evaluation.yml
    with:
      mlops-actions-ref: "{MLOPS_ACTIONS_REF}"
      working-directory: examples/credit-default
"""


def _registry(uri: str) -> tuple[list[str], dict[str, str], int]:
    """Versions of credit-default, its aliases, and how many training runs the store holds."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    versions = sorted(str(v.version) for v in client.search_model_versions("name='credit-default'"))
    aliases = {k: str(v) for k, v in client.get_registered_model("credit-default").aliases.items()}
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    return versions, aliases, len(runs)


@pytest.mark.act
@pytest.mark.slow
def test_pr_evaluation_comments_the_comparison_and_deploys_nothing(
    tmp_path: Path, act_cache: Path, example_data: dict[str, bytes]
) -> None:
    project = example_project(tmp_path / "seed-project", example_data, {"mlops-weak.yaml": WEAK})
    registry = tmp_path / "registry"
    registry.mkdir()
    tracking_uri = f"sqlite:///{registry / 'mlflow.db'}"
    champion = seed_champion(
        project, tracking_uri, config="mlops-weak.yaml", reports=tmp_path / "seed-reports"
    )
    before = _registry(tracking_uri)

    folders = prepare_reusable_run(
        tmp_path, {"pr.yml": CALLER}, ["pr-evaluation.yml"], example_files(example_data)
    )
    with FakeGitHub(allowed_tokens={"ghs_test"}) as github:
        pull = github.add_pull(REPOSITORY, "Use every feature", head_sha=HEAD_SHA)
        payload = {
            "number": pull.number,
            "pull_request": {
                "number": pull.number,
                "head": {"sha": HEAD_SHA, "ref": "feature", "repo": {"full_name": REPOSITORY}},
            },
            "repository": {"full_name": REPOSITORY},
        }
        run = run_act(
            folders.workspace,
            "pr.yml",
            cache=act_cache,
            event="pull_request",
            payload=payload,
            # The champion lives where the PR's run trains: the store the registry is in.
            env=folders.env(GITHUB_API_URL=github.base_url, MLFLOW_TRACKING_URI=tracking_uri),
            secrets={"GITHUB_TOKEN": "ghs_test"},  # github.token; the caller passes no secrets
            local_repositories=stub_repositories(),
            timeout=900,
        )
        comments = github.comments(REPOSITORY, pull.number)
        statuses = github.statuses(REPOSITORY, HEAD_SHA)

    assert run.job_succeeded(JOB), run.log[-6000:]
    assert run.code == 0
    outputs = job_outputs(run, JOB)
    assert outputs["first-model"] == "false"
    assert outputs["champion-version"] == champion
    assert outputs["is-better"] == "true", outputs.get("decision-reason")

    [comment] = comments
    assert comment.body.startswith(MARKER)
    assert re.search(r"^\| metric \| champion \| challenger \| delta \|", comment.body, re.M)
    assert re.search(r"^\| roc&#95;auc ↑", comment.body, re.M)
    assert not outputs.get("comment-url")  # evaluate posts nothing: it has no token
    assert run.job_succeeded(REPORT_JOB), run.log[-6000:]
    assert job_outputs(run, REPORT_JOB)["comment-url"].endswith(str(comment.id))
    # The comment is the evaluate job's report, as data: the report job loads no model.
    report = folders.artifacts / "pr-evaluation-comment" / "compare-champion-report.md"
    text = report.read_text(encoding="utf-8")
    assert comment.body == f"{MARKER}\n{text.removeprefix(MARKER).lstrip(chr(10))}"
    report_log = [line for line in run.log.splitlines() if REPORT_JOB in line]
    assert report_log
    assert not [x for x in report_log if "train-azureml" in x or "mlops compare-champion" in x]
    assert [(s.context, s.state) for s in statuses] == [("mlops/compare-champion", "success")]

    # Evaluated, never shipped: one more training run, the registry and champion untouched.
    versions, aliases, runs = _registry(tracking_uri)
    assert (versions, aliases) == (before[0], before[1])
    assert versions == [champion] and aliases["champion"] == champion
    assert runs == before[2] + 1
    reports = sorted(p.name for p in (folders.artifacts / "reports-pr-evaluation").iterdir())
    assert any(name.startswith("compare-champion") for name in reports), reports
    assert not [n for n in reports if n.startswith(("register", "canary", "smoke"))], reports
    for step in ("register", "canary-deploy", "smoke-test"):
        assert f"Install mlops-actions for {step}" not in run.log
    assert "azure/login called" not in run.log


def _post_script() -> str:
    """The Python the report job's posting step runs (its heredoc)."""
    doc = yaml.safe_load((REPO / ".github" / "workflows" / "pr-evaluation.yml").read_text())
    (step,) = [s for s in doc["jobs"]["report"]["steps"] if s.get("id") == "post"]
    run: str = step["run"]
    return run.split("<<'PY'\n", 1)[1].rsplit("PY\n", 1)[0]


@pytest.mark.parametrize(
    ("verdict", "state", "code"),
    [("true", "success", 0), ("false", "failure", 0), ("yes", "error", 1), ("", "error", 1)],
)
def test_report_step_posts_the_artifact_as_data_and_validates_the_verdict(
    tmp_path: Path, verdict: str, state: str, code: int
) -> None:
    """What evaluate hands over is untrusted: an oversized report is capped at GitHub's 65,536
    characters, and only `true`/`false` make a success or failure status (anything else: error)."""
    report_dir = tmp_path / "artifact"
    report_dir.mkdir()
    hostile = MARKER + "\n" + "| x |\n" * 100_000 + "$(touch pwned) ${{ github.token }}"
    (report_dir / "compare-champion-report.md").write_text(hostile, encoding="utf-8")
    output = tmp_path / "output"
    with FakeGitHub(allowed_tokens={"ghs_test"}) as github:
        pull = github.add_pull(REPOSITORY, "PR", head_sha=HEAD_SHA)
        event = tmp_path / "event.json"
        event.write_text(
            json.dumps(
                {
                    "number": pull.number,
                    "pull_request": {"number": pull.number, "head": {"sha": HEAD_SHA}},
                }
            )
        )
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MLOPS_"))},
            "PYTHONPATH": str(REPO / "src"),
            "GITHUB_TOKEN": "ghs_test",
            "GITHUB_API_URL": github.base_url,
            "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_OUTPUT": str(output),
            "MLOPS_REPORT_DIR": str(report_dir),
            "MLOPS_IS_BETTER": verdict,
            "MLOPS_DECISION_REASON": "line one\n::error::two",
        }
        proc = subprocess.run(
            [sys.executable, "-P", "-"],
            input=_post_script(),
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )
        comments = github.comments(REPOSITORY, pull.number)
        statuses = github.statuses(REPOSITORY, HEAD_SHA)
    assert proc.returncode == code, proc.stdout + proc.stderr
    [comment] = comments
    assert comment.body.startswith(MARKER + "\n| x |")
    assert len(comment.body) <= 65536
    assert not (tmp_path / "pwned").exists()
    [status] = statuses
    assert (status.context, status.state) == ("mlops/compare-champion", state)
    if state != "error":
        assert status.description == "line one ::error::two"
    assert output.read_text().startswith("comment-url=")
