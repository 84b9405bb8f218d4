"""`mlops train` on the local backend with small scripts: parameters, failures, signals, timeouts.

The scripts here are tiny (no sklearn) so each test costs little more than the MLflow import of
the script; the sqlite store is shared by the module to pay its creation once.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import python_env

CONFIG = """\
model:
  name: tiny
data:
  train: data.csv
  target: y
train:
  command: {command}
  params:
    C: 1.0
    max-iter: 5
  timeout_minutes: {timeout}
evaluate:
  primary_metric: roc_auc
tracking_uri: {tracking_uri}
"""

# Logs what it was given, a metric, and a LoggedModel under the run mlops created.
GOOD_SCRIPT = """\
import json, os, sys
import mlflow
with open("seen.json", "w") as fh:
    json.dump({"argv": sys.argv, "executable": sys.executable,
               "params": os.environ.get("MLOPS_PARAMS"),
               "tracking": os.environ.get("MLFLOW_TRACKING_URI"),
               "run": os.environ.get("MLFLOW_RUN_ID")}, fh)
with mlflow.start_run(run_id=os.environ["MLFLOW_RUN_ID"]) as run:
    mlflow.log_param("C", sys.argv[sys.argv.index("--C") + 1])
    mlflow.log_metric("score", float(os.environ.get("SCORE", "0.5")))
    mlflow.initialize_logged_model(name="model", source_run_id=run.info.run_id)
