"""The `mlops` command line: subcommands, global options, exit codes, and a light --help."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from mlops_actions.commands import all_commands
from mlops_actions.commands.parser import build_parser
from tests.conftest import REPO, python_env

HEAVY = (
    "mlflow",
    "great_expectations",
    "evidently",
    "azure.ai.ml",
    "sklearn",
    "pandas",
    "pydantic",
)


def _command_lines() -> list[list[str]]:
    """Every subcommand, alias and nested subcommand the parser knows, e.g. ``["config",
    "check"]``; derived from ``all_commands()`` through the parser, so a new command is covered."""
    found: list[list[str]] = []

    def walk(parser: argparse.ArgumentParser, prefix: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found.append([*prefix, name])
                    walk(sub, [*prefix, name])

    walk(build_parser(), [])
    return found


COMMAND_NAMES = [name for command in all_commands() for name in (command.name, *command.aliases)]
COMMAND_LINES = _command_lines()


def _modules_after(argv: list[str]) -> set[str]:
    code = (
        "import sys\n"
        "from mlops_actions.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        f"print('LOADED', *[m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=python_env(), check=True
    )
    line = next(x for x in proc.stdout.splitlines() if x.startswith("LOADED"))
    return set(line.split()[1:])


@pytest.mark.parametrize(
    "argv",
    [["--help"], *[[*line, "--help"] for line in COMMAND_LINES]],
    ids=lambda a: " ".join(a),
)
def test_help_imports_no_heavy_library(argv: list[str]) -> None:
    assert _modules_after(argv) == set()


def test_every_command_and_alias_is_a_subcommand() -> None:
    top_level = {line[0] for line in COMMAND_LINES}
    assert set(COMMAND_NAMES) == top_level
    assert {"validate-data", "train", "performance-report", "config"} <= top_level


def test_every_action_has_a_subcommand() -> None:
    actions = sorted(p.parent.name for p in (REPO / "actions").glob("*/action.yml"))
    assert actions, "no generated actions found"
    assert set(actions) <= set(COMMAND_NAMES)


def test_global_options_work_before_and_after_the_subcommand(tmp_path, mlops) -> None:
    from tests.test_config import write_runnable

    config = write_runnable(tmp_path)
    before = mlops("--json", "--config", str(config), "config", "check")
    after = mlops("config", "check", "--config", str(config), "--json")
    assert before.code == after.code == 0
    assert json.loads(before.out) == json.loads(after.out)
    assert json.loads(after.out)["model-name"] == "churn"


def test_report_dir_receives_summary_and_outputs(tmp_path, mlops) -> None:
    from tests.test_config import write_runnable

    config = write_runnable(tmp_path)
    reports = tmp_path / "reports"
    result = mlops("config", "check", "--config", str(config), "--report-dir", str(reports))
    assert result.code == 0
    assert json.loads((reports / "config-check.json").read_text())["valid"] is True
    assert "is valid" in (reports / "config-check.md").read_text()


def test_outputs_and_summary_on_github(tmp_path, mlops, github_job) -> None:
    from tests.test_config import write_runnable

    config = write_runnable(tmp_path)
    result = mlops("config", "check", "--config", str(config))
    assert result.code == 0
    outputs = github_job.outputs()
    assert outputs["valid"] == "true" and outputs["model-name"] == "churn"
    assert "is valid" in github_job.summary.read_text()


def test_json_mode_failure_is_one_object(tmp_path, mlops) -> None:
    result = mlops("drift-report", "--config", str(tmp_path / "missing.yaml"), "--json")
    assert result.code == 2
    payload = json.loads(result.out)
    assert payload["exit-code"] == 2 and "config file not found" in payload["error"]


def test_bad_flags_exit_2_with_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mlops_actions", "config", "check", "--no-such-flag"],
        capture_output=True,
        text=True,
        env=python_env(),
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "unrecognized arguments: --no-such-flag" in proc.stderr


def test_no_command_prints_help_and_exits_2(mlops) -> None:
    result = mlops()
    assert result.code == 2
    assert "usage: mlops" in result.err


def test_console_script_version() -> None:
    exe = subprocess.run(
        [f"{sys.prefix}/bin/mlops", "--version"], capture_output=True, text=True, check=True
    )
    from mlops_actions import __version__

    assert exe.stdout.strip() == f"mlops-actions {__version__}"


def test_action_inputs_arrive_as_environment(tmp_path, mlops, monkeypatch) -> None:
    from tests.test_config import write_runnable

    config = write_runnable(tmp_path)
    monkeypatch.setenv("MLOPS_CONFIG", str(config))
    monkeypatch.setenv("MLOPS_INPUT_REPORT_DIR", str(tmp_path / "from-env"))
    result = mlops("config", "check")
    assert result.code == 0, result.err
    assert (tmp_path / "from-env" / "config-check.json").exists()
    # A flag on the command line wins over the environment.
    result = mlops("config", "check", "--report-dir", str(tmp_path / "flag"))
    assert (tmp_path / "flag" / "config-check.json").exists()


def test_action_input_conversion_errors_exit_2(tmp_path, mlops, monkeypatch) -> None:
    monkeypatch.setenv("MLOPS_INPUT_TASK", "clustering")
    result = mlops("init", str(tmp_path), "--model-name", "m")
    assert result.code == 2
    assert "input task = 'clustering' is invalid" in result.err
    assert "expected one of classification, regression" in result.err
    monkeypatch.setenv("MLOPS_INPUT_TASK", "regression")
    monkeypatch.setenv("MLOPS_INPUT_FORCE", "maybe")
    result = mlops("init", str(tmp_path), "--model-name", "m")
    assert result.code == 2 and "expected true or false" in result.err


def test_required_flags_may_come_as_action_inputs(tmp_path, mlops, monkeypatch) -> None:
    missing = mlops("compare-champion", "--config", str(tmp_path / "none.yaml"))
    assert missing.code == 2
    assert "the following arguments are required: --candidate" in missing.err
    monkeypatch.setenv("MLOPS_INPUT_CANDIDATE", "models:/m-123")
    given = mlops("compare-champion", "--config", str(tmp_path / "none.yaml"))
    assert given.code == 2
    assert "arguments are required" not in given.err
    assert "config file not found" in given.err
    assert given.err.count(str(tmp_path / "none.yaml")) == 1


@pytest.mark.parametrize(("raw", "expected"), [("false", False), ("TRUE", True), ("", True)])
def test_boolean_optional_inputs_read_true_and_false(monkeypatch, raw: str, expected) -> None:
    # `fail-if-worse: "false"` must mean --no-fail-if-worse; empty keeps the default (true).
    from mlops_actions.commands.parser import apply_action_inputs, subcommands

    _, parser = subcommands()["compare-champion"]
    args = parser.parse_args(["--candidate", "models:/m-1"])
    monkeypatch.setenv("MLOPS_INPUT_FAIL_IF_WORSE", raw)
    apply_action_inputs(parser, args)
    assert args.fail_if_worse is expected
