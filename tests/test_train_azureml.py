"""`mlops train --backend azureml`: the real azure-ai-ml SDK against the fake Azure ML service.

The step gets an MLClient wired to tests/fakes/azureml_rest.py (the production client uses
DefaultAzureCredential); everything between our code and HTTP is the real SDK.
"""

from __future__ import annotations

import io
import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("azure.ai.ml")

from mlops_actions.errors import BackendError, InputError, MlopsError
from tests.fakes.azureml_rest import FakeAzureML, make_ml_client

WORKSPACE = """\
    workspace:
      subscription_id: 00000000-0000-0000-0000-000000000001
      resource_group: rg-mlops
      workspace: ws-mlops
"""

CONFIG = """\
model:
  name: credit-default
data:
  train: data.csv
  target: y
train:
  backend: azureml
  command: python train.py
  params:
    C: 1.0
    max-iter: 500
  timeout_minutes: 30
  azureml:
{workspace}{azureml}
{extra}
evaluate:
  primary_metric: roc_auc
tracking_uri: {tracking_uri}
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    import mlflow

    uri = f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"
    mlflow.MlflowClient(tracking_uri=uri).search_experiments()  # create the schema once
    return uri


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeAzureML:
    from azure.ai.ml.operations._run_history_constants import RunHistoryConstants

    monkeypatch.setattr(RunHistoryConstants, "_WAIT_COMPLETION_POLLING_INTERVAL_MIN", 0)
    f = FakeAzureML()
    f.add_compute("cpu-cluster")
    f.add_environment("sklearn-env", "1")
    return f


def write_config(
    root: Path,
    store: str,
    *,
    azureml: str = "    compute: cpu-cluster\n",
    extra: str = "",
    workspace: str = WORKSPACE,
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.py").write_text("print('train')\n", encoding="utf-8")
    (root / "data.csv").write_text("x,y\n1,0\n", encoding="utf-8")
    config = root / "mlops.yaml"
    config.write_text(
        CONFIG.format(workspace=workspace, azureml=azureml, extra=extra, tracking_uri=store),
        encoding="utf-8",
    )
    return config


def train(
    config: Path, fake: FakeAzureML, *, sleeps: list[float] | None = None, **request: Any
) -> Any:
    """Run the step with the fake's client; returns (result, log text)."""
    from mlops_actions.backends.azureml_compute import PollPolicy
    from mlops_actions.backends.factory import open_compute
    from mlops_actions.config import load_settings
    from mlops_actions.steps.train import TrainRequest, run_training

    settings = load_settings(config)
    req = TrainRequest(**request)
    recorded = sleeps if sleeps is not None else []
    backend = open_compute(
        settings,
        ml_client=make_ml_client(fake),
        poll=PollPolicy(initial=0.5, factor=2.0, maximum=4.0),
        sleep=recorded.append,
    )
    log = io.StringIO()
    result = run_training(settings, req, log=log, backend=backend)
    assert fake.unhandled == [], fake.unhandled
    return result, log.getvalue()


def _steps(fake: FakeAzureML) -> list[str]:
    """The request sequence, as `METHOD kind[/name]` without ids and versions."""
    seen = []
    for r in fake.requests:
        parts = [p for p in r.path.split("/") if p]
        tail = parts[parts.index("workspaces") + 2 :] if "workspaces" in parts else parts[-2:]
        keep = 2 if tail[:1] in (["jobs"], ["environments"]) else 1
        seen.append(f"{r.method} {'/'.join(tail[:keep])}")
    return seen


# ---------------------------------------------------------------- command jobs


