"""mlops.yaml: valid files load into typed settings; each bad one is one actionable exit-2 line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlops_actions.config import Settings, json_schema, load_settings
from tests.conftest import EXAMPLE, python_env

GOOD = """\
model:
  name: churn
  task: classification
data:
  train: data/train.csv
  holdout: data/holdout.csv
  target: churned
evaluate:
  primary_metric: roc_auc
  min_improvement: 0.01
"""


RUNNABLE = GOOD + "validation:\n  suite: suite.json\nsmoke:\n  cases: cases.jsonl\n"
"""GOOD with a suite and smoke cases: with `write_runnable`, a config a run can start from."""


def write_runnable(tmp_path: Path, text: str = RUNNABLE) -> Path:
    """mlops.yaml plus every file it names: train.py, the data, the suite, the smoke cases."""
    (tmp_path / "data").mkdir(exist_ok=True)
    for name in ("train", "holdout"):
        (tmp_path / "data" / f"{name}.csv").write_text("age,churned\n30,0\n41,1\n")
    (tmp_path / "train.py").write_text("print('training')\n")
    (tmp_path / "suite.json").write_text('{"name": "s", "expectations": []}\n')
    (tmp_path / "cases.jsonl").write_text('{"input": {"age": 30}, "expected": 0}\n')
    return write(tmp_path, text)


def write(tmp_path: Path, text: str | bytes, name: str = "mlops.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_good_config_loads_with_defaults_and_resolved_paths(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD))
    assert isinstance(settings, Settings)
    assert settings.model.name == "churn"
    assert settings.data.train == (tmp_path / "data" / "train.csv").resolve()
    assert settings.train.backend == "local"
    assert settings.deploy.steps == [10, 50, 100]
    assert settings.validation.min_success_ratio == 1.0
    assert settings.train.working_dir == tmp_path.resolve()


def test_tracking_uri_defaults_to_sqlite_next_to_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.resolved_tracking_uri() == f"sqlite:///{tmp_path.resolve()}/.mlops/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert settings.resolved_tracking_uri() == "http://127.0.0.1:5000"


def test_env_interpolation_with_and_without_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODEL_NAME", "from-env")
    text = GOOD.replace("name: churn", "name: ${MODEL_NAME}").replace(
        "target: churned", "target: ${TARGET_COLUMN:-churned}"
    )
    settings = load_settings(write(tmp_path, text))
    assert settings.model.name == "from-env"
    assert settings.data.target == "churned"


def test_example_config_is_valid() -> None:
    settings = load_settings(EXAMPLE / "mlops.yaml")
    assert settings.model.name == "credit-default"
    assert settings.evaluate.guardrails[0].metric == "recall"


def test_schema_documents_keys_and_defaults() -> None:
    schema = json_schema()
    assert set(schema["properties"]) == {
        "model", "tracking_uri", "registry_uri", "data", "validation", "train", "evaluate",
        "deploy", "smoke", "monitor",
    }  # fmt: skip
    assert schema["additionalProperties"] is False
    validation = schema["$defs"]["ValidationSettings"]["properties"]
    assert validation["min_success_ratio"]["default"] == 1.0
    assert "description" in validation["min_success_ratio"]


# (name, yaml text or bytes, expected fragments of the one-line message)
BAD: list[tuple[str, str | bytes, list[str]]] = [
    ("yaml syntax", "model:\n  name: [unclosed\n", ["mlops.yaml:", "not valid YAML"]),
    ("tab indentation", "model:\n\tname: x\n", ["mlops.yaml:2:", "not valid YAML"]),
    ("empty file", "", ["is empty", "mlops init"]),
    ("only comments", "# nothing here\n", ["is empty"]),
    ("top level list", "- model\n- data\n", ["must be a mapping"]),
    ("non utf8", b"model:\n  name: caf\xe9\n", ["not UTF-8", "byte"]),
    (
        "unknown key with suggestion",
        GOOD.replace("min_improvement", "min_improvment"),
        [
            "mlops.yaml:10:3",
            "evaluate.min_improvment",
            "unknown key",
            "did you mean 'min_improvement'",
        ],
    ),
    (
        "misspelt required key",
        GOOD.replace("primary_metric", "primery_metric"),
        ["evaluate.primery_metric", "unknown key", "did you mean 'primary_metric'"],
    ),
    (
        "unknown top-level key",
        GOOD + "deploymnet: {}\n",
        ["mlops.yaml:11:1", "did you mean 'deploy'"],
    ),
    (
        "missing required key",
        GOOD.replace("  target: churned\n", ""),
        ["data.target", "required key is missing", "add `target:"],
    ),
    (
        "missing section",
        "\n".join(GOOD.splitlines()[:7]) + "\n",
        ["evaluate", "required key is missing"],
    ),
    (
        "bad enum with suggestion",
        GOOD.replace("task: classification", "task: clasification"),
        ["mlops.yaml:3:9", "model.task", "did you mean 'classification'"],
    ),
    (
        "metric not for task",
        GOOD.replace("primary_metric: roc_auc", "primary_metric: rocauc"),
        [
            "mlops.yaml:9:19",
            "evaluate.primary_metric",
            "'rocauc' is not a classification metric",
            "did you mean 'roc_auc'",
        ],
    ),
    (
        "regression metric for classification",
        GOOD.replace("primary_metric: roc_auc", "primary_metric: rmse"),
        ["'rmse' is not a classification metric"],
    ),
    (
        "wrong type",
        GOOD.replace("min_improvement: 0.01", "min_improvement: lots"),
        ["evaluate.min_improvement", "valid number", "'lots'"],
    ),
    (
        "negative threshold",
        GOOD.replace("min_improvement: 0.01", "min_improvement: -0.5"),
        ["evaluate.min_improvement", "greater than or equal to 0", "-0.5"],
    ),
    (
        "ratio above one",
        GOOD + "validation:\n  min_success_ratio: 1.5\n",
        ["validation.min_success_ratio", "less than or equal to 1"],
    ),
    (
        "list where mapping expected",
        GOOD.replace("model:\n  name: churn\n  task: classification\n", "model:\n  - churn\n"),
        ["mlops.yaml:2:3", "model", "expected a mapping"],
    ),
    (
        "mapping where list expected",
        GOOD + "deploy:\n  steps: {a: 1}\n",
        ["deploy.steps", "expected a list"],
    ),
    (
        "deploy steps not increasing",
        GOOD + "deploy:\n  steps: [50, 10, 100]\n",
        ["deploy", "must increase"],
    ),
    (
        "duplicate key",
        GOOD + "model:\n  name: again\n",
        ["mlops.yaml:11:1", "duplicate key 'model'"],
    ),
    (
        "unset env var",
        GOOD.replace("name: churn", "name: ${MLOPS_TEST_SURELY_UNSET}"),
        [
            "mlops.yaml:2:9",
            "MLOPS_TEST_SURELY_UNSET is not set",
            "${MLOPS_TEST_SURELY_UNSET:-value}",
        ],
    ),
    (
        "bad model name",
        GOOD.replace("name: churn", "name: 'my model!'"),
        ["model.name", "should match pattern"],
    ),
    (
        "azureml deploy backend without a workspace",
        GOOD + "deploy:\n  backend: azureml\n",
        ["deploy.backend", "needs a workspace"],
    ),
    (
        "azureml backend without settings",
        GOOD + "train:\n  backend: azureml\n",
        ["train.backend", "needs train.azureml"],
    ),
    (
        "custom metric without direction",
        GOOD.replace("primary_metric: roc_auc", "primary_metric: gini")
        + "  custom_metrics:\n    gini: my_metrics:gini\n",
        ["evaluate.primary_metric", "greater_is_better"],
    ),
]


@pytest.mark.parametrize(("text", "fragments"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_config_is_one_actionable_line(
    tmp_path: Path, mlops: object, text: str | bytes, fragments: list[str]
) -> None:
    config = write(tmp_path, text)
    result = mlops("config", "check", "--config", str(config))  # type: ignore[operator]
    assert result.code == 2, result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert result.out == ""


def test_missing_file_and_folder(tmp_path: Path, mlops: object) -> None:
    result = mlops("config", "check", "--config", str(tmp_path / "nope.yaml"))  # type: ignore[operator]
    assert result.code == 2
    assert "config file not found" in result.err and "mlops init" in result.err
    result = mlops("config", "check", "--config", str(tmp_path))  # type: ignore[operator]
    assert result.code == 2
    assert "is a folder" in result.err


def test_config_error_is_an_annotation_on_github(
    tmp_path: Path, mlops: object, github_job: object
) -> None:
    from tests.github_files import parse_commands

    config = write(tmp_path, GOOD.replace("task: classification", "task: regresion"))
    result = mlops("config", "check", "--config", str(config))  # type: ignore[operator]
    assert result.code == 2
    [(command, props, message)] = parse_commands(result.out)
    assert command == "error"
    assert props["file"] == str(config) and props["line"] == "3" and props["col"] == "9"
    assert "did you mean 'regression'" in message


def test_config_error_message_without_traceback_in_a_real_process(tmp_path: Path) -> None:
    config = write(tmp_path, GOOD.replace("min_improvement: 0.01", "min_improvement: [1]"))
    proc = subprocess.run(
        [sys.executable, "-m", "mlops_actions", "config", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        env=python_env(),
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "evaluate.min_improvement" in proc.stderr


def test_config_check_and_schema_commands(tmp_path: Path, mlops: object) -> None:
    config = write_runnable(tmp_path)
    result = mlops("config", "check", "--config", str(config), "--json")  # type: ignore[operator]
    assert result.code == 0
    assert json.loads(result.out) == {
        "valid": True,
        "model-name": "churn",
        "task": "classification",
        "tracking-uri": load_settings(config).resolved_tracking_uri(),
    }
    out = tmp_path / "schema" / "mlops.schema.json"
    result = mlops("config", "schema", "--output", str(out))  # type: ignore[operator]
    assert result.code == 0
    assert json.loads(out.read_text())["title"] == "mlops.yaml"
    result = mlops("config", "schema")  # type: ignore[operator]
    assert json.loads(result.out)["properties"]["model"]["$ref"] == "#/$defs/ModelSettings"


PREFLIGHT: list[tuple[str, Any, list[str]]] = [
    ("no training script", lambda d: (d / "train.py").unlink(), ["train.command", "train.py"]),
    ("no suite", lambda d: (d / "suite.json").unlink(), ["validation.suite", "does not exist"]),
    ("no smoke cases", lambda d: (d / "cases.jsonl").unlink(), ["smoke.cases", "cases.jsonl"]),
    ("empty smoke cases", lambda d: (d / "cases.jsonl").write_text(""), ["holds no cases"]),
    ("no holdout", lambda d: (d / "data" / "holdout.csv").unlink(), ["data.holdout"]),
    (
        "no target column",
        lambda d: (d / "data" / "train.csv").write_text("age,churn\n1,0\n"),
        ["data.target", "train.csv (data.train) has no column 'churned'", "did you mean 'churn'"],
    ),
    (
        "all-NaN target",
        lambda d: (d / "data" / "holdout.csv").write_text("age,churned\n1,\n2,\n"),
        ["data.target", "'churned' of holdout.csv (data.holdout) has no values"],
    ),
]


@pytest.mark.parametrize(
    ("breaks", "fragments"), [p[1:] for p in PREFLIGHT], ids=[p[0] for p in PREFLIGHT]
)
def test_config_check_finds_what_a_run_would_miss(
    tmp_path: Path, mlops: object, breaks: Any, fragments: list[str]
) -> None:
    config = write_runnable(tmp_path)
    assert mlops("config", "check", "--config", str(config)).code == 0  # type: ignore[operator]
    breaks(tmp_path)
    result = mlops("config", "check", "--config", str(config))  # type: ignore[operator]
    assert result.code == 2, result.err
    [line] = result.err.strip().splitlines()
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    # the pipeline refuses the same config before any step runs: nothing was trained
    run = mlops("pipeline", "run", "--approve", "--config", str(config))  # type: ignore[operator]
    assert run.code == 2 and fragments[0] in run.err
    assert not (tmp_path / ".mlops" / "mlflow.db").exists()


def test_config_check_without_data_does_not_read_it(tmp_path: Path, mlops: object) -> None:
    config = write_runnable(tmp_path)
    (tmp_path / "data" / "train.csv").write_text("age,churn\n1,0\n")
    assert mlops("config", "check", "--config", str(config)).code == 2  # type: ignore[operator]
    assert mlops("config", "check", "--no-data", "--config", str(config)).code == 0  # type: ignore[operator]
