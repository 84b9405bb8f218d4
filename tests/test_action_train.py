"""The train-azureml action, run by act on the example with the local backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.act_harness import CHECKOUT_STEP, make_workspace, run_act

WORKFLOW = f"""\
name: train
on: push
permissions: {{}}
jobs:
  train:
    runs-on: ubuntu-latest
    permissions:
      contents: read  # checkout
    steps:
{CHECKOUT_STEP}      - id: train
        uses: ./actions/train-azureml
        with:
          working-directory: examples/credit-default
          backend: local
          param: |
            C=0.5
      - env:
          RUN_ID: ${{{{ steps.train.outputs.run-id }}}}
          MODEL: ${{{{ steps.train.outputs.model-uri }}}}
          METRICS: ${{{{ steps.train.outputs.metrics }}}}
          STATUS: ${{{{ steps.train.outputs.status }}}}
        run: |
          echo "RESULT run-id=$RUN_ID"
          echo "RESULT model-uri=$MODEL"
          echo "RESULT metrics=$METRICS"
          echo "RESULT status=$STATUS"
      - name: Lineage of the run, with the mlops the action put on PATH
        working-directory: examples/credit-default
        env:
          RUN_ID: ${{{{ steps.train.outputs.run-id }}}}
        run: echo "RESULT lineage=$(mlops lineage "$RUN_ID" --json)"
"""


@pytest.mark.act
def test_train_action_trains_the_example_locally(
    tmp_path: Path, act_cache: Path, example_data: dict[str, bytes]
) -> None:
    files: dict[str, str | bytes] = {
        f"examples/credit-default/{name}": content for name, content in example_data.items()
    }
    workspace = make_workspace(tmp_path / "ws", {"train.yml": WORKFLOW}, files)
    run = run_act(workspace, "train.yml", cache=act_cache)
    assert run.job_succeeded("train"), run.log[-4000:]
    values = run.values()
    assert values["status"] == "completed"
    assert values["model-uri"].startswith("models:/m-")
    assert len(values["run-id"]) == 32
    assert json.loads(values["metrics"])["val_roc_auc"] > 0.6
    lineage = json.loads(values["lineage"])
    assert lineage["run-id"] == values["run-id"]
    assert lineage["params"]["C"] == "0.5"  # --param reached the script and the run
    assert lineage["git-commit"] and lineage["data-version"].startswith("sha256:")
    assert lineage["model-uri"] == values["model-uri"]