def test_command_job_runs_to_completion_with_the_lock_environment(
    tmp_path: Path, store: str, fake: FakeAzureML
) -> None:
    import mlflow

    config = write_config(tmp_path, store)
    result, log = train(config, fake, job_name="train-001")
    assert result.status == "completed" and result.passed
    assert result.run_id == result.job_name == "train-001"
    assert result.job_url.startswith("https://ml.azure.com/runs/train-001?wsid=")
    assert fake.jobs["train-001"].status == "Completed"
    # the job's run is not in this (local) tracking store: point at the job's MLflow artifacts
    assert result.model_uri == "azureml://jobs/train-001/outputs/artifacts/paths/model"
    assert any("not in the tracking store" in w for w in result.warnings)
    steps = _steps(fake)
    submit = steps.index("PUT jobs/train-001")
    assert steps[:submit] == [
        "GET jobs/train-001",  # is there a job of that name to attach to? (no)
        "GET codes",  # the code snapshot's hash lookup: a match, so nothing is uploaded
        "GET codes",
        "PUT environments/mlops-credit-default",
    ]
    assert steps[submit + 1 :][-1] == "GET jobs/train-001"  # the final state was read
    body = fake.jobs["train-001"].body["properties"]
    assert body["jobType"] == "Command"
    assert body["command"] == "python train.py --C ${{inputs.C}} --max-iter ${{inputs.max_iter}}"
    assert body["inputs"]["max_iter"]["value"] == "500"
    assert body["computeId"].endswith("/computes/cpu-cluster")
    assert body["experimentName"] == "credit-default"
    assert body["limits"]["timeout"] == "PT30M"
    assert json.loads(body["environmentVariables"]["MLOPS_PARAMS"]) == {
        "C": "1.0",
        "max-iter": "500",
    }
    tags = body["tags"]
    assert tags["mlops.backend"] == "azureml" and tags["mlops.lock.hash"].startswith("sha256:")
    assert json.loads(tags["mlops.params"]) == {"C": "1.0", "max-iter": "500"}
    # an environment built from the lock: the versions serving uses, plus the MLflow plugin
    [env_put] = fake.calls("PUT", "/environments/mlops-credit-default/versions/")
    pins = env_put.json["properties"]["condaFile"]
    assert f"mlflow=={mlflow.__version__}" in pins and "azureml-mlflow==1.60.0" in pins
    assert body["environmentId"].endswith(env_put.path.split("/environments/")[1])
    assert "Azure ML job train-001: https://ml.azure.com/runs/train-001" in log


