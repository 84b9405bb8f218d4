"""`mlops endpoint up|invoke` through the real CLI against a real local endpoint on 127.0.0.1.

`up` brings back the deployments of the previous run in the background: it must not return
before they are ready (an immediate `invoke` would get 502), and it must give up with exit 3 and
the deployment's log after `--timeout`. `invoke` maps the HTTP status to the exit codes: 2xx → 0,
4xx → 2 (the caller's request), 5xx and an unreachable endpoint → 3.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_actions.backends.endpoint import (
    DeploymentFailed,
    DeploymentSpec,
    TrafficSplit,
    deployment_name,
    scoring_payload,
)
from mlops_actions.backends.local_endpoint import LocalEndpoint
from mlops_actions.backends.local_endpoint.state import Paths, read_state
from tests.fault_model import Store, session_store
from tests.test_endpoint import MODEL, stop_and_check

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return session_store(tmp_path_factory.getbasetemp())


def _spec(store: Store, **faults: object) -> DeploymentSpec:
    version = store.version(MODEL, **faults)
    return DeploymentSpec(
        deployment_name(MODEL, version),
        MODEL,
        version,
        store.tracking_uri,
        ready_timeout_seconds=60,
    )


@pytest.fixture(scope="module")
def stopped(tmp_path_factory: pytest.TempPathFactory, store: Store) -> Iterator[Path]:
    """The state of an endpoint that served a healthy deployment (all traffic), then stopped."""
    state_dir = tmp_path_factory.mktemp("cli-endpoint") / ".mlops" / "endpoint"
    ep = LocalEndpoint.up(state_dir, tracking_uri=store.tracking_uri, preload="")
    try:
        healthy = _spec(store)
        ep.create_or_update_deployment(healthy)
        ep.set_traffic(TrafficSplit.only(healthy.name))
    finally:
        LocalEndpoint.down(state_dir)
    yield state_dir
    stop_and_check(state_dir)


def test_up_waits_until_the_restored_deployments_are_ready(
    stopped: Path, store: Store, mlops: Any
) -> None:
    state_dir = str(stopped)
    name = deployment_name(MODEL, store.version(MODEL))
    # Stopped while it was still bringing the deployment back: the next run brings it back.
    hasty = mlops("endpoint", "up", "--state-dir", state_dir, "--timeout", "0", "--json")
    assert hasty.code == 0 and json.loads(hasty.out)["ready-seconds"] is None
    assert mlops("endpoint", "down", "--state-dir", state_dir).code == 0
    assert read_state(Paths(stopped))["deployments"][name]["state"] == "stopped"
    up = mlops("endpoint", "up", "--state-dir", state_dir, "--json")
    assert up.code == 0, up.err
    outputs = json.loads(up.out)
    assert outputs["ready-deployments"] == [name]
    assert outputs["ready-seconds"] > 0  # it did wait: the deployment was starting
    body = json.dumps(scoring_payload(store.rows(2)))
    invoked = mlops("endpoint", "invoke", "--state-dir", state_dir, "--data", body)
    assert invoked.code == 0, invoked.err  # right after `up`: served, not 502
    assert len(json.loads(invoked.out)) == 2
    again = mlops("endpoint", "up", "--state-dir", state_dir)  # already running and ready
    assert again.code == 0 and "1 deployment(s) ready after" in again.err + again.out


def test_invoke_exit_codes_follow_the_http_status(stopped: Path, store: Store, mlops: Any) -> None:
    state_dir = str(stopped)
    assert mlops("endpoint", "up", "--state-dir", state_dir).code == 0
    ep = LocalEndpoint.connect(stopped)
    flaky = _spec(store, error_rate=1.0)
    ep.create_or_update_deployment(flaky)
    crashed = _spec(store, crash_at_start=True)
    with pytest.raises(DeploymentFailed):
        ep.create_or_update_deployment(crashed)

    def invoke(payload: object, *extra: str) -> Any:
        data = json.dumps(payload)
        return mlops("endpoint", "invoke", "--state-dir", state_dir, "--data", data, *extra)

    good = scoring_payload(store.rows(1))
    assert invoke(good).code == 0
    missing = invoke(scoring_payload([{"age": 30}]))  # the model's schema rejects it: 400
    assert missing.code == 2, missing.err
    assert "answered 400" in missing.err and "utilisation" in missing.err  # what the server said
    malformed = invoke({"input_data": "not a table"})  # the router rejects the body: 400
    assert malformed.code == 2 and "answered 400" in malformed.err
    unknown = invoke(good, "--deployment", "no-such-v1")  # 404
    assert unknown.code == 2 and "no-such-v1" in unknown.err
    server_error = invoke(good, "--deployment", flaky.name)  # the model raises: 500
    assert server_error.code == 3 and "answered 500" in server_error.err
    down = invoke(good, "--deployment", crashed.name)  # a failed deployment: 502
    assert down.code == 3 and "answered 502" in down.err and crashed.name in down.err
    as_json = invoke(good, "--deployment", flaky.name, "--json")
    assert as_json.code == 3 and json.loads(as_json.out)["exit-code"] == 3
    ep.delete_deployment(flaky.name)
    ep.delete_deployment(crashed.name)


def test_up_gives_up_after_its_timeout_with_the_log_tail(
    stopped: Path, store: Store, mlops: Any
) -> None:
    LocalEndpoint.down(stopped)
    # The next run brings back a deployment whose model never finishes loading.
    hung = _spec(store, hang_at_start=True)
    paths = Paths(stopped)
    state = read_state(paths)
    [info] = state["deployments"].values()
    info.update(model_uri=hung.model_uri, model_version=hung.model_version, state="ready")
    paths.state.write_text(json.dumps(state), encoding="utf-8")
    started = time.monotonic()
    up = mlops("endpoint", "up", "--state-dir", str(stopped), "--timeout", "2")
    elapsed = time.monotonic() - started
    assert up.code == 3, up.err
    assert "still starting after 2 s" in up.err
    assert f"starting {hung.model_uri}" in up.err  # the deployment's log tail
    assert elapsed < 20
    status = mlops("endpoint", "status", "--state-dir", str(stopped), "--json")
    assert json.loads(status.out)["running"] is True  # the endpoint itself stays up
    bad = mlops("endpoint", "up", "--state-dir", str(stopped), "--timeout", "soon")
    assert bad.code == 2
