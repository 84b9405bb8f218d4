"""`AzureMLEndpoint`: the Endpoint contract on Azure ML, through the real azure-ai-ml SDK.

Control plane, scoring and Azure Monitor metrics all go to tests/fakes/azureml_rest.py through
azure-core / requests transports (one test scores over real HTTPS on 127.0.0.1 for timeouts and
refused connections); everything between our code and HTTP is the real SDK.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("azure.ai.ml")
pytest.importorskip("azure.monitor.querymetrics")

from mlops_actions.backends.azureml_endpoint import AzureEndpointSpec, AzureMLEndpoint, Probe
from mlops_actions.backends.endpoint import (
    DeploymentFailed,
    DeploymentSpec,
    EndpointError,
    MetricsUnavailable,
    MirrorTraffic,
    TrafficSplit,
    UnknownDeployment,
    scoring_payload,
)
from mlops_actions.errors import BackendError, InputError
from tests.fakes.azureml_rest import (
    FakeAzureML,
    FakeCredential,
    fake_jwt,
    make_ml_client,
    make_session,
    make_transport,
)

EP = "credit-ep"
ROW = {"age": 41, "utilisation": 0.3}


@pytest.fixture
def fake() -> Iterator[FakeAzureML]:
    f = FakeAzureML()
    for version in ("1", "2", "3"):
        f.add_model("credit", version)
    yield f
    assert f.unhandled == [], f"routes the fake does not serve: {f.unhandled}"


def make_endpoint(
    fake: FakeAzureML, *, session: Any = None, credential: Any = None, **spec: Any
) -> AzureMLEndpoint:
    settings = AzureEndpointSpec(
        fake.subscription_id,
        fake.resource_group,
        fake.workspace,
        spec.pop("endpoint", EP),
        **{"metrics_source": "probe", **spec},
    )
    return AzureMLEndpoint(
        settings,
        ml_client=make_ml_client(fake),
        credential=credential or FakeCredential(fake.token),
        session=session or make_session(fake),
        metrics_client_options={"transport": make_transport(fake)},
    )


def deploy(endpoint: AzureMLEndpoint, name: str, version: str, **kw: Any) -> Any:
    spec = DeploymentSpec(name, "credit", version, "sqlite:///unused.db", **kw)
    return endpoint.create_or_update_deployment(spec)


@pytest.fixture
def blue_green(fake: FakeAzureML) -> AzureMLEndpoint:
    """Deployments blue (v1, all live traffic) and green (v2, none)."""
    endpoint = make_endpoint(fake)
    deploy(endpoint, "blue", "1")
    deploy(endpoint, "green", "2")
    endpoint.set_traffic(TrafficSplit.only("blue"))
    return endpoint


def puts(fake: FakeAzureML, fragment: str) -> int:
    return len([r for r in fake.calls("PUT") if r.path.endswith(fragment)])


# ------------------------------------------------------------------ deployments


def test_create_sends_the_deployment_as_configured(fake: FakeAzureML) -> None:
    endpoint = make_endpoint(
        fake,
        instance_type="Standard_F4s_v2",
        instance_count=2,
        request_timeout_ms=3000,
        max_concurrent_requests_per_instance=4,
        liveness_probe=Probe(initial_delay_seconds=5, period_seconds=7, failure_threshold=3),
        readiness_probe=Probe(timeout_seconds=4, success_threshold=2),
    )
    assert endpoint.url == "" and endpoint.get_traffic() == TrafficSplit()
    assert endpoint.list_deployments() == []
    info = deploy(endpoint, "credit-v1", "1", environment={"LOG_LEVEL": "debug"})
    assert (info.name, info.model_name, info.model_version, info.state) == (
        "credit-v1",
        "credit",
        "1",
        "ready",
    )
    created = fake.calls("PUT", f"/onlineEndpoints/{EP}")[0].json
    assert created["properties"]["authMode"] == "Key"
    body = fake.calls("PUT", "/deployments/credit-v1")[0].json
    props = body["properties"]
    assert props["model"].endswith("/models/credit/versions/1")
    assert props["instanceType"] == "Standard_F4s_v2" and body["sku"]["capacity"] == 2
    assert props["requestSettings"] == {
        "requestTimeout": "PT3S",
        "maxConcurrentRequestsPerInstance": 4,
    }
    assert props["livenessProbe"] == {
        "initialDelay": "PT5S",
        "period": "PT7S",
        "timeout": "PT2S",
        "failureThreshold": 3,
        "successThreshold": 1,
    }
    assert props["readinessProbe"]["timeout"] == "PT4S"
    assert props["readinessProbe"]["successThreshold"] == 2
    assert props["environmentVariables"] == {"LOG_LEVEL": "debug"}
    assert "environmentId" not in props and "codeConfiguration" not in props  # MLflow, no code
    assert endpoint.url == fake.scoring_uri(EP)
    assert endpoint.list_deployments() == [info]
    assert endpoint.get_traffic() == TrafficSplit(), "a new deployment starts at 0 %"


def test_create_is_idempotent_and_replaces_another_version(blue_green: AzureMLEndpoint) -> None:
    fake = _fake_of(blue_green)
    before = (puts(fake, "/deployments/blue"), puts(fake, f"/onlineEndpoints/{EP}"))
    again = deploy(blue_green, "blue", "1")
    assert again.ready and again.model_version == "1"
    assert (puts(fake, "/deployments/blue"), puts(fake, f"/onlineEndpoints/{EP}")) == before
    assert blue_green.get_traffic() == TrafficSplit.only("blue")
    replaced = deploy(blue_green, "blue", "3")
    assert replaced.model_version == "3" and replaced.ready
    assert puts(fake, "/deployments/blue") == before[0] + 1
    assert blue_green.get_traffic() == TrafficSplit.only("blue"), "traffic kept"
    added = deploy(blue_green, "credit-v3", "3")
    assert added.ready and blue_green.get_traffic() == TrafficSplit.only("blue")
    assert puts(fake, f"/onlineEndpoints/{EP}") == before[1], "the endpoint was not sent again"


def test_traffic_and_mirror_are_set_and_read_back_from_the_service(
    blue_green: AzureMLEndpoint,
) -> None:
    fake = _fake_of(blue_green)
    split = TrafficSplit({"blue": 90, "green": 10})
    blue_green.set_traffic(split)
    assert blue_green.get_traffic() == split
    assert fake.endpoints[EP]["properties"]["traffic"] == {"blue": 90, "green": 10}
    updates = puts(fake, f"/onlineEndpoints/{EP}")
    blue_green.set_traffic(split)  # idempotent: nothing sent
    assert puts(fake, f"/onlineEndpoints/{EP}") == updates
    # what the service routes by now, not what we last set
    fake.endpoints[EP]["properties"]["traffic"] = {"green": 100}
    assert blue_green.get_traffic() == TrafficSplit.only("green")
    blue_green.set_traffic(TrafficSplit.only("blue"))
    blue_green.set_mirror(MirrorTraffic("green", 20))
    assert blue_green.get_mirror() == MirrorTraffic("green", 20)
    assert fake.endpoints[EP]["properties"]["mirrorTraffic"] == {"green": 20}
    assert blue_green.get_traffic() == TrafficSplit.only("blue"), "the mirror keeps the split"
    blue_green.set_mirror(MirrorTraffic())
    assert blue_green.get_mirror() == MirrorTraffic()
    assert not fake.endpoints[EP]["properties"]["mirrorTraffic"]
    blue_green.set_traffic(TrafficSplit())
    assert blue_green.get_traffic() == TrafficSplit()


def test_unknown_deployments_are_named(blue_green: AzureMLEndpoint) -> None:
    with pytest.raises(UnknownDeployment, match="'nope'"):
        blue_green.set_traffic(TrafficSplit({"blue": 50, "nope": 50}))
    with pytest.raises(UnknownDeployment, match="'nope'"):
        blue_green.set_mirror(MirrorTraffic("nope", 10))
    with pytest.raises(UnknownDeployment, match="'nope'"):
        blue_green.invoke(scoring_payload([ROW]), deployment="nope")
    with pytest.raises(UnknownDeployment):
        blue_green.metrics("nope", 60)
    assert blue_green.get_deployment("nope") is None
    assert blue_green.get_traffic() == TrafficSplit.only("blue")


def test_mirror_target_cannot_have_live_traffic(blue_green: AzureMLEndpoint) -> None:
    with pytest.raises(InputError, match="live traffic"):
        blue_green.set_mirror(MirrorTraffic("blue", 10))
    blue_green.set_mirror(MirrorTraffic("green", 10))
    with pytest.raises(InputError, match="mirror target"):
        blue_green.set_traffic(TrafficSplit({"blue": 50, "green": 50}))
    assert blue_green.get_traffic() == TrafficSplit.only("blue")


def test_delete_refuses_live_or_mirrored_traffic_and_is_idempotent(
    blue_green: AzureMLEndpoint,
) -> None:
    fake = _fake_of(blue_green)
    with pytest.raises(InputError, match="100 % of live traffic"):
        blue_green.delete_deployment("blue")
    blue_green.set_mirror(MirrorTraffic("green", 30))
    with pytest.raises(InputError, match="30 % mirrored"):
        blue_green.delete_deployment("green")
    blue_green.set_mirror(MirrorTraffic())
    blue_green.delete_deployment("green")
    assert "green" not in fake.deployments[EP]
    assert [d.name for d in blue_green.list_deployments()] == ["blue"]
    blue_green.delete_deployment("green")  # already gone
    make_endpoint(fake, endpoint="no-such-ep").delete_deployment("green")


def test_deployment_failures_carry_the_code_hint_and_log_tail(fake: FakeAzureML) -> None:
    endpoint = make_endpoint(fake, instance_type="Standard_NC6", instance_count=3)
    cases = [
        ("DeploymentFailed", "the container crashed", "get-logs"),
        ("OutOfQuota", "Not enough quota for Standard_NC6", "3 × Standard_NC6"),
        ("ResourceNotReady", "User container has crashed or terminated", "readiness_probe"),
    ]
    for i, (code, message, hint) in enumerate(cases):
        name = f"credit-f{i}"
        fake.fail_deployment(EP, name, code, message)
        fake.set_deployment_logs(EP, name, "starting\nloading model\nTraceback: boom\n")
        with pytest.raises(DeploymentFailed) as failed:
            deploy(endpoint, name, "1")
        assert f"({code})" in failed.value.message and message in failed.value.message
        assert hint in str(failed.value.hint)
        assert failed.value.log_tail.endswith("Traceback: boom")
        assert endpoint.get_deployment(name).state == "failed"  # type: ignore[union-attr]
        endpoint.delete_deployment(name)
        assert endpoint.get_deployment(name) is None


def test_a_deployment_that_never_gets_ready_times_out(
    fake: FakeAzureML, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint = make_endpoint(fake)
    fake.stall_deployment(EP, "credit-v1")
    fake.set_deployment_logs(EP, "credit-v1", "waiting for readiness probe\n")
    started = time.monotonic()
    with pytest.raises(DeploymentFailed) as failed:
        deploy(endpoint, "credit-v1", "1", ready_timeout_seconds=0.5)
    assert 0.5 <= time.monotonic() - started < 3
    assert "within 0.5 s (Azure ML reports Creating)" in failed.value.message
    assert "readiness probe" in failed.value.log_tail
    assert endpoint.get_deployment("credit-v1").state == "starting"  # type: ignore[union-attr]
    polls = len(fake.calls("GET", "/mfeOperationsStatus/"))
    time.sleep(0.2)  # the SDK still polls the operation in the background ...
    assert len(fake.calls("GET", "/mfeOperationsStatus/")) > polls
    assert capsys.readouterr().out == "", "... without printing progress dots to stdout"
    endpoint.delete_deployment("credit-v1")
    # the SDK's poller thread ends with the canceled operation instead of polling forever
    deadline = time.monotonic() + 5
    while any(t.name.startswith("LROPoller") for t in threading.enumerate()):
        assert time.monotonic() < deadline, "an LRO poller thread is still running"
        time.sleep(0.02)


def test_a_model_the_workspace_lacks_is_an_input_error(fake: FakeAzureML) -> None:
    endpoint = make_endpoint(fake)
    with pytest.raises(InputError, match="register version 9 of model credit") as refused:
        deploy(endpoint, "credit-v9", "9")
    assert "not found" in refused.value.message.lower()
    assert endpoint.get_deployment("credit-v9") is None


def test_endpoint_that_cannot_be_created(fake: FakeAzureML) -> None:
    fake.fail_endpoint(EP, message="Subscription is not registered for online endpoints.")
    with pytest.raises(EndpointError, match="not registered for online endpoints"):
        deploy(make_endpoint(fake), "credit-v1", "1")


def test_rejected_credentials_say_how_to_log_in(fake: FakeAzureML) -> None:
    not_the_fakes_token = FakeCredential(fake_jwt("00000000-0000-0000-0000-0000000000ff"))
    client = make_ml_client(fake, credential=not_the_fakes_token)
    endpoint = AzureMLEndpoint(
        AzureEndpointSpec(fake.subscription_id, fake.resource_group, fake.workspace, EP),
        ml_client=client,
    )
    with pytest.raises(BackendError) as failed:
        endpoint.get_traffic()
    assert not isinstance(failed.value, EndpointError)
    assert "Azure authentication failed" in failed.value.message
    assert "azure/login" in str(failed.value.hint) and "id-token: write" in str(failed.value.hint)


# ------------------------------------------------------------------ scoring


def test_invoke_direct_and_through_the_split_without_leaking_the_header(
    blue_green: AzureMLEndpoint,
) -> None:
    fake = _fake_of(blue_green)
    fake.scoring_log.clear()
    direct = blue_green.invoke(scoring_payload([ROW]), deployment="green", request_id="rid-1")
    split = blue_green.invoke(scoring_payload([ROW, ROW]), source="probe")
    direct_again = blue_green.invoke(scoring_payload([ROW]), deployment="green")
    assert (direct.status, direct.deployment, direct.request_id) == (200, "green", "rid-1")
    assert direct.predictions == [0]
    assert (split.status, split.deployment, split.predictions) == (200, "blue", [0, 0])
    assert direct_again.deployment == "green"
    assert [e["deployment_header"] for e in fake.scoring_log] == ["green", None, "green"]
    assert [e["deployment"] for e in fake.scoring_log] == ["green", "blue", "green"]
    scored = fake.calls("POST", "/score")
    assert [r.headers.get("azureml-model-deployment") for r in scored] == ["green", None, "green"]
    assert scored[0].headers["x-request-id"] == "rid-1"
    assert scored[0].headers["x-ms-client-request-id"] == "rid-1"
    assert scored[1].headers["x-request-id"] == split.request_id != "rid-1"
    assert scored[1].headers["x-mlops-source"] == "probe"
    assert {r.headers["authorization"] for r in scored} == {
        f"Bearer {fake.endpoint_keys[EP]['primaryKey']}"
    }
    assert len(fake.calls("POST", "/listKeys")) == 1, "the key is fetched once"


def test_a_rotated_key_is_fetched_again(blue_green: AzureMLEndpoint) -> None:
    fake = _fake_of(blue_green)
    assert blue_green.invoke(scoring_payload([ROW])).status == 200
    fake.rotate_endpoint_keys(EP)
    answer = blue_green.invoke(scoring_payload([ROW]))
    assert answer.status == 200
    assert len(fake.calls("POST", "/listKeys")) == 2
    statuses = [e["status"] for e in fake.scoring_log]
    assert statuses[-1] == 200
    assert [r.headers["authorization"] for r in fake.calls("POST", "/score")][-1] == (
        f"Bearer {fake.endpoint_keys[EP]['primaryKey']}"
    )


def test_error_answers_are_invocations_counted_by_class(blue_green: AzureMLEndpoint) -> None:
    fake = _fake_of(blue_green)
    for status in (408, 424, 429, 500, 503, 400):
        fake.inject_scoring_fault(EP, status, deployment="green")
    answers = [blue_green.invoke(scoring_payload([ROW]), deployment="green") for _ in range(8)]
    assert [a.status for a in answers] == [408, 424, 429, 500, 503, 400, 200, 200]
    assert all(a.deployment == "green" for a in answers)
    assert answers[0].body == {"message": "Request timed out."}
    metrics = blue_green.metrics("green", 60)
    assert metrics.requests == 8
    assert dict(metrics.errors) == {"timeout": 1, "5xx": 3, "unavailable": 1, "4xx": 1}
    assert metrics.server_errors == 5 and metrics.error_rate == pytest.approx(5 / 8)
    assert metrics.p50_ms is not None and metrics.p50_ms <= metrics.p95_ms <= metrics.p99_ms  # type: ignore[operator]
    assert blue_green.metrics("blue", 60).requests == 0
    assert blue_green.metrics("green", 60).p95_ms is not None
    assert blue_green.metrics("green", 0.000001).requests == 0, "the window ends the count"


def test_client_timeout_is_504_and_a_refused_connection_is_an_endpoint_error(
    fake: FakeAzureML, azureml_https: Any
) -> None:
    """Scoring over real HTTPS on 127.0.0.1 (the in-process adapter cannot time out); the
    control plane stays on the adapter, so it still answers once the server is gone."""
    with azureml_https(fake, control_plane=False) as https:
        endpoint = make_endpoint(fake, session=https.session)
        deploy(endpoint, "slow", "1")
        endpoint.set_traffic(TrafficSplit.only("slow"))
        assert endpoint.url.startswith(https.server.base_url)

        def slow(body: Any, headers: dict[str, str]) -> tuple[int, Any]:
            time.sleep(0.5)
            return 200, [0]

        assert endpoint.invoke(scoring_payload([ROW])).status == 200
        fake.set_scoring_handler(EP, "slow", slow)
        timed_out = endpoint.invoke(scoring_payload([ROW]), deployment="slow", timeout_seconds=0.1)
        assert (timed_out.status, timed_out.ok) == (504, False)
        assert 100 <= timed_out.latency_ms < 450
        assert dict(endpoint.metrics("slow", 60).errors)["timeout"] == 1
    with pytest.raises(EndpointError, match="cannot be reached"):
        endpoint.invoke(scoring_payload([ROW]), deployment="slow")
    assert dict(endpoint.metrics("slow", 60).errors)["unavailable"] == 1


# ------------------------------------------------------------------ Azure Monitor metrics


def test_azure_monitor_metrics_of_the_endpoint_resource(fake: FakeAzureML) -> None:
    endpoint = make_endpoint(fake, metrics_source="azure-monitor")
    deploy(endpoint, "blue", "1")
    deploy(endpoint, "green", "2")
    endpoint.set_traffic(TrafficSplit.only("blue"))
    endpoint.set_mirror(MirrorTraffic("green", 50))

    def slow(body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        time.sleep(0.02)
        return 200, [1]

    fake.set_scoring_handler(EP, "green", slow)
    for status in (500, 429, 408):
        fake.inject_scoring_fault(EP, status, deployment="blue")
    for _ in range(20):
        endpoint.invoke(scoring_payload([ROW]))
    mirrored = len([e for e in fake.scoring_log if e["mirrored"]])
    assert 0 < mirrored < 20
    blue = endpoint.metrics("blue", 60)
    assert blue.requests == 20
    assert dict(blue.errors) == {"4xx": 0, "5xx": 1, "timeout": 1, "unavailable": 1}
    assert blue.p95_ms is not None and blue.p95_ms < 20
    green = endpoint.metrics("green", 60)
    assert green.requests == mirrored, "mirrored requests count for the mirror target"
    assert green.server_errors == 0
    assert green.p50_ms is not None and green.p50_ms >= 20
    queries = fake.calls("POST", "/metrics:getBatch")
    assert {r.host for r in queries} == {f"{fake.location}.metrics.monitor.azure.com"}
    assert {r.query["metricnamespace"] for r in queries} == {
        "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
    }
    assert {r.query["metricnames"] for r in queries} == {
        "RequestsPerMinute",
        "RequestLatency_P50,RequestLatency_P95,RequestLatency_P99",
    }
    assert {r.query["filter"] for r in queries[:2]} == {
        "deployment eq 'blue' and statusCode eq '*'",
        "deployment eq 'blue'",
    }
    assert {tuple(r.json["resourceids"]) for r in queries} == {(fake.endpoints[EP]["id"],)}
    quiet = endpoint.metrics("blue", 0.000001)
    assert (quiet.requests, quiet.p95_ms) == (0, None)


def test_metrics_provider_failures_are_metrics_unavailable(fake: FakeAzureML) -> None:
    endpoint = make_endpoint(fake, metrics_source="azure-monitor")
    deploy(endpoint, "blue", "1")
    endpoint.set_traffic(TrafficSplit.only("blue"))
    endpoint.invoke(scoring_payload([ROW]))
    fake.fail_metrics(times=None)
    for _ in range(2):
        with pytest.raises(MetricsUnavailable, match="could not be read"):
            endpoint.metrics("blue", 60)
    fake.restore_metrics()
    assert endpoint.metrics("blue", 60).requests == 1
    fake.fail_metrics(403, "AuthorizationFailed", "The client has no access to metrics.")
    with pytest.raises(MetricsUnavailable, match="no access to metrics"):
        endpoint.metrics("blue", 60)
    elsewhere = make_endpoint(fake, metrics_source="azure-monitor", metrics_region="northeurope")
    with pytest.raises(MetricsUnavailable, match=f"in {fake.location}, not in northeurope"):
        elsewhere.metrics("blue", 60)
    assert (
        fake.calls("POST", "/metrics:getBatch")[-1].host == "northeurope.metrics.monitor.azure.com"
    )


# ------------------------------------------------------------------ settings


CONFIG = """\
model:
  name: credit