print("trained")
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One sqlite store for the module (its first creation costs seconds)."""
    import mlflow

    uri = f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"
    mlflow.MlflowClient(tracking_uri=uri).search_experiments()  # create the schema now
    return uri


def make_project(
    root: Path, store: str, script: str, *, command: str = "python train.py", timeout: float = 5
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.py").write_text(textwrap.dedent(script), encoding="utf-8")
    (root / "data.csv").write_text("x,y\n1,0\n2,1\n", encoding="utf-8")
    config = root / "mlops.yaml"
    config.write_text(
        CONFIG.format(command=command, timeout=timeout, tracking_uri=store), encoding="utf-8"
    )
    return config


def client(store: str) -> Any:
    import mlflow

    return mlflow.MlflowClient(tracking_uri=store)


def runs_in(store: str, experiment: str = "tiny") -> list[Any]:
    c = client(store)
    found = c.get_experiment_by_name(experiment)
    return list(c.search_runs([found.experiment_id])) if found else []


# ---------------------------------------------------------------- success


def test_params_reach_the_script_and_are_logged(
    tmp_path: Path, store: str, mlops: Any, github_job: Any
) -> None:
    config = make_project(tmp_path / "p", store, GOOD_SCRIPT)
    result = mlops("train", "--config", str(config), "--param", "C=0.25", "--param", "seed=7")
    assert result.code == 0, result.err
    seen = json.loads((tmp_path / "p" / "seen.json").read_text())
    # `python` is this interpreter, so the script sees the same libraries
    assert seen["executable"] == sys.executable
    assert seen["argv"][1:] == ["--C", "0.25", "--max-iter", "5", "--seed", "7"]
    assert json.loads(seen["params"]) == {"C": "0.25", "max-iter": "5", "seed": "7"}
    assert seen["tracking"] == store
    out = github_job.outputs()
    assert out["run-id"] == seen["run"]
    assert out["model-uri"].startswith("models:/m-")
    assert json.loads(out["metrics"]) == {"score": 0.5}
    assert out["job-name"].startswith("tiny-") and out["status"] == "completed"
    run = client(store).get_run(seen["run"])
    assert run.info.status == "FINISHED"
    # keys as written; the value the script logged itself is kept
    assert run.data.params == {"C": "0.25", "max-iter": "5", "seed": "7"}
    assert json.loads(run.data.tags["mlops.params"]) == {"C": "0.25", "max-iter": "5", "seed": "7"}
    assert run.data.tags["mlops.backend"] == "local"
    # the log was streamed, in a collapsed group, and kept on the run
    assert "::group::train (local): python train.py\ntrained\n::endgroup::" in result.err
    local = client(store).download_artifacts(seen["run"], "train.log", str(tmp_path))
    assert Path(local).read_text() == "trained\n"
    summary = github_job.summary.read_text()
    assert "Trained tiny (local)" in summary and "C=0.25, max-iter=5, seed=7" in summary


def test_dry_run_prints_the_command_and_runs_nothing(
    tmp_path: Path, store: str, mlops: Any
) -> None:
    config = make_project(tmp_path, store, GOOD_SCRIPT)
    before = len(runs_in(store))
    result = mlops("train", "--config", str(config), "--dry-run", "--param", "C=2")
    assert result.code == 0, result.err
    assert f"command: {sys.executable} train.py --C 2 --max-iter 5" in result.out
    assert "MLFLOW_RUN_ID" in result.out
    assert not (tmp_path / "seen.json").exists()
    assert len(runs_in(store)) == before


# ---------------------------------------------------------------- failures of the script


def test_script_that_fails_marks_the_run_failed_with_the_log_tail(
    tmp_path: Path, store: str, mlops: Any, github_job: Any
) -> None:
    script = """\
    import sys
    for i in range(100):
        print(f"epoch {i}")
    print("ValueError: <b>@team</b> the loss is nan", file=sys.stderr)
    sys.exit(3)
    """
    config = make_project(tmp_path, store, script)
    result = mlops("train", "--config", str(config))
    assert result.code == 1
    assert "the training command exited with code 3" in result.out
    out = github_job.outputs()
    assert out["status"] == "failed" and out["model-uri"] == ""
    run = client(store).get_run(out["run-id"])
    assert run.info.status == "FAILED"
    summary = github_job.summary.read_text()
    assert "Training failed for tiny" in summary
    # the tail, inert inside a code block; not the whole log
    assert "epoch 99\nValueError: <b>@team</b> the loss is nan\n```" in summary
    assert "epoch 10\n" not in summary
    assert "::error title=mlops train-azureml::training failed" in result.out


def test_script_that_logs_no_model_is_an_error(tmp_path: Path, store: str, mlops: Any) -> None:
    config = make_project(tmp_path, store, "print('forgot to log the model')\n")
    result = mlops("train", "--config", str(config), "--json")
    assert result.code == 2
    error = json.loads(result.out)
    assert "never logged a model" in error["error"]
    assert "mlflow.sklearn.log_model(model, name='model')" in error["error"]
    # the script's log, then one line that says what to do
    assert result.err.splitlines()[-2:] == [
        "forgot to log the model",
        f"mlops train-azureml: error: {error['error']}",
    ]
    [run] = [r for r in runs_in(store) if r.info.run_id in error["error"]]
    assert run.info.status == "FAILED"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("no-such-trainer --fast", "program 'no-such-trainer' not found"),
        ("python missing.py", "script missing.py not found"),
        ("'unclosed", "cannot be parsed"),
    ],
)
def test_command_that_cannot_start_is_exit_2_before_any_run(
    tmp_path: Path, store: str, mlops: Any, command: str, expected: str
) -> None:
    config = make_project(tmp_path, store, GOOD_SCRIPT, command=json.dumps(command))
    before = len(runs_in(store))
    result = mlops("train", "--config", str(config))
    assert result.code == 2
    assert expected in result.err and "train.command" in result.err
    assert result.err.count("\n") == 1
    assert len(runs_in(store)) == before


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--backend", "gpu-farm"], "--backend train.backend: 'gpu-farm' is not allowed"),
        (["--param", "C"], "--param 'C' is not KEY=VALUE"),
        # the schema's cross-check, naming the flag and the key
        (
            ["--backend", "azureml"],
            "--backend train.backend: backend 'azureml' needs train.azureml",
        ),
        (["--reproduce", "0" * 32, "--param", "C=1"], "cannot be combined with --reproduce"),
    ],
)
def test_bad_flags_are_exit_2_with_one_line(
    tmp_path: Path, store: str, mlops: Any, argv: list[str], expected: str
) -> None:
    config = make_project(tmp_path, store, GOOD_SCRIPT)
    result = mlops("train", "--config", str(config), *argv)
    assert result.code == 2
    assert expected in result.err
    assert result.err.count("\n") == 1


def test_timeout_stops_the_script_and_fails_the_run(tmp_path: Path, store: str, mlops: Any) -> None:
    config = make_project(
        tmp_path, store, "import time\nprint('start', flush=True)\ntime.sleep(60)\n"
    )
    started = time.monotonic()
    result = mlops("train", "--config", str(config), "--timeout-minutes", "0.02", "--json")
    assert time.monotonic() - started < 30
    assert result.code == 1
    outputs = json.loads(result.out)
    assert outputs["status"] == "timed-out"
    assert "did not finish within 0.02 min" in result.err
    assert client(store).get_run(outputs["run-id"]).info.status == "FAILED"


def test_sigterm_is_forwarded_and_the_run_is_killed(tmp_path: Path, store: str) -> None:
    script = """\
    import pathlib, signal, sys, time
    def stop(signum, frame):
        pathlib.Path("got-signal").write_text(str(signum))
        print("cleaned up", flush=True)
        sys.exit(143)
    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    time.sleep(60)
    """
    config = make_project(tmp_path, store, script)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlops_actions", "train", "--config", str(config), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=python_env(),
    )
    assert proc.stderr is not None
    try:
        lines = []
        for line in proc.stderr:  # in --json mode the script's log goes to stderr
            lines.append(line)
            if line.strip() == "ready":
                break
        else:
            pytest.fail("".join(lines))
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert (tmp_path / "got-signal").read_text() == str(int(signal.SIGTERM))
    assert "cleaned up" in err and "canceled by SIGTERM" in err
    outputs = json.loads(out)
    assert outputs["status"] == "canceled"
    assert client(store).get_run(outputs["run-id"]).info.status == "KILLED"


# ---------------------------------------------------------------- reproduction beyond tolerance


def test_reproduction_that_differs_fails_with_the_differences(
    tmp_path: Path, store: str, mlops: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "repo"
    config = make_project(root, store, GOOD_SCRIPT)
    (root / ".gitignore").write_text("seen.json\n")
    git = ["git", "-C", str(root), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    monkeypatch.setenv("SCORE", "0.5")
    first = mlops("train", "--config", str(config), "--json")
    assert first.code == 0, first.err
    run_id = json.loads(first.out)["run-id"]
    monkeypatch.setenv("SCORE", "0.6")  # a script that is not deterministic
    far = mlops("train", "--config", str(config), "--reproduce", run_id, "--json")
    assert far.code == 1
    outputs = json.loads(far.out)
    assert outputs["reproduced"] is False
    assert f"run {run_id} did not reproduce: score differ" in far.err
    again = client(store).get_run(outputs["run-id"])
    assert again.data.tags["mlops.reproduces"] == run_id
    assert again.data.params["C"] == "1.0"  # the recorded parameters, not new ones


def test_tolerance_decides_the_reproduction_verdict() -> None:
    from mlops_actions.reproduction import MetricDifference, Reproduction

    rows = (MetricDifference("auc", 0.80, 0.8004), MetricDifference("f1", 0.5, 0.5))
    assert Reproduction("r", 1e-3, rows).passed
    assert [m.name for m in Reproduction("r", 1e-4, rows).beyond_tolerance] == ["auc"]
    missing = Reproduction("r", 1.0, (MetricDifference("auc", 0.8, None),))
    assert not missing.passed
