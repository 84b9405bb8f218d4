"""Broken models through every step that meets a model: a verdict or one line, never a traceback.

Three real MLflow pyfunc models, logged from code into the session's sqlite store next to a
healthy champion (`tests/fault_model.py`): one whose `predict` raises, one that returns one
prediction fewer than it was given rows (or, for compare-champion, two columns), and one whose
`load_context` raises. Where a gate decides (compare-champion, register, smoke-test,
canary-deploy) a broken model is a "no" with exit 1 and the step's outputs; where nothing decides
(drift-report's `reshape` of a short prediction), the CLI's catch-all turns the unexpected
exception into exit 3 and one line. validate-data, train and performance-report never load a
model, so a broken one cannot reach them; the catch-all that covers them is the same `main`.
"""

from __future__ import annotations

import html
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlops_actions.backends.endpoint import (
    DeploymentSpec,
    MirrorTraffic,
    TrafficSplit,
    deployment_name,
)
from mlops_actions.backends.local_endpoint import LocalEndpoint
from mlops_actions.registry import ModelRegistry
from tests import fault_model
from tests.conftest import CliRun, GithubJob, python_env
from tests.fault_model import Store, golden_cases, session_store, write_project
from tests.github_files import parse_commands
from tests.test_canary_deploy import DEPLOY, SMOKE

Run = Callable[..., CliRun]
MODEL = "broken-model"
KINDS = ("raise", "short", "load")
CAUSES = {
    "raise": "ValueError: broken model: cannot score",
    "short": "predictions",
    "load": "RuntimeError: broken model: cannot load its weights",
}

# Logged as a model from code (like tests/fault_model.py): `model_config["broken"]` picks the fault.
BROKEN_MODEL = """
from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class BrokenModel(PythonModel):
    def load_context(self, context: Any) -> None:
        self.kind = dict(context.model_config or {}).get("broken", "")
        if self.kind == "load":
            raise RuntimeError("broken model: cannot load its weights")

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> list[Any]:
        if self.kind == "raise":
            raise ValueError("broken model: cannot score")
        labels = [int(v > 0) for v in model_input["late_payments_12m"]]
        if self.kind == "short":
            return labels[:-1]
        if self.kind == "wide":
            return [[label, label] for label in labels]
        return labels


mlflow.models.set_model(BrokenModel())
"""


@dataclass
class Lab:
    folder: Path
    config: Path
    store: Store
    endpoint: LocalEndpoint
    champion: str
    versions: dict[str, str]
    """broken kind → registered version of MODEL"""

    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.store.tracking_uri)

    def logged_uri(self, version: str) -> str:
        """The `models:/m-…` URI behind a version (what training would output)."""
        return str(self.registry().client.get_model_version(MODEL, version).source)

    def deployment(self, kind: str) -> tuple[str, str]:
        """(version, deployment name) of a broken model."""
        version = self.versions[kind]
        return version, deployment_name(MODEL, version)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    store = session_store(tmp_path_factory.getbasetemp())
    folder = tmp_path_factory.mktemp("broken-models")
    (folder / "cases.jsonl").write_text(
        "".join(json.dumps(c) + "\n" for c in golden_cases(store)), encoding="utf-8"
    )
    config = write_project(folder, store, MODEL, deploy=DEPLOY, smoke=SMOKE)
    champion = store.version(MODEL)
    code = folder / "broken_model.py"
    code.write_text(BROKEN_MODEL, encoding="utf-8")
    versions = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fault_model, "FAULT_MODEL_CODE", code)
        for kind in (*KINDS, "wide"):
            versions[kind] = fault_model.register_fault_model(
                store.tracking_uri, MODEL, store.features.head(20), broken=kind
            )
    state_dir = folder / ".mlops" / "endpoint"
    endpoint = LocalEndpoint.up(state_dir, tracking_uri=store.tracking_uri, preload="")
    try:
        name = deployment_name(MODEL, champion)
        endpoint.create_or_update_deployment(
            DeploymentSpec(name, MODEL, champion, store.tracking_uri)
        )
        endpoint.set_traffic(TrafficSplit.only(name))
        ModelRegistry(store.tracking_uri).promote(MODEL, champion)
        yield Lab(folder, config, store, endpoint, champion, versions)
    finally:
        LocalEndpoint.down(state_dir)


def error_line(run: CliRun, step: str) -> str:
    """The one `::error` a failed step reports; and no traceback anywhere."""
    assert "Traceback" not in run.err and "Traceback" not in run.out, run.err
    errors = [c for c in parse_commands(run.out + run.err) if c[0] == "error"]
    assert len(errors) == 1, (run.out, run.err)
    _, props, message = errors[0]
    assert props["title"] == f"mlops {step}" and "\n" not in message
    return message


# ---------------------------------------------------------------- gates: exit 1 with outputs


