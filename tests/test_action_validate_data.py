"""The validate-data action, run by act on the example: clean data passes, corrupted data fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.act_harness import CHECKOUT_STEP, make_workspace, run_act

WORKFLOW = f"""\
name: validate
on: push
permissions: {{}}
jobs:
  clean:
    runs-on: ubuntu-latest
    permissions:
      contents: read  # checkout
    steps:
{CHECKOUT_STEP}      - id: validate
        uses: ./actions/validate-data
        with:
          working-directory: examples/credit-default
          datasets: train
      - env:
          SUCCESS: ${{{{ steps.validate.outputs.success }}}}
          RATIO: ${{{{ steps.validate.outputs.success-ratio }}}}
          VERSION: ${{{{ steps.validate.outputs.data-version }}}}
          REPORT: ${{{{ steps.validate.outputs.report-path }}}}
        run: |
          echo "RESULT success=$SUCCESS"
          echo "RESULT ratio=$RATIO"
          echo "RESULT version=$VERSION"
          test -s "$REPORT" && echo "RESULT report=exists"
  corrupted:
    runs-on: ubuntu-latest
    permissions:
      contents: read  # checkout
    steps:
{CHECKOUT_STEP}      - uses: ./actions/validate-data
        with:
          working-directory: examples/credit-default
          data: corrupted/train.csv
"""


def _corrupt(csv: bytes) -> bytes:
    lines = csv.decode().splitlines()
    header = lines[0].split(",")
    age = header.index("age")
    for i in range(1, 40):
        cells = lines[i].split(",")
        cells[age] = "-5"
        lines[i] = ",".join(cells)
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.act
def test_validate_data_action_passes_clean_and_fails_corrupted_data(
    tmp_path: Path, act_cache: Path, example_data: dict[str, bytes]
) -> None:
    files: dict[str, str | bytes] = {
        f"examples/credit-default/{name}": content for name, content in example_data.items()
    }
    files["examples/credit-default/corrupted/train.csv"] = _corrupt(example_data["data/train.csv"])
    workspace = make_workspace(tmp_path / "ws", {"validate.yml": WORKFLOW}, files)
    run = run_act(workspace, "validate.yml", cache=act_cache)
    assert run.job_succeeded("clean"), run.log[-4000:]
    assert run.job_failed("corrupted"), run.log[-4000:]
    values = run.values()
    assert values["success"] == "true"
    assert float(values["ratio"]) == 1.0
    assert values["version"].startswith("sha256:")
    assert values["report"] == "exists"
    assert run.code != 0  # the corrupted job failed the run
    errors = run.annotations("error")
    assert any("age" in message for _, message in errors), errors
    assert any(props.get("file", "").endswith("suite.json") for props, _ in errors), errors
