"""The pr-evaluation reusable workflow with act on a pull_request event: a caller that passes no
secrets evaluates the PR's model against a champion already in the registry (a deliberately weak
one, so the comparison is real and says yes), keeps one sticky comment with the comparison table
and sets the commit status, and neither registers, promotes nor deploys anything."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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
from tests.fakes.github_api import FakeGitHub

REPOSITORY = ORIGIN.removeprefix("https://github.com/").removesuffix(".git")
HEAD_SHA = "feed" + "0" * 36
JOB = "Evaluate the pull request's model"
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
    assert outputs["comment-url"].endswith(str(comment.id))
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