@pytest.mark.parametrize("kind", [*KINDS, "wide"])
def test_compare_champion_fails_closed_and_register_refuses(
    lab: Lab, kind: str, mlops: Run, github_job: GithubJob
) -> None:
    candidate = lab.logged_uri(lab.versions[kind])
    before = [v.version for v in lab.registry().versions(MODEL)]
    run = mlops("compare-champion", "--config", str(lab.config), "--candidate", candidate)

    assert run.code == 1
    message = error_line(run, "compare-champion")
    rows = len(lab.store.features)
    cause = {
        **CAUSES,
        "short": f"shape ({rows - 1},) for {rows} holdout rows",
        "wide": f"shape ({rows}, 2)",
    }
    assert "challenger is not better" in message and cause[kind] in message, message
    outputs = github_job.outputs()
    assert outputs["is-better"] == "false" and outputs["decision-reason"] == message
    assert outputs["champion-version"] == lab.champion and outputs["first-model"] == "false"
    assert outputs["candidate-uri"] == candidate and Path(outputs["report-path"]).is_file()

    github_job.output.write_text("", encoding="utf-8")
    refused = mlops("register", "--config", str(lab.config), "--candidate", candidate)
    assert refused.code == 1, refused.err
    assert "challenger is not better" in error_line(refused, "register")
    after = [v.version for v in lab.registry().versions(MODEL)]
    assert after == before, "register left a version behind"
    assert lab.registry().champion_version(MODEL) == lab.champion


@pytest.mark.parametrize("kind", ["raise", "short"])
def test_a_champion_that_cannot_be_scored_is_a_backend_failure(
    lab: Lab, kind: str, mlops: Run, tmp_path: Path
) -> None:
    name = f"broken-champion-{kind}"
    registry = lab.registry()
    broken = lab.logged_uri(lab.versions[kind])
    version = registry.register(name, broken, run_id=None, alias=None).version
    registry.promote(name, str(version))
    config = write_project(tmp_path, lab.store, name)
    healthy = lab.logged_uri(lab.champion)

    run = mlops("compare-champion", "--config", str(config), "--candidate", healthy)
    assert run.code == 3
    assert "Traceback" not in run.err
    [line] = run.err.strip().splitlines()
    assert line.startswith(f"mlops compare-champion: error: the champion of '{name}' (v{version})")
    assert "could not be scored" in line and CAUSES[kind] in line


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_smoke_test_of_a_broken_deployment_fails(
    lab: Lab, kind: str, mlops: Run, github_job: GithubJob
) -> None:
    from mlops_actions.backends.endpoint import DeploymentFailed

    version, name = lab.deployment(kind)
    spec = DeploymentSpec(name, MODEL, version, lab.store.tracking_uri, ready_timeout_seconds=60)
    try:
        lab.endpoint.create_or_update_deployment(spec)
    except DeploymentFailed:
        assert kind == "load"
    try:
        run = mlops("smoke-test", "--config", str(lab.config), "--deployment", name)
    finally:
        lab.endpoint.delete_deployment(name)

    assert run.code == 1
    message = error_line(run, "smoke-test")
    assert message.startswith(f"smoke test of {name} failed: ") and CAUSES[kind] in message
    outputs = github_job.outputs()
    assert outputs["passed"] == "false" and int(outputs["failures"]) >= 1
    assert outputs["deployment"] == name and outputs["model-version"] == version
    if kind != "load":
        offline = "predict raised offline" if kind == "raise" else "4 predictions offline for 5"
        assert offline in github_job.summary.read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_canary_of_a_broken_model_rolls_back(
    lab: Lab, kind: str, mlops: Run, github_job: GithubJob
) -> None:
    version, failed = lab.deployment(kind)
    champion = deployment_name(MODEL, lab.champion)
    run = mlops("canary-deploy", "--config", str(lab.config), "--model-version", version)

    assert run.code == 1
    message = error_line(run, "canary-deploy")
    assert CAUSES[kind] in message, message
    outputs = github_job.outputs()
    assert outputs["outcome"] == "rolled-back" and CAUSES[kind] in outputs["reason"]
    assert json.loads(outputs["final-traffic"]) == {champion: 100}
    assert lab.endpoint.get_traffic() == TrafficSplit.only(champion)
    assert lab.endpoint.get_mirror() == MirrorTraffic()
    assert lab.endpoint.get_deployment(failed) is None, "the failed deployment is still there"
    assert lab.registry().champion_version(MODEL) == lab.champion


TRAIN_SCRIPT = """\
import os
import mlflow
with mlflow.start_run(run_id=os.environ["MLFLOW_RUN_ID"]):
    mlflow.pyfunc.log_model(
        name="model",
        python_model={code!r},
        model_config={{"broken": "load"}},
        pip_requirements=["mlflow"],
    )
"""


