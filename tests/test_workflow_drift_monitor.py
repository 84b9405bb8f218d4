"""The drift-monitor reusable workflow with act: one run monitors two models of a repository, one
whose production batch is clean (no drift, nothing dispatched, no issue) and one whose batch
drifted (one dispatch of ml-pipeline.yml and one tracking issue), through the GitHub API of a local
fake. The performance part (`performance: true`) is not run: as wired it reads the local
endpoint's prediction log from the checkout, which a runner does not have (the report itself is
tested in tests/test_performance_report.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.act_harness import (
    MLOPS_ACTIONS_REF,
    ORIGIN,
    example_config,
    example_files,
    job_outputs,
    prepare_reusable_run,
    run_act,
    stub_repositories,
)
from tests.fakes.github_api import FakeGitHub

REPOSITORY = ORIGIN.removeprefix("https://github.com/").removesuffix(".git")
JOB = "drift-monitor/Drift and performance"


def _caller(name: str, config: str) -> str:
    return f"""\
  {name}:
    permissions:
      contents: read
      actions: write
      issues: write
      id-token: write
    uses: ./.github/workflows/drift-monitor.yml
    with:
      mlops-actions-ref: "{MLOPS_ACTIONS_REF}"
      working-directory: examples/credit-default
      config: {config}
"""


# In parallel: each model has its own tracking issue, so neither check sees the other's.
CALLER = (
    "name: monitor\non: workflow_dispatch\npermissions: {}\njobs:\n"
    + _caller("clean", "mlops-clean.yaml")
    + _caller("drifted", "mlops-drifted.yaml")
)
CLEAN_MODEL = "credit-default-stable"


@pytest.mark.act
@pytest.mark.slow
def test_drift_monitor_dispatches_retraining_once_on_drift(
    tmp_path: Path,
    act_cache: Path,
    example_data: dict[str, bytes],
    drifted_data: dict[str, bytes],
) -> None:
    files = example_files(
        example_data,
        {
            "mlops-clean.yaml": example_config(model={"name": CLEAN_MODEL}),
            "mlops-drifted.yaml": example_config(monitor={"current": "drifted/current.csv"}),
            "drifted/current.csv": drifted_data["data/current.csv"],
        },
    )
    folders = prepare_reusable_run(tmp_path, {"monitor.yml": CALLER}, ["drift-monitor.yml"], files)
    with FakeGitHub(allowed_tokens={"ghs_test"}) as github:
        github.add_repo(REPOSITORY)
        github.add_workflow(REPOSITORY, "ml-pipeline.yml", inputs=["reason", "report-url"])
        run = run_act(
            folders.workspace,
            "monitor.yml",
            cache=act_cache,
            event="workflow_dispatch",
            env=folders.env(GITHUB_API_URL=github.base_url),
            secrets={"GITHUB_TOKEN": "ghs_test"},  # github.token; the caller passes no secrets
            local_repositories=stub_repositories(),
            timeout=900,
        )
        dispatches = github.dispatches
        issues = list(github.repo(REPOSITORY).issues.values())

    for caller in ("clean", "drifted"):
        assert run.job_succeeded(f"{caller}/{JOB}"), f"{caller}:\n{run.log[-6000:]}"
    clean = job_outputs(run, f"clean/{JOB}")
    assert clean["drift-detected"] == "false"
    assert clean.get("retrain-dispatched", "false") == "false"
    assert clean.get("tracking-issue", "") == ""
    drift = job_outputs(run, f"drifted/{JOB}")
    assert drift["drift-detected"] == "true"
    assert "utilisation" in drift["drifted-columns"]
    assert drift["retrain-dispatched"] == "true"

    [dispatch] = dispatches
    assert dispatch.workflow_file == "ml-pipeline.yml"
    assert dispatch.ref == "main"
    assert "drift" in dispatch.inputs["reason"].lower()
    assert dispatch.inputs["report-url"].startswith("http")
    [issue] = issues
    assert issue.state == "open" and "mlops-monitoring" in issue.labels
    assert (issue.body or "").startswith("<!-- mlops-actions:tracking model=credit-default -->")
    assert "utilisation" in (issue.body or "")
    assert drift["tracking-issue"].endswith(f"/issues/{issue.number}")
    assert (folders.artifacts / "reports-drift-monitor").is_dir()
    assert "Install mlops-actions for performance-report" not in run.log