def test_job_is_the_mlflow_run_of_the_same_name(
    tmp_path: Path, store: str, fake: FakeAzureML
) -> None:
    """Azure ML names the job's MLflow run after the job: the model is found through it."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("remote") or None
    experiment_id = experiment.experiment_id if experiment else client.create_experiment("remote")
    run = client.create_run(experiment_id)
    client.log_metric(run.info.run_id, "val_roc_auc", 0.81)
    logged = client.create_logged_model(experiment_id, name="model", source_run_id=run.info.run_id)
    config = write_config(
        tmp_path, store, azureml="    compute: cpu-cluster\n    environment: sklearn-env:1\n"
    )
    result, _ = train(config, fake, job_name=run.info.run_id)
    assert result.run_id == run.info.run_id
    assert result.model_uri == logged.model_uri
    assert result.metrics == {"val_roc_auc": 0.81}
    assert result.warnings == ()
    body = fake.jobs[run.info.run_id].body["properties"]
    assert body["environmentId"].endswith("/environments/sklearn-env/versions/1")
    assert not fake.calls("PUT", "/environments/")


def test_registered_environment_label_and_inputs(
    tmp_path: Path, store: str, fake: FakeAzureML
) -> None:
    fake.add_environment("sklearn-env", "2")
    fake.add_data("credit-data", "3")
    config = write_config(
        tmp_path,
        store,
        azureml="    compute: cpu-cluster\n"
        "    environment: azureml:sklearn-env@latest\n"  # the prefixed form is normalised
        "    inputs:\n"
        "      train: azureml:credit-data:3\n"
        "      holdout: https://acct.blob.core.windows.net/data/holdout.csv\n",
    )
    result, _ = train(config, fake, job_name="with-inputs")
    assert result.status == "completed"
    body = fake.jobs["with-inputs"].body["properties"]
    assert body["environmentId"].endswith("/environments/sklearn-env/versions/2")
    assert body["command"].endswith("--train ${{inputs.train}} --holdout ${{inputs.holdout}}")
    assert body["inputs"]["train"]["uri"].endswith("/data/credit-data/versions/3")
    assert body["inputs"]["train"]["jobInputType"] == "uri_folder"
    assert body["inputs"]["holdout"]["jobInputType"] == "uri_file"


def test_serverless_instance_type_without_compute(
    tmp_path: Path, store: str, fake: FakeAzureML
) -> None:
    config = write_config(
        tmp_path,
        store,
        azureml="    instance_type: Standard_NC6s_v3\n    environment: sklearn-env:1\n",
    )
    result, _ = train(config, fake, job_name="serverless")
    assert result.status == "completed"
    body = fake.jobs["serverless"].body["properties"]
    assert not body.get("computeId")
    assert body["resources"]["instanceType"] == "Standard_NC6s_v3"


def test_naming_an_existing_job_waits_for_it_instead_of_resubmitting(
    tmp_path: Path, store: str, fake: FakeAzureML
) -> None:
    config = write_config(
        tmp_path, store, azureml="    compute: cpu-cluster\n    environment: sklearn-env:1\n"
    )
    first, _ = train(config, fake, job_name="resumable")
    second, log = train(config, fake, job_name="resumable")
    assert first.status == second.status == "completed"
    assert len(fake.calls("PUT", "/jobs/resumable")) == 1
    assert "attaching to the existing Azure ML job resumable" in log


# ---------------------------------------------------------------- how jobs end


def test_failed_job_surfaces_the_service_error(
    tmp_path: Path, store: str, fake: FakeAzureML
) -> None:
    from mlops_actions.commands.train import _step_result

    fake.script_job(
        ["Running", "Failed"], error_message="CUDA out of memory. Tried to allocate 2 GiB"
    )
    config = write_config(
        tmp_path, store, azureml="    compute: cpu-cluster\n    environment: sklearn-env:1\n"
    )
    result, _ = train(config, fake, job_name="oom")
    assert result.status == "failed" and not result.passed
    assert result.message == "Azure ML job oom failed: CUDA out of memory. Tried to allocate 2 GiB"
    assert result.model_uri == ""
    step = _step_result(result, "credit-default")
    assert not step.passed  # exit 1
    assert "CUDA out of memory" in step.summary and "Training failed for" in step.summary


def test_job_canceled_on_the_service(tmp_path: Path, store: str, fake: FakeAzureML) -> None:
    fake.script_job(["Running", "Canceled"])
    config = write_config(
        tmp_path, store, azureml="    compute: cpu-cluster\n    environment: sklearn-env:1\n"
    )
    result, _ = train(config, fake, job_name="canceled-there")
    assert result.status == "canceled" and not result.passed
    assert "was canceled on the service" in result.message


def test_success_is_reported_only_once_the_job_is_terminal(
    tmp_path: Path, store: str, fake: FakeAzureML
) -> None:
    # The log stream ends at CancelRequested (not terminal): the state is then polled, with a
    # growing interval, until the service says Canceled.
    fake.script_job(
        ["Running", "CancelRequested", "CancelRequested", "CancelRequested", "Canceled"]
    )
    config = write_config(
        tmp_path, store, azureml="    compute: cpu-cluster\n    environment: sklearn-env:1\n"
    )
    sleeps: list[float] = []
    result, _ = train(config, fake, sleeps=sleeps, job_name="slow-stop")
    assert result.status == "canceled"
    assert sleeps == [0.5, 1.0]
    assert fake.jobs["slow-stop"].status == "Canceled"


def test_sigterm_cancels_the_azure_job(tmp_path: Path, store: str, fake: FakeAzureML) -> None:
    fake.script_job(["Running"])  # would run forever
    config = write_config(
        tmp_path, store, azureml="    compute: cpu-cluster\n    environment: sklearn-env:1\n"
    )
    before = signal.getsignal(signal.SIGTERM)
    timer = threading.Timer(0.5, os.kill, args=(os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        result, log = train(config, fake, job_name="interrupted")
    finally:
        timer.cancel()
    assert result.status == "canceled"
    assert result.message.startswith("canceled by SIGTERM: Azure ML job interrupted was canceled")
    assert fake.calls("POST", "/jobs/interrupted/cancel")
    # the cancel is a long-running operation, followed to its end
    assert fake.calls("GET", "/mfeOperationResults/") or fake.calls("GET", "/mfeOperationsStatus/")
    assert all(op.status == "Succeeded" for op in fake.operations.values())
    assert fake.jobs["interrupted"].status == "Canceled"
    assert signal.getsignal(signal.SIGTERM) is before
    assert "canceling Azure ML job interrupted" in log


# ---------------------------------------------------------------- submission refused


@pytest.mark.parametrize(
    ("setup", "azureml", "error", "code", "text"),
    [
        ("quota", "", BackendError, 3, "Azure ML has no quota for this job: Not enough quota"),
        ("invalid", "", BackendError, 3, "Azure ML rejected the job (400): Invalid command line"),
        (None, "    compute: gpu-cluster\n", InputError, 2, "set train.azureml.compute"),
        (None, "    environment: nope@latest\n", InputError, 2, "set train.azureml.environment"),
        (None, "    environment: sklearn-env:9\n", InputError, 2, "set train.azureml.environment"),
    ],
)
def test_submission_refused(
    tmp_path: Path,
    store: str,
    fake: FakeAzureML,
    setup: str | None,
    azureml: str,
    error: type[MlopsError],
    code: int,
    text: str,
) -> None:
    if setup == "quota":
        fake.reject_job_quota()
    elif setup == "invalid":
        fake.reject_job_submission(400, "UserError", "Invalid command line")
    lines = azureml or "    compute: cpu-cluster\n    environment: sklearn-env:1\n"
    if "compute" not in lines:
        lines = "    compute: cpu-cluster\n" + lines
    config = write_config(tmp_path, store, azureml=lines)
    with pytest.raises(error) as info:
        train(config, fake, job_name="refused")
    assert info.value.exit_code == code
    assert text in str(info.value) and "\n" not in str(info.value)
    assert fake.jobs == {}


# ---------------------------------------------------------------- sweeps


SWEEP = """\
  sweep:
    search_space:
      C: {type: loguniform, min: 0.01, max: 10}
      max-iter: {type: choice, values: [100, 200]}
    metric: val_roc_auc
    goal: maximize
    max_trials: 4
    max_concurrent_trials: 2
