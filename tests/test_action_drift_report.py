"""The drift-report action, run by act: no drift on clean data; drift on a drifted batch, which
dispatches retraining and opens the tracking issue through the GitHub API (a local fake)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.act_harness import CHECKOUT_STEP, ORIGIN, make_workspace, run_act
from tests.fakes.github_api import FakeGitHub

REPOSITORY = ORIGIN.removeprefix("https://github.com/").removesuffix(".git")


def _job(name: str, current: str) -> str:
    return f"""\
  {name}:
    runs-on: ubuntu-latest
    permissions:
      contents: read  # checkout
      actions: write  # dispatch retraining
      issues: write  # the tracking issue
    steps:
{CHECKOUT_STEP}      - id: drift
        uses: ./actions/drift-report
        env:
          GITHUB_TOKEN: ${{{{ secrets.GITHUB_TOKEN }}}}
        with:
          working-directory: examples/credit-default
          reference: data/train.csv
          current: {current}
          model: none
          on-drift: dispatch
      - env:
          DRIFT: ${{{{ steps.drift.outputs.drift-detected }}}}
          SHARE: ${{{{ steps.drift.outputs.drifted-share }}}}
          COLUMNS: ${{{{ steps.drift.outputs.drifted-columns }}}}
          REPORT: ${{{{ steps.drift.outputs.report-path }}}}
        run: |
          echo "RESULT {name}-drift=$DRIFT"
          echo "RESULT {name}-share=$SHARE"
          echo "RESULT {name}-columns=$COLUMNS"
          test -s "$REPORT" && echo "RESULT {name}-report=exists"
"""


WORKFLOW = (
    "name: monitor\non: workflow_dispatch\npermissions: {}\njobs:\n"
    + _job("clean", "data/holdout.csv")
    + _job("drifted", "drifted/current.csv")
)


@pytest.mark.act
def test_drift_report_action_clean_then_drifted_with_dispatch(
    tmp_path: Path,
    act_cache: Path,
    example_data: dict[str, bytes],
    drifted_data: dict[str, bytes],
) -> None:
    files: dict[str, str | bytes] = {
        f"examples/credit-default/{name}": content for name, content in example_data.items()
    }
    files["examples/credit-default/drifted/current.csv"] = drifted_data["data/current.csv"]
    workspace = make_workspace(tmp_path / "ws", {"monitor.yml": WORKFLOW}, files)
    with FakeGitHub(allowed_tokens={"ghs_test"}) as github:
        github.add_repo(REPOSITORY)
        github.add_workflow(REPOSITORY, "ml-pipeline.yml", inputs=["reason", "report-url"])
        for job in ("clean", "drifted"):  # one at a time: the tracking issue is shared
            run = run_act(
                workspace,
                "monitor.yml",
                cache=act_cache,
                event="workflow_dispatch",
                job=job,
                env={"GITHUB_API_URL": github.base_url},
                secrets={"GITHUB_TOKEN": "ghs_test"},
            )
            assert run.job_succeeded(job), run.log[-5000:]
            values = run.values()
            assert values[f"{job}-report"] == "exists"
            if job == "clean":
                assert values["clean-drift"] == "false"
                assert github.dispatches == []
        dispatches = github.dispatches
        issues = list(github.repo(REPOSITORY).issues.values())
    assert values["drifted-drift"] == "true"
    assert float(values["drifted-share"]) >= 0.5
    assert "utilisation" in values["drifted-columns"]
    [dispatch] = dispatches
    assert dispatch.workflow_file == "ml-pipeline.yml"
    assert "drift" in dispatch.inputs["reason"].lower()
    assert dispatch.inputs["report-url"].startswith("http")
    [issue] = issues
    assert issue.state == "open" and "utilisation" in issue.body