data:
  target: y
evaluate:
  primary_metric: roc_auc
deploy:
  backend: azureml
  endpoint: credit-prod
  analysis:
    source: {source}
{azureml}{train}"""
WORKSPACE = """\
    workspace:
      subscription_id: sub-1
      resource_group: rg-1
      workspace: ws-1
"""


def _settings(
    tmp_path: Path, *, source: str = "endpoint", azureml: str = "", train: str = ""
) -> Any:
    from mlops_actions.config import parse_settings

    text = CONFIG.format(source=source, azureml=azureml, train=train)
    return parse_settings(text, base_dir=tmp_path)


def test_open_endpoint_builds_the_azure_endpoint_from_settings(tmp_path: Path) -> None:
    from mlops_actions.backends.factory import open_endpoint

    (tmp_path / "score.py").write_text("def init():\n    pass\n", encoding="utf-8")
    azureml = (
        "  azureml:\n"
        + WORKSPACE
        + "    instance_type: Standard_F2s_v2\n    instance_count: 3\n"
        + "    environment: serving-env:4\n    scoring_script: score.py\n"
        + "    request_timeout_ms: 9000\n    metrics_region: northeurope\n"
        + "    readiness_probe:\n      period_seconds: 3\n"
    )
    endpoint = open_endpoint(_settings(tmp_path, azureml=azureml))
    assert isinstance(endpoint, AzureMLEndpoint) and endpoint.backend == "azureml"
    spec = endpoint.spec
    assert (spec.subscription_id, spec.resource_group, spec.workspace, spec.endpoint) == (
        "sub-1",
        "rg-1",
        "ws-1",
        "credit-prod",
    )
    assert (spec.instance_type, spec.instance_count, spec.request_timeout_ms) == (
        "Standard_F2s_v2",
        3,
        9000,
    )
    assert spec.metrics_source == "azure-monitor" and spec.metrics_region == "northeurope"
    assert spec.readiness_probe == Probe(period_seconds=3)
    entity = endpoint.build_deployment(DeploymentSpec("credit-v4", "credit", "4", "unused"))
    assert entity.environment == "azureml:serving-env:4"
    assert entity.code_configuration.scoring_script == "score.py"
    assert Path(entity.code_configuration.code) == tmp_path
    assert entity.model == "azureml:credit:4" and entity.instance_count == 3
    # the workspace falls back to train.azureml's; `probe` analysis counts our own requests
    train = "train:\n  azureml:\n" + WORKSPACE
    probe = open_endpoint(_settings(tmp_path, source="probe", train=train))
    assert isinstance(probe, AzureMLEndpoint)
    assert (probe.spec.workspace, probe.spec.metrics_source) == ("ws-1", "probe")


@pytest.mark.parametrize(
    ("azureml", "message"),
    [
        ("", "backend .azureml. needs a workspace"),
        ("  azureml:\n" + WORKSPACE + "    environment: env:1\n", "go together"),
    ],
)
def test_incomplete_azure_settings_are_input_errors(
    tmp_path: Path, azureml: str, message: str
) -> None:
    from mlops_actions.backends.factory import open_endpoint

    with pytest.raises(InputError, match=message):
        open_endpoint(_settings(tmp_path, azureml=azureml))


def _fake_of(endpoint: AzureMLEndpoint) -> FakeAzureML:
    adapter = endpoint.session.get_adapter("https://")
    fake: FakeAzureML = adapter.fake
    return fake
