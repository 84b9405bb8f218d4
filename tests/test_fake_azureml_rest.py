"""The fake Azure ML service, driven through the real ``azure-ai-ml`` SDK."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("azure.ai.ml")

from azure.ai.ml import Input, Output, command
from azure.ai.ml.entities import ManagedOnlineDeployment, ManagedOnlineEndpoint, Model
from azure.ai.ml.exceptions import JobException, MlException
from azure.ai.ml.sweep import Uniform
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from tests.fakes.azureml_rest import (
    FakeAzureML,
    make_ml_client,
    make_session,
)

TERMINAL = {"Completed", "Failed", "Canceled"}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeAzureML:
    monkeypatch.setenv("AZUREML_CURRENT_CLOUD", "AzureCloud")
    f = FakeAzureML()
    f.add_compute("cpu-cluster")
    f.add_environment("sklearn-env", "1")
    f.add_environment("sklearn-env", "2")
    f.add_model("credit-model", "1")
    return f


@pytest.fixture
def ml_client(fake: FakeAzureML) -> Any:
    client = make_ml_client(fake)
    yield client
    assert fake.unhandled == [], f"routes the fake does not serve: {fake.unhandled}"


def _train(environment: str = "sklearn-env@latest", compute: str = "cpu-cluster", **kw: Any) -> Any:
    return command(
        command="python train.py",
        environment=environment,
        compute=compute,
        experiment_name="credit",
        **kw,
    )


def _wait(ml_client: Any, name: str, limit: int = 10) -> list[str]:
    seen = []
    for _ in range(limit):
        status = str(ml_client.jobs.get(name).status.value)
        seen.append(status)
        if status in TERMINAL:
            break
    return seen


def _deployment(name: str, endpoint: str, **kw: Any) -> ManagedOnlineDeployment:
    return ManagedOnlineDeployment(
        name=name,
        endpoint_name=endpoint,
        model="azureml:credit-model:1",
        instance_type="Standard_DS3_v2",
        instance_count=kw.pop("instance_count", 1),
        **kw,
    )


@pytest.fixture
def endpoint(ml_client: Any, fake: FakeAzureML) -> str:
    """An endpoint with deployment ``blue`` taking all traffic."""
    ml_client.online_endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name="credit-ep", auth_mode="key")
    ).result()
    ml_client.online_deployments.begin_create_or_update(_deployment("blue", "credit-ep")).result()
    ep = ml_client.online_endpoints.get("credit-ep")
    ep.traffic = {"blue": 100}
    ml_client.online_endpoints.begin_create_or_update(ep).result()
    return "credit-ep"


# --------------------------------------------------------------------------------------- jobs


def test_command_job_resolves_latest_environment_and_runs_to_completion(
    ml_client: Any, fake: FakeAzureML
) -> None:
    job = ml_client.jobs.create_or_update(_train())
    assert str(job.status.value) == "NotStarted"
    put = fake.calls("PUT", f"/jobs/{job.name}")[0]
    props = put.json["properties"]
    assert props["jobType"] == "Command"
    assert props["environmentId"].endswith("/environments/sklearn-env/versions/2")
    assert props["computeId"].endswith("/computes/cpu-cluster")
    assert _wait(ml_client, job.name) == ["Queued", "Running", "Completed"]
    assert job.studio_url.startswith("https://ml.azure.com/runs/")
    # the version lookup came before the submission
    methods = [(r.method, r.path.rsplit("/", 2)[-2]) for r in fake.requests]
    assert methods[:2] == [("GET", "sklearn-env"), ("PUT", "jobs")]


def test_command_job_with_code_inputs_and_pinned_environment(
    ml_client: Any, fake: FakeAzureML, tmp_path: Path
) -> None:
    (tmp_path / "train.py").write_text("print('train')\n")
    fake.add_data("credit-data", "3")
    job = ml_client.jobs.create_or_update(
        _train(
            environment="azureml:sklearn-env:1",
            code=str(tmp_path),
            inputs={"data": Input(type="uri_folder", path="azureml:credit-data:3")},
            outputs={"model": Output(type="mlflow_model")},
        )
    )
    # the code-hash lookup is answered with a match, so nothing is uploaded to blob storage
    lookup = fake.calls("GET", "/codes/")[0]
    assert "hash" in lookup.query
    props = fake.jobs[job.name].body["properties"]
    assert props["environmentId"].endswith("/environments/sklearn-env/versions/1")
    assert props["codeId"].endswith("/versions/1")
    assert props["inputs"]["data"]["uri"].endswith("/data/credit-data/versions/3")
    got = ml_client.jobs.get(job.name)
    assert got.outputs["model"].path.endswith(f"dcid.{job.name}/model")


def test_prefixed_label_form_is_not_resolved(ml_client: Any) -> None:
    """The SDK sends ``azureml:env@latest`` as an asset named ``azureml:env``: kept literal."""
    with pytest.raises(MlException, match="azureml:sklearn-env does not exist"):
        ml_client.jobs.create_or_update(_train(environment="azureml:sklearn-env@latest"))


def test_failed_job_surfaces_the_error(
    ml_client: Any, fake: FakeAzureML, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.ai.ml.operations._run_history_constants import RunHistoryConstants

    monkeypatch.setattr(RunHistoryConstants, "_WAIT_COMPLETION_POLLING_INTERVAL_MIN", 0)
    fake.script_job(
        ["Running", "Failed"], error_message="CUDA out of memory", error_code="UserError"
    )
    job = ml_client.jobs.create_or_update(_train())
    assert _wait(ml_client, job.name) == ["Running", "Failed"]
    with pytest.raises(JobException, match="CUDA out of memory"):
        ml_client.jobs.stream(job.name)
    assert fake.calls("GET", f"/runs/{job.name}/details")


def test_cancel_job(ml_client: Any, fake: FakeAzureML) -> None:
    fake.script_job(["Running"])  # would run forever
    job = ml_client.jobs.create_or_update(_train())
    assert _wait(ml_client, job.name, limit=2) == ["Running", "Running"]
    ml_client.jobs.begin_cancel(job.name).result()
    assert str(ml_client.jobs.get(job.name).status.value) == "Canceled"
    assert fake.calls("POST", f"/jobs/{job.name}/cancel")


def test_job_scripted_by_name_and_forced_status(ml_client: Any, fake: FakeAzureML) -> None:
    fake.script_job(["Queued"], name="pinned-job")
    job = ml_client.jobs.create_or_update(_train(name="pinned-job"))
    assert _wait(ml_client, job.name, limit=2) == ["Queued", "Queued"]
    fake.set_job_status("pinned-job", "Completed")
    assert _wait(ml_client, job.name) == ["Completed"]


def test_job_metadata_updates(ml_client: Any, fake: FakeAzureML) -> None:
    ml_client.jobs.create_or_update(_train(name="tagged-job", tags={"stage": "train"}))
    # a fetched job goes through the run-history PATCH, which merges tags
    job = ml_client.jobs.get("tagged-job")
    job.tags["champion"] = "true"
    assert ml_client.jobs.create_or_update(job).tags == {"stage": "train", "champion": "true"}
    assert fake.calls("PATCH", "/experiments/credit/runs/tagged-job")
    updated = ml_client.jobs.update("tagged-job", display_name="v2", tags={"x": "1"})
    assert updated.display_name == "v2"
    assert updated.tags == {"stage": "train", "champion": "true", "x": "1"}
    # a fresh PUT under an existing name may not change the definition
    changed = _train(name="tagged-job")
    changed.command = "python other.py"
    with pytest.raises(HttpResponseError, match="already exists"):
        ml_client.jobs.create_or_update(changed)


@pytest.mark.parametrize(
    ("setup", "kwargs", "exc", "status", "text"),
    [
        (None, {"compute": "gpu-cluster"}, ResourceNotFoundError, 404, "Compute gpu-cluster"),
        (None, {"environment": "sklearn-env:9"}, ResourceNotFoundError, 404, "sklearn-env:9"),
        ("quota", {}, HttpResponseError, 400, "Not enough quota"),
        ("invalid", {}, HttpResponseError, 400, "Invalid command line"),
    ],
)
def test_job_submission_rejected(
    ml_client: Any,
    fake: FakeAzureML,
    setup: str | None,
    kwargs: dict[str, str],
    exc: type[Exception],
    status: int,
    text: str,
) -> None:
    if setup == "quota":
        fake.reject_job_quota()
    elif setup == "invalid":
        fake.reject_job_submission(400, "UserError", "Invalid command line")
    with pytest.raises(exc, match=text) as info:
        ml_client.jobs.create_or_update(_train(**kwargs))
    assert info.value.status_code == status  # type: ignore[attr-defined]
    assert fake.jobs == {}
    # one-shot faults: the next submission goes through
    if setup:
        assert ml_client.jobs.create_or_update(_train()).name in fake.jobs


def test_sweep_job(ml_client: Any, fake: FakeAzureML) -> None:
    trial = command(
        command="python train.py --lr ${{inputs.lr}}",
        inputs={"lr": 0.1},
        environment="sklearn-env:2",
        compute="cpu-cluster",
    )
    sweep = trial(lr=Uniform(0.01, 0.5)).sweep(
        sampling_algorithm="random", primary_metric="auc", goal="Maximize", compute="cpu-cluster"
    )
    sweep.set_limits(max_total_trials=2, max_concurrent_trials=2)
    fake.script_job(
        ["Running", "Completed"],
        properties={"best_child_run_id": "trial-2"},
        children=[{"name": "trial-1"}, {"name": "trial-2", "properties": {"auc": "0.91"}}],
    )
    job = ml_client.jobs.create_or_update(sweep)
    body = fake.jobs[job.name].body["properties"]
    assert body["jobType"] == "Sweep"
    assert body["trial"]["environmentId"].endswith("/sklearn-env/versions/2")
    assert _wait(ml_client, job.name) == ["Running", "Completed"]
    assert ml_client.jobs.get(job.name).properties["best_child_run_id"] == "trial-2"
    children = list(ml_client.jobs.list(parent_job_name=job.name))
    assert [c.name for c in children] == ["trial-1", "trial-2"]


def test_register_model_from_job_output(ml_client: Any, fake: FakeAzureML) -> None:
    job = ml_client.jobs.create_or_update(_train(outputs={"model": Output(type="mlflow_model")}))
    model = ml_client.models.create_or_update(
        Model(
            name="credit-model",
            path=f"azureml://jobs/{job.name}/outputs/model",
            type="mlflow_model",
        )
    )
    assert model.version == "2"
    assert ml_client.models.get("credit-model", "2").path.endswith(f"jobs/{job.name}/outputs/model")
    assert fake.assets["models"]["credit-model"]["2"]["properties"]["flavors"] == {}


# ------------------------------------------------------------------------- online endpoints


def test_endpoint_and_deployment_lifecycle(ml_client: Any, fake: FakeAzureML) -> None:
    started = time.monotonic()
    ep = ml_client.online_endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name="credit-ep", auth_mode="key", tags={"team": "risk"})
    ).result()
    assert str(ep.provisioning_state.value) == "Succeeded"
    assert ep.scoring_uri == "https://credit-ep.westeurope.inference.ml.azure.com/score"

    dep = ml_client.online_deployments.begin_create_or_update(
        _deployment("blue", "credit-ep", instance_count=2)
    ).result()
    assert str(dep.provisioning_state.value) == "Succeeded"
    assert dep.instance_count == 2
    assert dep.model.endswith("/models/credit-model/versions/1")

    ep = ml_client.online_endpoints.get("credit-ep")
    ep.traffic = {"blue": 100}
    ep = ml_client.online_endpoints.begin_create_or_update(ep).result()
    assert ep.traffic == {"blue": 100}

    keys = ml_client.online_endpoints.get_keys("credit-ep")
    session = make_session(fake)
    resp = session.post(
        ep.scoring_uri,
        json={"input_data": {"data": [[1, 2], [3, 4]]}},
        headers={"Authorization": f"Bearer {keys.primary_key}", "azureml-model-deployment": "blue"},
    )
    assert resp.status_code == 200
    assert resp.json() == [0, 0]
    assert resp.headers["azureml-model-deployment"] == "blue"

    fake.set_deployment_logs("credit-ep", "blue", "line1\nline2\nboom\n")
    assert ml_client.online_deployments.get_logs("blue", "credit-ep", lines=1) == "boom"

    ep.traffic = {"blue": 0}
    ml_client.online_endpoints.begin_create_or_update(ep).result()
    ml_client.online_deployments.begin_delete("blue", "credit-ep").result()
    assert fake.deployments["credit-ep"] == {}
    ml_client.online_endpoints.begin_delete("credit-ep").result()
    assert fake.endpoints == {}
    with pytest.raises(ResourceNotFoundError):
        ml_client.online_endpoints.get("credit-ep")

    # every long-running operation was polled through its Azure-AsyncOperation URL, quickly
    assert fake.calls("GET", "/mfeOperationsStatus/")
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("code", ["DeploymentFailed", "OutOfQuota", "ResourceNotReady"])
def test_deployment_failure_raises_with_code(
    ml_client: Any, fake: FakeAzureML, endpoint: str, code: str
) -> None:
    fake.fail_deployment(endpoint, "green", code, f"{code}: details for the operator")
    poller = ml_client.online_deployments.begin_create_or_update(_deployment("green", endpoint))
    with pytest.raises(HttpResponseError, match=code) as info:
        poller.result()
    assert info.value.error.code == code  # type: ignore[union-attr]
    assert str(ml_client.online_deployments.get("green", endpoint).provisioning_state.value) == (
        "Failed"
    )
    # one-shot: a retry succeeds
    ml_client.online_deployments.begin_create_or_update(_deployment("green", endpoint)).result()


def test_service_validates_traffic(ml_client: Any, fake: FakeAzureML, endpoint: str) -> None:
    ml_client.online_deployments.begin_create_or_update(_deployment("green", endpoint)).result()
    ep = ml_client.online_endpoints.get(endpoint)
    ep.traffic = {"blue": 70, "green": 20}
    with pytest.raises(HttpResponseError, match="sum to 0 or 100"):
        ml_client.online_endpoints.begin_create_or_update(ep).result()
    ep.traffic = {"blue": 100, "green": 0}
    ep.mirror_traffic = {"green": 60}
    with pytest.raises(HttpResponseError, match="at most 50"):
        ml_client.online_endpoints.begin_create_or_update(ep).result()
    ep.mirror_traffic = {"green": 20}
    ep = ml_client.online_endpoints.begin_create_or_update(ep).result()
    assert ep.mirror_traffic == {"green": 20}
    with pytest.raises(HttpResponseError, match="set it to 0"):
        ml_client.online_deployments.begin_delete("blue", endpoint).result()


def test_deployment_referencing_unknown_model_is_rejected(ml_client: Any, endpoint: str) -> None:
    dep = _deployment("green", endpoint)
    dep.model = "azureml:credit-model:7"
    with pytest.raises(ResourceNotFoundError, match="credit-model:7"):
        ml_client.online_deployments.begin_create_or_update(dep).result()


# ---------------------------------------------------------------------------------- scoring


def _score(fake: FakeAzureML, ml_client: Any, endpoint: str, **headers: str) -> Any:
    key = fake.endpoint_keys[endpoint]["primaryKey"]
    return make_session(fake).post(
        fake.scoring_uri(endpoint),
        json={"input_data": {"data": [[1.0, 2.0]]}},
        headers={"Authorization": f"Bearer {key}", **headers},
    )


def test_scoring_requires_the_endpoint_key(fake: FakeAzureML, endpoint: str) -> None:
    session = make_session(fake)
    resp = session.post(
        fake.scoring_uri(endpoint), json={"data": []}, headers={"Authorization": "Bearer nope"}
    )
    assert resp.status_code == 401
    assert session.post(fake.scoring_uri(endpoint), json={"data": []}).status_code == 401


def test_scoring_routes_by_traffic_mirror_and_header(
    ml_client: Any, fake: FakeAzureML, endpoint: str
) -> None:
    ml_client.online_deployments.begin_create_or_update(_deployment("green", endpoint)).result()
    seen_bodies: list[Any] = []

    def green(body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        seen_bodies.append((body, headers.get("azureml-model-deployment")))
        return 200, {"predictions": [1]}

    fake.set_scoring_handler(endpoint, "green", green)
    ep = ml_client.online_endpoints.get(endpoint)
    ep.traffic = {"blue": 80, "green": 20}
    ml_client.online_endpoints.begin_create_or_update(ep).result()

    served = Counter(
        _score(fake, ml_client, endpoint).headers["azureml-model-deployment"] for _ in range(200)
    )
    assert served["blue"] + served["green"] == 200
    assert 20 <= served["green"] <= 60

    resp = _score(fake, ml_client, endpoint, **{"azureml-model-deployment": "green"})
    assert resp.json() == {"predictions": [1]}
    assert seen_bodies[-1] == ({"input_data": {"data": [[1.0, 2.0]]}}, "green")

    ep.traffic = {"blue": 100, "green": 0}
    ep.mirror_traffic = {"green": 50}
    ml_client.online_endpoints.begin_create_or_update(ep).result()
    fake.scoring_log.clear()
    for _ in range(100):
        assert _score(fake, ml_client, endpoint).headers["azureml-model-deployment"] == "blue"
    mirrored = [e for e in fake.scoring_log if e["mirrored"]]
    assert 25 <= len(mirrored) <= 75
    assert {e["deployment"] for e in mirrored} == {"green"}
    # a request naming a deployment bypasses mirroring
    fake.scoring_log.clear()
    _score(fake, ml_client, endpoint, **{"azureml-model-deployment": "blue"})
    assert [e["mirrored"] for e in fake.scoring_log] == [False]


@pytest.mark.parametrize("status", [408, 424, 429, 500, 503])
def test_scoring_fault_injection(
    ml_client: Any, fake: FakeAzureML, endpoint: str, status: int
) -> None:
    fake.inject_scoring_fault(endpoint, status, deployment="blue", times=2)
    assert [_score(fake, ml_client, endpoint).status_code for _ in range(3)] == [
        status,
        status,
        200,
    ]


def test_scoring_without_traffic_needs_the_header(
    ml_client: Any, fake: FakeAzureML, endpoint: str
) -> None:
    ep = ml_client.online_endpoints.get(endpoint)
    ep.traffic = {"blue": 0}
    ml_client.online_endpoints.begin_create_or_update(ep).result()
    assert _score(fake, ml_client, endpoint).status_code == 404
    resp = _score(fake, ml_client, endpoint, **{"azureml-model-deployment": "blue"})
    assert resp.status_code == 200


# ------------------------------------------------------------------------------ the fake itself


def test_unknown_routes_are_recorded(fake: FakeAzureML) -> None:
    session = make_session(fake)
    resp = session.get("https://fakestorage.blob.core.windows.net/container/blob")
    assert resp.status_code == 404
    assert [r.host for r in fake.unhandled] == ["fakestorage.blob.core.windows.net"]
    fake.unhandled.clear()


@pytest.mark.parametrize(
    ("method", "path", "status", "unhandled"),
    [
        ("GET", "/computes/cpu-cluster", 200, False),
        ("GET", "/Computes/nope", 404, False),  # the service's own 404
        ("POST", "/datastores/nope/anything", 404, False),  # unknown name: 404 on any sub-path
        ("POST", "/datastores/workspaceblobstore/anything", 404, True),  # known: no such route
        ("PATCH", "/jobs/nope", 404, False),
        ("PUT", "/environments", 404, True),
        ("GET", "/onlineEndpoints/nope/deployments/blue/skus", 404, False),
    ],
)
def test_route_table_answers_unknown_names_and_unknown_routes_apart(
    fake: FakeAzureML, method: str, path: str, status: int, unhandled: bool
) -> None:
    url = f"https://management.azure.com{fake.workspace_arm_id}{path}"
    resp = make_session(fake).request(
        method, url, headers={"Authorization": f"Bearer {fake.token}"}, json={}
    )
    assert resp.status_code == status
    assert bool(fake.unhandled) is unhandled
    if unhandled:
        assert resp.json()["error"]["code"] == "NoRoute"


def test_control_plane_requires_the_bearer_token(fake: FakeAzureML) -> None:
    resp = make_session(fake).get(f"https://management.azure.com{fake.workspace_arm_id}")
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "AuthenticationFailed"


def test_workspace_and_discovery(ml_client: Any, fake: FakeAzureML) -> None:
    ws = ml_client.workspaces.get(fake.workspace)
    assert ws.location == "westeurope"
    assert ws.mlflow_tracking_uri.startswith("azureml://westeurope.api.azureml.ms/mlflow/v1.0/")
    assert ws.discovery_url == "https://westeurope.api.azureml.ms/discovery"
    assert ml_client.compute.get("cpu-cluster").size == "STANDARD_DS3_V2"
    assert ml_client.environments.get("sklearn-env", label="latest").version == "2"


def test_same_fake_over_https_loopback(fake: FakeAzureML, azureml_https: Any) -> None:
    """No injected adapter: a plain requests session over TLS to 127.0.0.1."""
    with azureml_https(fake) as https:
        server, session, ml_client = https.server, https.session, https.ml_client
        job = ml_client.jobs.create_or_update(_train())
        assert _wait(ml_client, job.name) == ["Queued", "Running", "Completed"]
        ep = ml_client.online_endpoints.begin_create_or_update(
            ManagedOnlineEndpoint(name="loop-ep")
        ).result()
        assert ep.scoring_uri == f"{server.base_url}/_scoring/loop-ep/score"
        ml_client.online_deployments.begin_create_or_update(_deployment("blue", "loop-ep")).result()
        key = ml_client.online_endpoints.get_keys("loop-ep").primary_key
        resp = session.post(
            ep.scoring_uri,
            json={"input_data": {"data": [[1.0]]}},
            headers={"Authorization": f"Bearer {key}", "azureml-model-deployment": "blue"},
        )
        assert resp.json() == [0]
    assert fake.unhandled == []
    assert {r.host for r in fake.requests} == {"127.0.0.1"}