@pytest.mark.slow
def test_a_trained_model_that_cannot_load_stops_at_compare_champion(
    lab: Lab, mlops: Run, github_job: GithubJob, tmp_path: Path
) -> None:
    """train does not judge the model it logged; the first gate after it does (fail closed)."""
    (tmp_path / "train_broken.py").write_text(
        TRAIN_SCRIPT.format(code=str(lab.folder / "broken_model.py")), encoding="utf-8"
    )
    config = write_project(tmp_path, lab.store, "broken-trained")
    with config.open("a", encoding="utf-8") as fh:
        fh.write("train:\n  command: python train_broken.py\n")
    trained = mlops("train", "--config", str(config))
    assert trained.code == 0, trained.err
    model_uri = github_job.outputs()["model-uri"]
    assert model_uri.startswith("models:/m-")

    github_job.output.write_text("", encoding="utf-8")
    run = mlops("compare-champion", "--config", str(config), "--candidate", model_uri)
    assert run.code == 1
    assert CAUSES["load"] in error_line(run, "compare-champion")
    outputs = github_job.outputs()
    assert outputs["is-better"] == "false" and outputs["first-model"] == "true"
    assert json.loads(outputs["challenger-metrics"]) == {}


# ---------------------------------------------------------------- the catch-all: exit 3


def _drift_inputs(lab: Lab) -> tuple[Path, Path]:
    """A reference without predictions and a current with them: the reference gets scored."""
    import pandas as pd

    reference = lab.folder / "reference.csv"
    current = lab.folder / "current.csv"
    lab.store.features.to_csv(reference, index=False)
    holdout = lab.store.features.assign(prediction=0)
    holdout.to_csv(current, index=False)
    assert not pd.read_csv(reference).empty
    return reference, current


def _drift(lab: Lab, kind: str) -> list[str]:
    reference, current = _drift_inputs(lab)
    uri = f"models:/{MODEL}/{lab.versions[kind]}"
    return [
        "drift-report",
        "--config",
        str(lab.config),
        "--reference",
        str(reference),
        "--current",
        str(current),
        "--model",
        uri,
        "--no-html",
        "--report-dir",
        str(lab.folder / f"drift-{kind}"),
    ]


@pytest.mark.parametrize("kind", ["raise", "load"])
def test_drift_report_notes_a_model_that_cannot_score_the_reference(
    lab: Lab, kind: str, mlops: Run, github_job: GithubJob
) -> None:
    run = mlops(*_drift(lab, kind))
    assert run.code == 0, run.err
    assert "Traceback" not in run.err
    details = json.loads(Path(github_job.outputs()["report-path"]).read_text(encoding="utf-8"))
    note = details["prediction_note"]
    assert details["scored_with"] is None and details["predictions"] is None
    assert "could not be scored" in note and CAUSES[kind].split(": ", 1)[1] in note, note


def test_an_unexpected_exception_is_one_line_and_exit_3(
    lab: Lab, mlops: Run, github_job: GithubJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A model that returns one prediction fewer than the reference has rows: drift-report's
    # reshape raises a ValueError no step expects.
    argv = _drift(lab, "short")
    run = mlops(*argv)
    assert run.code == 3
    message = error_line(run, "drift-report")
    assert message.startswith("unexpected ValueError: ") and "MLOPS_DEBUG=1" in message
    report = (lab.folder / "drift-short" / "error.md").read_text(encoding="utf-8")
    assert message in html.unescape(report) and "&#58;" in report  # escaped Markdown
    summary = github_job.summary.read_text(encoding="utf-8")
    assert summary.startswith("### ❌ mlops drift-report") and "unexpected ValueError" in summary

    monkeypatch.delenv("GITHUB_ACTIONS")
    json_run = mlops(*argv, "--json")
    assert json_run.code == 3
    assert json.loads(json_run.out) == {"error": message, "exit-code": 3}
    [line] = json_run.err.strip().splitlines()
    assert line == f"mlops drift-report: error: {message}"

    monkeypatch.setenv("MLOPS_DEBUG", "1")
    debug = mlops(*argv)
    assert debug.code == 3
    assert debug.err.startswith("Traceback (most recent call last):")
    assert debug.err.rstrip().endswith(f"mlops drift-report: error: {message}")


def test_the_installed_command_prints_no_traceback(lab: Lab) -> None:
    """The same through the `mlops` executable: exit status 3 and one line on stderr."""
    mlops_bin = Path(sys.executable).parent / "mlops"
    proc = subprocess.run(
        [str(mlops_bin), *_drift(lab, "short")],
        capture_output=True,
        text=True,
        env=python_env(),
        timeout=120,
    )
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.startswith("mlops drift-report: error:")]
    assert len(lines) == 1 and "unexpected ValueError" in lines[0]
