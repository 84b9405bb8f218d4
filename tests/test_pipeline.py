"""`mlops pipeline run` on a copy of the example: it runs the steps that exist, in order."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_actions.pipeline import STEPS
from tests.conftest import EXAMPLE, python_env


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of examples/credit-default with freshly generated data."""
    copy = tmp_path / "credit-default"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("data", ".mlops", "reports"))
    subprocess.run(
        [
            sys.executable,
            str(copy / "generate_data.py"),
            "--out",
            str(copy / "data"),
            "--rows",
            "2000",
        ],
        check=True,
        capture_output=True,
        env=python_env(),
    )
    return copy


def test_pipeline_runs_available_steps_and_names_the_rest(example: Path, mlops) -> None:  # type: ignore[no-untyped-def]
    result = mlops(
        "pipeline", "run", "--approve", "--config", str(example / "mlops.yaml"), "--json"
    )
    outputs = json.loads(result.out)
    assert outputs["steps"]["validate-data"] == "done", result.err
    assert outputs["validate-data.success"] is True
    assert outputs["validate-data.data-version"].startswith("train=sha256:")
    assert (Path(outputs["report-dir"]) / "validate-data.md").is_file()
    states = [outputs["steps"][step] for step in STEPS]
    # Everything after the first step that is not built yet is skipped, never run half-way.
    if "not available" in states:
        first = states.index("not available")
        assert set(states[first + 1 :]) <= {"skipped"}
        assert outputs["complete"] is False
        assert result.code == 0


def test_pipeline_stops_at_invalid_data(example: Path, mlops) -> None:  # type: ignore[no-untyped-def]
    train = example / "data" / "train.csv"
    lines = train.read_text().splitlines()
    # A negative age breaks the suite's range expectation.
    lines[1] = lines[1].split(",", 1)[0] + ",-5," + lines[1].split(",", 2)[2]
    train.write_text("\n".join(lines) + "\n")
    result = mlops(
        "pipeline", "run", "--approve", "--config", str(example / "mlops.yaml"), "--json"
    )
    assert result.code == 1
    outputs = json.loads(result.out)
    assert outputs["steps"]["validate-data"] == "failed"
    assert {outputs["steps"][step] for step in STEPS[1:]} == {"skipped"}


def test_pipeline_with_bad_config_exits_2(tmp_path: Path, mlops) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "mlops.yaml").write_text("model: {name: x}\n")
    result = mlops("pipeline", "run", "--config", str(tmp_path / "mlops.yaml"))
    assert result.code == 2
    assert "required key is missing" in result.err
