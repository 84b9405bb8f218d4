"""`canary-deploy` on Azure ML: the rollout through `AzureMLEndpoint` and the real azure-ai-ml SDK.

The fake Azure ML service (tests/fakes/azureml_rest.py) answers the control plane, scoring and
Azure Monitor metrics; each deployment's scoring handler runs the REAL registered MLflow model
of its version (tests/fault_model.py in an MLflow sqlite store), so the smoke test's prediction
parity compares served answers with offline predictions. Every failure must end with live
traffic 100 % on the champion deployment (read back from the fake), no mirror, the failed
deployment deleted from the fake, the registry's champion unchanged, outcome rolled-back.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("azure.ai.ml")
pytest.importorskip("azure.monitor.querymetrics")

from mlops_actions.backends.azureml_endpoint import AzureMLEndpoint
from mlops_actions.backends.endpoint import (
    SOURCE_HEADER,
    DeploymentSpec,
    TrafficSplit,
    deployment_name,
    scoring_payload,
)
from tests.fakes.azureml_rest import (
    FakeAzureML,
    FakeCredential,
    make_ml_client,
    make_session,
    make_transport,
)
from tests.fault_model import Store, golden_cases, session_store

pytestmark = pytest.mark.slow
MODEL = "azure-canary"
EP = "azure-canary-ep"

DEPLOY = {
    "strategy": "canary",
    "steps": "[50, 100]",
    # probes every 0.1 s: about 10 requests a step when idle, 3 or more even at load 8 on 2 cores
    "step_duration_seconds": "1",
    "max_error_rate": "0.05",
    # generous: the fake's latency is real scoring time, slow on a loaded 2-core machine
    "max_p95_latency_ms": "2000",
    "min_requests": "3",
    "shadow_percent": "50",
    "shadow_duration_seconds": "1",
    "progress_deadline_seconds": "30",
    "ready_timeout_seconds": "10",
    "rollback_grace_seconds": "0",
    "source": "probe",
}

CONFIG = """\
model:
  name: {model}
  task: classification
tracking_uri: {tracking_uri}
data:
  train: {data}/train.csv
  holdout: {data}/holdout.csv
  target: default
  id_column: application_id
evaluate:
  primary_metric: roc_auc
deploy:
  backend: azureml
  endpoint: {endpoint}
  strategy: {strategy}
  steps: {steps}
  step_duration_seconds: {step_duration_seconds}
  max_error_rate: {max_error_rate}
  max_p95_latency_ms: {max_p95_latency_ms}
  min_requests: {min_requests}
  shadow_percent: {shadow_percent}
  shadow_duration_seconds: {shadow_duration_seconds}
  progress_deadline_seconds: {progress_deadline_seconds}
  ready_timeout_seconds: {ready_timeout_seconds}
  rollback_grace_seconds: {rollback_grace_seconds}
  analysis:
    source: {source}
    interval_seconds: 0.1
    max_metric_errors: 2
  azureml:
    workspace:
      subscription_id: {subscription}
      resource_group: {resource_group}
      workspace: {workspace}
    instance_type: Standard_DS3_v2
smoke:
  cases: cases.jsonl
  latency_budget_ms: 2000
  parity_rows: 5
