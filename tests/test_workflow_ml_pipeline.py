"""The ml-pipeline reusable workflow end to end with act (local backends): every job runs, job
outputs flow between jobs, and the MLflow state travels as an artifact (the negative cases are
in tests/test_workflow_negative.py). Remote actions are replaced by stubs (tests/act_stubs) that
behave like them for this purpose; act does not emulate `environment:` approvals, which
tests/test_workflows_static.py checks instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.act_harness import (
    MLOPS_ACTIONS_REF,
    STUB_PINS,
    example_files,
    prepare_reusable_run,
    run_act,
    stub_repositories,
)
from tests.conftest import REPO

SHA = MLOPS_ACTIONS_REF

CALLER = f"""\
name: caller
on: push
permissions: {{}}
jobs:
  pipeline:
    permissions:
      contents: read
      id-token: write
      statuses: write
    uses: ./.github/workflows/ml-pipeline.yml
    with:
      mlops-actions-ref: "{SHA}"
      working-directory: examples/credit-default
      backend: local
  report:
    needs: pipeline
    if: always()
    runs-on: ubuntu-latest
    permissions: {{}}
    steps:
      - env:
          VERSION: ${{{{ needs.pipeline.outputs.model-version }}}}
          BETTER: ${{{{ needs.pipeline.outputs.is-better }}}}
          OUTCOME: ${{{{ needs.pipeline.outputs.outcome }}}}
          DATA: ${{{{ needs.pipeline.outputs.data-version }}}}
        run: |
          echo "RESULT model-version=$VERSION"
          echo "RESULT is-better=$BETTER"
          echo "RESULT outcome=$OUTCOME"
          echo "RESULT data-version=$DATA"
"""


def test_pins_of_the_stubs_are_the_pins_of_the_workflow() -> None:
    text = (REPO / ".github" / "workflows" / "ml-pipeline.yml").read_text()
    for pin in STUB_PINS:
        assert pin in text


@pytest.mark.act
@pytest.mark.slow
def test_ml_pipeline_runs_end_to_end_with_the_local_backends(
    tmp_path: Path, act_cache: Path, example_data: dict[str, bytes]
) -> None:
    folders = prepare_reusable_run(
        tmp_path, {"caller.yml": CALLER}, ["ml-pipeline.yml"], example_files(example_data)
    )
    artifacts = folders.artifacts
    run = run_act(
        folders.workspace,
        "caller.yml",
        cache=act_cache,
        # The jobs share MLflow state under $HOME, as on a runner; a fresh one per test.
        env=folders.env(),
        local_repositories=stub_repositories(),
        timeout=1500,
    )
    for job in (
        "Validate data",
        "Train",
        "Compare with the champion",
        "Register the challenger",
        "Deploy (canary, smoke test, promote or roll back)",
    ):
        assert run.job_succeeded(job), f"{job}:\n{run.log[-6000:]}"
    values = run.values()
    assert values["data-version"].startswith("train=sha256:")
    assert values["is-better"] == "true"
    assert values["model-version"] == "1"
    assert values["outcome"] == "promoted"
    assert (artifacts / "mlops-state-register" / "mlflow.db").is_file()
    assert (artifacts / "reports-compare-champion").is_dir()
    assert "azure/login called" not in run.log
