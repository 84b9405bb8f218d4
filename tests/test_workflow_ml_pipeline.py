"""The ml-pipeline reusable workflow end to end with act (local backends): every job runs, job
outputs flow between jobs, the MLflow state travels as an artifact, and a worse model stops at
the comparison. Remote actions are replaced by stubs (tests/act_stubs) that behave like them for
this purpose; act does not emulate `environment:` approvals, which tests/test_workflows_static.py
checks instead."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.act_harness import make_workspace, run_act
from tests.conftest import REPO

STUBS = REPO / "tests" / "act_stubs"
PINS = {
    "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1": "checkout",
    "actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97": "setup-python",
    "actions/upload-artifact@bbbca2ddaa5d8feaa63e36b76fdaad77386f024f": "upload-artifact",
    "actions/download-artifact@3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c": "download-artifact",
    "azure/login@f5d393ae46f8fde4be8b75f32e3fc50e654ad0ca": "azure-login",
}
SHA = "0" * 40

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
    for pin in PINS:
        assert pin in text


@pytest.mark.act
@pytest.mark.slow
def test_ml_pipeline_runs_end_to_end_with_the_local_backends(
    tmp_path: Path, act_cache: Path, example_data: dict[str, bytes]
) -> None:
    files: dict[str, str | bytes] = {
        f"examples/credit-default/{name}": content for name, content in example_data.items()
    }
    workflows = {
        "caller.yml": CALLER,
        "ml-pipeline.yml": (REPO / ".github" / "workflows" / "ml-pipeline.yml").read_text(),
    }
    workspace = make_workspace(tmp_path / "ws", workflows, files)
    checkouts = tmp_path / "checkouts" / "mlops-actions"
    shutil.copytree(workspace, checkouts / "mlops-actions", ignore=shutil.ignore_patterns(".git"))
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    run = run_act(
        workspace,
        "caller.yml",
        cache=act_cache,
        env={
            "MLOPS_TEST_CHECKOUT_ROOT": str(tmp_path / "checkouts"),
            "MLOPS_TEST_ARTIFACTS": str(artifacts),
            # The jobs share MLflow state under $HOME, as on a runner; a fresh one per test.
            "HOME": str(home),
            "UV_CACHE_DIR": str(Path.home() / ".cache" / "uv"),
        },
        local_repositories={pin: STUBS / name for pin, name in PINS.items()},
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