"""

_MODELS: dict[tuple[str, str], Any] = {}


def write_config(folder: Path, store: Store, fake: FakeAzureML, **changes: str) -> Path:
    values = {**DEPLOY, **changes}
    text = CONFIG.format(
        model=MODEL,
        tracking_uri=store.tracking_uri,
        data=store.data,
        endpoint=EP,
        subscription=fake.subscription_id,
        resource_group=fake.resource_group,
        workspace=fake.workspace,
        **values,
    )
    config = folder / f"mlops-{len(list(folder.glob('mlops-*.yaml')))}.yaml"
    config.write_text(text, encoding="utf-8")
    return config


class ServedModel:
    """A scoring handler of the fake: what an MLflow deployment of one registered model version
    answers (Azure ML's no-code server parses `input_data` against the model signature: a bad
    input is a 400). Optional faults act on traffic other than the smoke test's."""

    def __init__(
        self,
        model: Any,
        *,
        flip: bool = False,
        latency_ms: float = 0.0,
        on_first_live: Callable[[], None] | None = None,
    ) -> None:
        self.model = model
        self.flip = flip
        self.latency_ms = latency_ms
        self.on_first_live = on_first_live
        self.live_calls = 0
        self.lock = threading.Lock()

    def __call__(self, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        from mlflow.exceptions import MlflowException
        from mlflow.pyfunc.scoring_server import infer_and_parse_data

        if headers.get(SOURCE_HEADER) != "smoke":
            with self.lock:
                self.live_calls += 1
                first = self.live_calls == 1
            if first and self.on_first_live is not None:
                self.on_first_live()
            if self.latency_ms:
                time.sleep(self.latency_ms / 1000)
        try:
            split = (body or {})["input_data"]
            request = {"dataframe_split": {"columns": split["columns"], "data": split["data"]}}
            frame = infer_and_parse_data(request, self.model.metadata.get_input_schema())
            predictions = [int(p) for p in self.model.predict(frame)]
        except (KeyError, TypeError) as exc:
            return 400, {"message": f"bad input_data: {exc}"}
        except MlflowException as exc:
            return 400, {"message": exc.message}
        if self.flip:
            predictions = [1 - p for p in predictions]
        return 200, predictions


@dataclass
class Azure:
    """One fake workspace whose endpoint serves the champion, and the project using it."""

    fake: FakeAzureML
    store: Store
    folder: Path
    champion: str  # version
    challenger: str

    @property
    def champion_deployment(self) -> str:
        return deployment_name(MODEL, self.champion)

    @property
    def new_deployment(self) -> str:
        return deployment_name(MODEL, self.challenger)

    def model(self, version: str) -> Any:
        key = (self.store.tracking_uri, version)
        if key not in _MODELS:
            from mlops_actions.registry import ModelRegistry

            _MODELS[key] = ModelRegistry(self.store.tracking_uri).load_model(MODEL, version)
        return _MODELS[key]

    def serve(self, version: str, **faults: Any) -> ServedModel:
        handler = ServedModel(self.model(version), **faults)
        self.fake.set_scoring_handler(EP, deployment_name(MODEL, version), handler)
        return handler

    def settings(self, **changes: str) -> Any:
        from mlops_actions.config import load_settings

        return load_settings(write_config(self.folder, self.store, self.fake, **changes))

    def endpoint(self, settings: Any) -> AzureMLEndpoint:
        return AzureMLEndpoint.from_settings(
            settings,
            ml_client=make_ml_client(self.fake),
            credential=FakeCredential(self.fake.token),
            session=make_session(self.fake),
            metrics_client_options={"transport": make_transport(self.fake)},
        )

    def registry(self) -> Any:
        from mlops_actions.registry import ModelRegistry

        return ModelRegistry(self.store.tracking_uri)

    def deploy(self, version: str, **changes: str) -> Any:
        from mlops_actions.steps.canary_deploy import canary_deploy

        settings = self.settings(**changes)
        return canary_deploy(
            settings,
            model_version=version,
            endpoint=self.endpoint(settings),
            registry=self.registry(),
            ready_timeout_seconds=settings.deploy.ready_timeout_seconds,
            rollback_verify_seconds=5,
        )

    def traffic(self) -> dict[str, int]:
        props = self.fake.endpoints[EP]["properties"]
        return {k: v for k, v in (props.get("traffic") or {}).items() if v}

    def mirror(self) -> dict[str, int]:
        props = self.fake.endpoints[EP]["properties"]
        return {k: v for k, v in (props.get("mirrorTraffic") or {}).items() if v}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return session_store(tmp_path_factory.getbasetemp())


@pytest.fixture
def azure(store: Store, tmp_path: Path) -> Iterator[Azure]:
    """A workspace with the champion (v1 of the test model) live at 100 %."""
    champion = store.version(MODEL)
    challenger = store.version(MODEL, offset=0.2)
    (tmp_path / "cases.jsonl").write_text(
        "".join(json.dumps(c) + "\n" for c in golden_cases(store)), encoding="utf-8"
    )
    fake = FakeAzureML()
    for version in (champion, challenger):
        fake.add_model(MODEL, version)
    env = Azure(fake, store, tmp_path, champion, challenger)
    env.serve(champion)
    env.serve(challenger)
    endpoint = env.endpoint(env.settings())
    endpoint.create_or_update_deployment(
        DeploymentSpec(env.champion_deployment, MODEL, champion, store.tracking_uri)
    )
    endpoint.set_traffic(TrafficSplit.only(env.champion_deployment))
    env.registry().set_alias(MODEL, "champion", champion)
    yield env
    assert fake.unhandled == [], fake.unhandled


def assert_rolled_back(azure: Azure, result: Any, reason: str) -> None:
    assert result.outcome == "rolled-back", result.reason
    assert reason in result.reason, result.reason
    assert result.final_traffic == {azure.champion_deployment: 100}
    assert azure.traffic() == {azure.champion_deployment: 100}, "read back from the service"
    assert azure.mirror() == {}
    assert azure.new_deployment not in azure.fake.deployments[EP], "failed deployment kept"
    champion = azure.fake.deployments[EP][azure.champion_deployment]
    assert champion["properties"]["provisioningState"] == "Succeeded"
    assert azure.registry().champion_version(MODEL) == azure.champion, "the registry changed"
    phases = {p.name: p.outcome for p in result.phases}
    assert phases["rollback"] == "passed"


# ---------------------------------------------------------------------- promotion


def test_canary_with_probe_traffic_promotes(azure: Azure) -> None:
    result = azure.deploy(azure.challenger)
    assert result.outcome == "promoted", result.reason
    new = azure.new_deployment
    assert result.final_traffic == {new: 100} and azure.traffic() == {new: 100}
    assert result.previous_deployment == azure.champion_deployment
    assert azure.champion_deployment not in azure.fake.deployments[EP], "old one retired"
    assert azure.registry().champion_version(MODEL) == azure.challenger
    assert result.endpoint_url == azure.fake.scoring_uri(EP)
    assert result.smoke is not None and result.smoke.passed
    assert result.smoke.parity_rows == 5
    assert result.smoke.parity_max_diff == pytest.approx(0.0, abs=1e-9)
    assert [p.name for p in result.phases] == [
        "create",
        "smoke test",
        "step 50 %",
        "step 100 %",
        "promote",
    ]
    # the probe traffic really went through the split to both deployments
    live = [e for e in azure.fake.scoring_log if e["deployment_header"] is None]
    assert {e["deployment"] for e in live} == {new, azure.champion_deployment}
    assert all(c.requests for c in result.checks if c.verdict == "ok")


def test_shadow_with_azure_monitor_metrics_and_user_traffic_promotes(azure: Azure) -> None:
    """Users' requests (not ours) through the split; analysis from the metrics API."""
    users = azure.endpoint(azure.settings())
    row = azure.store.rows(1)[0]
    stop = threading.Event()

    def traffic() -> None:
        while not stop.wait(0.01):
            users.invoke(scoring_payload([row]))

    sender = threading.Thread(target=traffic, daemon=True)
    sender.start()
    try:
        result = azure.deploy(azure.challenger, strategy="shadow", source="azure-monitor")
    finally:
        stop.set()
        sender.join(timeout=5)
    assert result.outcome == "promoted", result.reason
    assert azure.traffic() == {azure.new_deployment: 100} and azure.mirror() == {}
    assert result.shadow is not None
    assert result.shadow.shadow_requests >= 5 and result.shadow.live_requests >= 5
    assert result.shadow.agreement is not None and result.shadow.agreement_rows == 50
    mirrored = [e for e in azure.fake.scoring_log if e["mirrored"]]
    assert mirrored and {e["deployment"] for e in mirrored} == {azure.new_deployment}
    assert azure.fake.calls("POST", "/metrics:getBatch"), "analysis read Azure Monitor"
    assert azure.registry().champion_version(MODEL) == azure.challenger


def test_first_deployment_creates_the_endpoint_and_goes_direct(
    store: Store, tmp_path: Path
) -> None:
    (tmp_path / "cases.jsonl").write_text(
        "".join(json.dumps(c) + "\n" for c in golden_cases(store)), encoding="utf-8"
    )
    fake = FakeAzureML()
    env = Azure(fake, store, tmp_path, store.version(MODEL), store.version(MODEL, offset=0.2))
    fake.add_model(MODEL, env.challenger)
    env.serve(env.challenger)
    env.registry().client.delete_registered_model_alias(MODEL, "champion")
    result = env.deploy(env.challenger, strategy="direct")
    assert result.outcome == "promoted", result.reason
    assert result.previous_deployment is None
    assert fake.endpoints[EP]["properties"]["authMode"] == "Key"
    assert env.traffic() == {env.new_deployment: 100}
    assert list(fake.deployments[EP]) == [env.new_deployment]
    assert env.registry().champion_version(MODEL) == env.challenger
    assert fake.unhandled == []


# ---------------------------------------------------------------------- failures


def _never_healthy(azure: Azure) -> dict[str, str]:
    azure.fake.fail_deployment(EP, azure.new_deployment, message="the container crashed")
    azure.fake.set_deployment_logs(EP, azure.new_deployment, "Traceback: ImportError: skops\n")
    return {}


def _out_of_quota(azure: Azure) -> dict[str, str]:
    azure.fake.fail_deployment(
        EP, azure.new_deployment, "OutOfQuota", "Not enough quota for Standard_DS3_v2."
    )
    return {}


def _never_ready(azure: Azure) -> dict[str, str]:
    azure.fake.stall_deployment(EP, azure.new_deployment)
    return {"ready_timeout_seconds": "1"}


def _error_rate(azure: Azure) -> dict[str, str]:
    def degrade() -> None:  # the new deployment fails once it gets live traffic
        azure.fake.inject_scoring_fault(EP, 503, deployment=azure.new_deployment, times=None)

    azure.serve(azure.challenger, on_first_live=degrade)
    return {}


def _latency(azure: Azure) -> dict[str, str]:
    azure.serve(azure.challenger, latency_ms=300)
    return {"max_p95_latency_ms": "100"}


def _no_traffic(azure: Azure) -> dict[str, str]:
    return {"min_requests": "100000"}


def _metrics_down(azure: Azure) -> dict[str, str]:
    azure.fake.fail_metrics(times=None)
    return {"source": "azure-monitor"}


def _wrong_predictions(azure: Azure) -> dict[str, str]:
    azure.serve(azure.challenger, flip=True)
    return {}


def _deadline(azure: Azure) -> dict[str, str]:
    return {"progress_deadline_seconds": "1.5", "step_duration_seconds": "3"}


@pytest.mark.parametrize(
    ("arrange", "reason"),
    [
        pytest.param(_never_healthy, "never became healthy", id="never-healthy"),
        pytest.param(_out_of_quota, "(OutOfQuota)", id="out-of-quota"),
        pytest.param(_never_ready, "did not become ready within 1 s", id="ready-timeout"),
        pytest.param(_error_rate, "error rate", id="error-rate-breach"),
        pytest.param(_latency, "p95 latency", id="latency-breach"),
        pytest.param(_no_traffic, "fewer than min_requests", id="no-traffic"),
        pytest.param(_metrics_down, "could not be read", id="metrics-unavailable"),
        pytest.param(_wrong_predictions, "smoke test", id="smoke-failure"),
        pytest.param(_deadline, "progress deadline", id="progress-deadline"),
    ],
)
def test_failures_roll_back_to_the_champion(
    azure: Azure, arrange: Callable[[Azure], dict[str, str]], reason: str
) -> None:
    changes = arrange(azure)
    started = time.monotonic()
    result = azure.deploy(azure.challenger, **changes)
    assert_rolled_back(azure, result, reason)
    assert time.monotonic() - started < 15
    if arrange is _never_healthy:
        assert "the container crashed" in result.reason
    if arrange is _wrong_predictions:
        assert "training/serving skew" in result.reason or "parity" in result.reason


# ---------------------------------------------------------------------- the CLI, no injection


AZ_STUB = """\
#!{python}
# Stands in for the Azure CLI that azure/login leaves logged in on a runner:
# `az account get-access-token` as DefaultAzureCredential's AzureCliCredential calls it.
import json, sys, time
if sys.argv[1:3] != ["account", "get-access-token"]:
    sys.exit("az stub: only `account get-access-token`")
print(json.dumps({{
    "accessToken": {token!r},
    "expires_on": int(time.time()) + 3600,
    "subscription": {subscription!r},
    "tenant": {tenant!r},
    "tokenType": "Bearer",
}}))
"""


def test_cli_canary_deploy_over_loopback_https(
    azure: Azure, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlops: Any, azureml_https: Any
) -> None:
    """`mlops smoke-test` and `mlops canary-deploy` with deploy.backend azureml and nothing
    injected: open_endpoint builds the production client (DefaultAzureCredential), which finds
    a logged-in Azure CLI on PATH (a stub), reaches the fake over TLS on 127.0.0.1
    (AZUREML_DEV_URL_MFE, REQUESTS_CA_BUNDLE) and scores through the same connection."""
    fake = azure.fake
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "az"
    stub.write_text(
        AZ_STUB.format(
            python=sys.executable,
            token=fake.token,
            subscription=fake.subscription_id,
            tenant=fake.tenant_id,
        ),
        encoding="utf-8",
    )
    stub.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential")
    with azureml_https(fake) as https:
        server = https.server
        # the endpoint was made before the server ran: its scoring URI points at the fake's host
        fake.endpoints[EP]["properties"]["scoringUri"] = fake.scoring_uri(EP)
        config = write_config(azure.folder, azure.store, fake)
        smoke = mlops(
            "smoke-test", "--config", str(config), "--deployment", azure.champion_deployment
        )
        assert smoke.code == 0, smoke.err
        run = mlops(
            "canary-deploy", "--config", str(config), "--model-version", azure.challenger, "--json"
        )
    assert run.code == 0, run.err
    out = json.loads(run.out)  # the SDK's progress dots went to stderr, not into the JSON
    assert out["outcome"] == "promoted"
    assert out["final-traffic"] == {azure.new_deployment: 100}
    assert out["endpoint-url"].startswith(server.base_url)
    assert azure.traffic() == {azure.new_deployment: 100}
    assert azure.registry().champion_version(MODEL) == azure.challenger
    arm = [r for r in fake.requests if r.host == "127.0.0.1" and "/onlineEndpoints/" in r.path]
    assert arm, "the control plane went over the loopback server, not an injected adapter"
    assert {r.headers.get("authorization") for r in arm} == {f"Bearer {fake.token}"}