"""


def test_sweep_job_reports_the_best_trial(tmp_path: Path, store: str, fake: FakeAzureML) -> None:
    import math

    fake.script_job(
        ["Running", "Completed"],
        properties={"best_child_run_id": "trial-2"},
        children=[{"name": "trial-1"}, {"name": "trial-2"}],
    )
    config = write_config(
        tmp_path,
        store,
        azureml="    compute: cpu-cluster\n    environment: sklearn-env:1\n",
        extra=SWEEP.replace("\n  sweep:", "  sweep:", 1),
    )
    result, _ = train(config, fake, job_name="search")
    assert result.status == "completed"
    assert result.run_id == "trial-2" and result.job_name == "search"
    body = fake.jobs["search"].body["properties"]
    assert body["jobType"] == "Sweep"
    assert body["objective"] == {"goal": "maximize", "primaryMetric": "val_roc_auc"}
    assert body["limits"]["maxTotalTrials"] == 4 and body["limits"]["maxConcurrentTrials"] == 2
    space = body["searchSpace"]
    assert space["max_iter"] == ["choice", [[100, 200]]]
    assert space["C"][0] == "loguniform"
    assert space["C"][1] == pytest.approx([math.log(0.01), math.log(10)])
    # the SDK points the swept parameters at the search space
    assert body["trial"]["command"] == (
        "python train.py --C ${{search_space.C}} --max-iter ${{search_space.max_iter}}"
    )


# ---------------------------------------------------------------- offline: dry run, settings


def test_dry_run_prints_the_validated_job_as_yaml(tmp_path: Path, store: str, mlops: Any) -> None:
    config = write_config(tmp_path, store)
    result = mlops("train", "--config", str(config), "--dry-run", "--param", "C=0.5")
    assert result.code == 0, result.err
    job = yaml.safe_load(result.out)
    assert job["type"] == "command"
    assert job["compute"] == "azureml:cpu-cluster"
    assert job["command"] == "python train.py --C ${{inputs.C}} --max-iter ${{inputs.max_iter}}"
    assert job["inputs"] == {"C": 0.5, "max_iter": 500}
    assert job["experiment_name"] == "credit-default"
    assert job["limits"]["timeout"] == 1800
    pip = job["environment"]["conda_file"]["dependencies"][-1]["pip"]
    assert any(p.startswith("scikit-learn==") for p in pip)
    swept = write_config(
        tmp_path / "sweep", store, extra=SWEEP.replace("\n  sweep:", "  sweep:", 1)
    )
    sweep = yaml.safe_load(mlops("train", "--config", str(swept), "--dry-run").out)
    assert sweep["type"] == "sweep" and sweep["objective"]["primary_metric"] == "val_roc_auc"


def test_dry_run_catches_an_undefined_input_offline(tmp_path: Path, store: str, mlops: Any) -> None:
    config = write_config(tmp_path, store)
    text = config.read_text().replace(
        "command: python train.py", "command: python train.py --data ${{inputs.data}}"
    )
    config.write_text(text)
    result = mlops("train", "--config", str(config), "--dry-run")
    assert result.code == 2
    assert "the Azure ML job is invalid" in result.err and "'data'" in result.err
    assert result.err.count("\n") == 1


@pytest.mark.parametrize(
    ("azureml", "workspace", "text"),
    [
        ("    instance_type: Standard_DS3_v2\n", "", "train.azureml.workspace is missing"),
        ("    environment: sklearn-env:1\n", WORKSPACE, "train.azureml.compute is missing"),
    ],
)
def test_missing_azure_settings_are_named(
    tmp_path: Path, store: str, mlops: Any, azureml: str, workspace: str, text: str
) -> None:
    config = write_config(tmp_path, store, azureml=azureml, workspace=workspace)
    result = mlops("train", "--config", str(config), "--dry-run")
    assert result.code == 2
    assert text in result.err and result.err.count("\n") == 1


def test_production_client_uses_default_azure_credential() -> None:
    from azure.identity import DefaultAzureCredential

    from mlops_actions.backends.azureml_compute import AzureMLSpec, default_client

    client = default_client(AzureMLSpec("sub-1", "rg-1", "ws-1"))
    assert isinstance(client._credential, DefaultAzureCredential)
    assert (client.subscription_id, client.resource_group_name, client.workspace_name) == (
        "sub-1",
        "rg-1",
        "ws-1",
    )


# dvc's `repo.add` goes through pygtrie, which warns about its own API
@pytest.mark.filterwarnings("ignore:_NoneStep.value will soon raise:DeprecationWarning")
def test_dvc_data_is_passed_at_its_remote_location(tmp_path: Path, store: str) -> None:
    import subprocess

    from dvc.repo import Repo

    from mlops_actions.backends.factory import azureml_spec
    from mlops_actions.config import load_settings

    config = write_config(tmp_path, store)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    with Repo.init(str(tmp_path)) as repo:
        with repo.config.edit() as conf:
            conf["remote"]["store"] = {
                "url": "azure://models-data/credit",
                "account_name": "acmedata",
            }
            conf["core"]["remote"] = "store"
        repo.add(str(tmp_path / "data.csv"))
    md5 = yaml.safe_load((tmp_path / "data.csv.dvc").read_text())["outs"][0]["md5"]
    spec = azureml_spec(load_settings(config))
    assert spec.inputs["train"] == (
        f"uri_file:https://acmedata.blob.core.windows.net/models-data/credit/files/md5/"
        f"{md5[:2]}/{md5[2:]}"
    )


def test_command_job_over_loopback_https_without_an_injected_adapter(
    tmp_path: Path, store: str, fake: FakeAzureML, azureml_https: Any
) -> None:
    """The same step over real TLS to 127.0.0.1: uploads and all, no transport adapter."""
    from mlops_actions.backends.azureml_compute import PollPolicy
    from mlops_actions.backends.factory import open_compute
    from mlops_actions.config import load_settings
    from mlops_actions.steps.train import TrainRequest, run_training

    config = write_config(tmp_path / "project", store)
    with azureml_https(fake) as https:
        client = https.ml_client
        settings = load_settings(config)
        request = TrainRequest(job_name="tls-001")
        backend = open_compute(
            settings, ml_client=client, poll=PollPolicy(initial=0.01), sleep=lambda _: None
        )
        result = run_training(settings, request, log=io.StringIO(), backend=backend)
    assert result.status == "completed" and result.passed
    assert fake.jobs["tls-001"].status == "Completed"
    assert fake.unhandled == []
