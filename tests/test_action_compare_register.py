"""compare-champion and register as actions, run by act on a pull_request event: the sticky PR
comment and the commit status go to a local fake of the GitHub API."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_actions.reports.comparison import MARKER
from tests.act_harness import CHECKOUT_STEP, ORIGIN, make_workspace, run_act
from tests.fakes.github_api import FakeGitHub

REPOSITORY = ORIGIN.removeprefix("https://github.com/").removesuffix(".git")
HEAD_SHA = "c0ffee" + "0" * 34

WORKFLOW = f"""\
name: evaluate
on: pull_request
permissions: {{}}
jobs:
  evaluate:
    runs-on: ubuntu-latest
    permissions:
      contents: read  # checkout
      pull-requests: write  # the sticky comment
      statuses: write  # the commit status
    steps:
{CHECKOUT_STEP}      - id: train
        uses: ./actions/train-azureml
        with:
          working-directory: examples/credit-default
          backend: local
      - id: compare
        uses: ./actions/compare-champion
        env:
          GITHUB_TOKEN: ${{{{ secrets.GITHUB_TOKEN }}}}
        with:
          working-directory: examples/credit-default
          candidate: ${{{{ steps.train.outputs.model-uri }}}}
      - id: register
        uses: ./actions/register
        with:
          working-directory: examples/credit-default
          candidate: ${{{{ steps.train.outputs.model-uri }}}}
      - env:
          BETTER: ${{{{ steps.compare.outputs.is-better }}}}
          FIRST: ${{{{ steps.compare.outputs.first-model }}}}
          COMMENT: ${{{{ steps.compare.outputs.comment-url }}}}
          VERSION: ${{{{ steps.register.outputs.model-version }}}}
        run: |
          echo "RESULT is-better=$BETTER"
          echo "RESULT first-model=$FIRST"
          echo "RESULT comment-url=$COMMENT"
          echo "RESULT model-version=$VERSION"
"""


@pytest.mark.act
def test_compare_and_register_actions_on_a_pull_request(
    tmp_path: Path, act_cache: Path, example_data: dict[str, bytes]
) -> None:
    files: dict[str, str | bytes] = {
        f"examples/credit-default/{name}": content for name, content in example_data.items()
    }
    workspace = make_workspace(tmp_path / "ws", {"evaluate.yml": WORKFLOW}, files)
    with FakeGitHub(allowed_tokens={"ghs_test"}) as github:
        pull = github.add_pull(REPOSITORY, "Better model", head_sha=HEAD_SHA)
        github.add_comment(REPOSITORY, pull.number, f"quoting {MARKER} by hand", user="alice")
        payload = {
            "number": pull.number,
            "pull_request": {"number": pull.number, "head": {"sha": HEAD_SHA, "ref": "feature"}},
            "repository": {"full_name": REPOSITORY},
        }
        run = run_act(
            workspace,
            "evaluate.yml",
            cache=act_cache,
            event="pull_request",
            payload=payload,
            env={"GITHUB_API_URL": github.base_url},
            secrets={"GITHUB_TOKEN": "ghs_test"},
        )
        comments = github.comments(REPOSITORY, pull.number)
        statuses = github.statuses(REPOSITORY, HEAD_SHA)
    assert run.job_succeeded("evaluate"), run.log[-5000:]
    values = run.values()
    assert values["is-better"] == "true" and values["first-model"] == "true"
    assert values["model-version"] == "1"
    ours = [c for c in comments if c.user != "alice"]
    assert len(ours) == 1 and MARKER in ours[0].body
    assert values["comment-url"].endswith(str(ours[0].id))
    assert [c.body for c in comments if c.user == "alice"] == [f"quoting {MARKER} by hand"]
    assert [(s.context, s.state) for s in statuses] == [("mlops/compare-champion", "success")]
