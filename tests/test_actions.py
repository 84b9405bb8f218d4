"""The actions: generated from the CLI, statically sound, and run for real with act."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.act_harness import CHECKOUT_STEP, make_workspace, run_act
from tests.conftest import REPO, python_env

ACTION_FILES = sorted([REPO / "action.yml", *(REPO / "actions").glob("*/action.yml")])


def test_action_files_are_generated_from_the_cli() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "generate_actions.py"), "--check"],
        capture_output=True,
        text=True,
        env=python_env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("path", ACTION_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_inputs_reach_the_script_only_through_env(path: Path) -> None:
    action = yaml.safe_load(path.read_text())
    steps = action["runs"]["steps"]
    assert action["runs"]["using"] == "composite"
    mapped = set()
    for step in steps:
        assert "${{" not in step["run"], f"{path}: expression inside run: {step['name']}"
        for key, value in step.get("env", {}).items():
            mapped.add(key)
            assert re.fullmatch(r"\$\{\{ inputs\.[a-z0-9-]+ \}\}", value), (key, value)
    for name in action["inputs"]:
        if name == "working-directory":
            continue
        env = (
            "MLOPS_CONFIG" if name == "config" else "MLOPS_INPUT_" + name.replace("-", "_").upper()
        )
        if name == "command":
            env = "MLOPS_COMMAND"
        assert env in mapped, f"{path}: input {name} never reaches the step"
    for name, output in action.get("outputs", {}).items():
        assert output["value"] == f"${{{{ steps.run.outputs.{name} }}}}"


def test_actions_match_githubs_schema() -> None:
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-actions",
            *map(str, ACTION_FILES),
        ],
        capture_output=True,
        text=True,
        env=python_env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


ROOT_ACTION_WORKFLOW = f"""\
name: root-action
on: push
permissions: {{}}
jobs:
  bad-command:
    runs-on: ubuntu-latest
    permissions:
      contents: read  # checkout
    steps:
{CHECKOUT_STEP}      - uses: ./
        with:
          command: deploy-everything
"""


@pytest.mark.act
def test_root_action_rejects_an_unknown_command(tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path / "ws", {"root.yml": ROOT_ACTION_WORKFLOW})
    run = run_act(workspace, "root.yml", cache=tmp_path / "cache")
    assert run.code != 0, run.log
    [(props, message)] = run.annotations("error")
    assert props["title"] == "mlops-actions"
    assert "unknown command 'deploy-everything'" in message
    assert "validate-data" in message
