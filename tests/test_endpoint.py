"""The local endpoint: a real router and real worker processes serving real MLflow models."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlops_actions.backends.endpoint import (
    DeploymentFailed,
    DeploymentSpec,
    MirrorTraffic,
    TrafficSplit,
    UnknownDeployment,
    deployment_name,
    scoring_payload,
)
from mlops_actions.backends.local_endpoint import LocalEndpoint, read_prediction_log
from mlops_actions.backends.local_endpoint.state import read_state
from mlops_actions.errors import InputError
from mlops_actions.processes import pid_alive
from tests.fault_model import Store, session_store

pytestmark = pytest.mark.slow
MODEL = "ep-model"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return session_store(tmp_path_factory.getbasetemp())


def _pids(state_dir: Path) -> list[int]:
    state = read_state_dir(state_dir)
    pids = [state.get("pid")] + [d.get("pid") for d in (state.get("deployments") or {}).values()]
    return [p for p in pids if isinstance(p, int)]


def read_state_dir(state_dir: Path) -> dict[str, object]:
    from mlops_actions.backends.local_endpoint.state import Paths

    return read_state(Paths(state_dir))


def stop_and_check(state_dir: Path) -> None:
    """`down`, then no process of this endpoint may be left."""
    pids = _pids(state_dir)
    LocalEndpoint.down(state_dir)
    deadline = time.monotonic() + 10
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if pid_alive(p)], "endpoint processes left behind"


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory, store: Store) -> Iterator[LocalEndpoint]:
    state_dir = tmp_path_factory.mktemp("endpoint") / ".mlops" / "endpoint"
    # The fault model needs no model library: skip importing scikit-learn in the fork server.
    ep = LocalEndpoint.up(state_dir, tracking_uri=store.tracking_uri, preload="")
    try:
        yield ep
    finally:
        stop_and_check(state_dir)


def deploy(ep: LocalEndpoint, store: Store, timeout: float = 120, **faults: object) -> str:
    version = store.version(MODEL, **faults)
    name = deployment_name(MODEL, version)
    ep.create_or_update_deployment(
        DeploymentSpec(name, MODEL, version, store.tracking_uri, ready_timeout_seconds=timeout)
    )
    return name


def test_up_is_idempotent(endpoint: LocalEndpoint) -> None:
    again = LocalEndpoint.up(endpoint.paths.root)
    assert again.url == endpoint.url
    assert again.status()["pid"] == endpoint.status()["pid"]
    assert endpoint.url.startswith("http://127.0.0.1:") and endpoint.url.endswith("/score")


def test_serves_azure_and_mlflow_bodies_and_logs_every_prediction(
    endpoint: LocalEndpoint, store: Store
) -> None:
    name = deploy(endpoint, store)
    endpoint.set_traffic(TrafficSplit.only(name))
    rows = store.rows(3)
    azure = endpoint.invoke(scoring_payload(rows))
    assert azure.status == 200 and azure.deployment == name
    assert isinstance(azure.body, list) and len(azure.body) == 3  # Azure ML answers a bare list
    columns = list(rows[0])
    mlflow_body = {"dataframe_split": {"columns": columns, "data": [list(rows[0].values())]}}
    answer = endpoint.invoke(mlflow_body, request_id="client-chosen-id-1")
    assert answer.status == 200 and answer.body == {"predictions": [azure.body[0]]}
    assert answer.request_id == "client-chosen-id-1"

    logged = [r for r in read_prediction_log(endpoint.paths.predictions)]
    mine = [r for r in logged if r["request_id"] == azure.request_id]
    assert [r["row"] for r in mine] == [0, 1, 2]
    assert [r["output"] for r in mine] == azure.body
    assert mine[0]["inputs"] == rows[0]
    assert mine[0]["model_version"] == store.version(MODEL) and mine[0]["deployment"] == name
    assert 0.0 < mine[0]["score"] < 1.0  # the model's predict_proba, not the label
    assert "source" not in mine[0]  # a user's request, not synthetic traffic
    assert any(r["request_id"] == "client-chosen-id-1" for r in logged)


def test_create_is_idempotent_and_never_changes_traffic(
    endpoint: LocalEndpoint, store: Store
) -> None:
    live = deploy(endpoint, store)
    endpoint.set_traffic(TrafficSplit.only(live))
    pid_before = _deployment_pid(endpoint, live)
    deploy(endpoint, store)  # same version again: untouched
    assert _deployment_pid(endpoint, live) == pid_before
    other = deploy(endpoint, store, offset=0.5)
    assert endpoint.get_traffic() == TrafficSplit.only(live)
    assert endpoint.get_deployment(other) is not None


def _deployment_pid(endpoint: LocalEndpoint, name: str) -> int:
    [found] = [d for d in endpoint.status()["deployments"] if d["name"] == name]
    return int(found["pid"])


def test_split_is_exact_and_the_header_bypasses_it(endpoint: LocalEndpoint, store: Store) -> None:
    a, b = deploy(endpoint, store), deploy(endpoint, store, offset=0.5)
    endpoint.set_traffic(TrafficSplit({a: 70, b: 30}))
    body = scoring_payload(store.rows(1))
    served = Counter(endpoint.invoke(body).deployment for _ in range(100))
    assert served == {a: 70, b: 30}
    assert {endpoint.invoke(body, deployment=b).deployment for _ in range(5)} == {b}
    endpoint.set_traffic(TrafficSplit.only(a))


def test_traffic_and_mirror_follow_azure_rules(endpoint: LocalEndpoint, store: Store) -> None:
    a, b = deploy(endpoint, store), deploy(endpoint, store, offset=0.5)
    endpoint.set_traffic(TrafficSplit.only(a))
    with pytest.raises(InputError, match="sum to 0 or 100"):
        TrafficSplit({a: 60, b: 30})
    with pytest.raises(UnknownDeployment):
        endpoint.set_traffic(TrafficSplit({"no-such-v1": 100}))
    with pytest.raises(InputError, match="at most 50"):
        MirrorTraffic(b, 60)
    with pytest.raises(InputError, match="live traffic"):
        endpoint.set_mirror(MirrorTraffic(a, 10))
    with pytest.raises(InputError, match="receives 100 %"):
        endpoint.delete_deployment(a)
    with pytest.raises(UnknownDeployment):
        endpoint.invoke(scoring_payload(store.rows(1)), deployment="no-such-v1")
    assert endpoint.get_traffic() == TrafficSplit.only(a)
    endpoint.delete_deployment("no-such-v1")  # deleting what is not there succeeds


def test_mirror_copies_its_share_and_the_header_bypasses_it(
    endpoint: LocalEndpoint, store: Store
) -> None:
    live, shadow = deploy(endpoint, store), deploy(endpoint, store, offset=0.5)
    endpoint.set_traffic(TrafficSplit.only(live))
    endpoint.set_mirror(MirrorTraffic(shadow, 20))
    try:
        assert endpoint.get_mirror() == MirrorTraffic(shadow, 20)
        body = scoring_payload(store.rows(1))
        before = endpoint.metrics(shadow, 600).requests
        answers = [endpoint.invoke(body) for _ in range(50)]
        for _ in range(10):
            endpoint.invoke(body, deployment=live)  # targeted: never mirrored
        assert {a.deployment for a in answers} == {live}
        deadline = time.monotonic() + 10
        while endpoint.metrics(shadow, 600).requests < before + 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        assert endpoint.metrics(shadow, 600).requests == before + 10
        ids = {a.request_id for a in answers}
        shadows = [
            r
            for r in read_prediction_log(endpoint.paths.predictions)
            if r.get("shadow") and r["request_id"] in ids
        ]
        assert len(shadows) == 10 and {r["deployment"] for r in shadows} == {shadow}
    finally:
        endpoint.set_mirror(MirrorTraffic())
    assert endpoint.get_mirror() == MirrorTraffic()


def test_deployments_that_never_become_healthy_fail_with_their_log(
    endpoint: LocalEndpoint, store: Store
) -> None:
    before = endpoint.get_traffic()
    with pytest.raises(DeploymentFailed, match="exited with code 3") as crashed:
        deploy(endpoint, store, crash_at_start=True)
    assert "starting models:/" in crashed.value.log_tail
    started = time.monotonic()
    with pytest.raises(DeploymentFailed, match="within 3 s"):
        deploy(endpoint, store, timeout=3, hang_at_start=True)
    assert time.monotonic() - started < 15
    hung = deployment_name(MODEL, store.version(MODEL, hang_at_start=True))
    info = endpoint.get_deployment(hung)
    assert info is not None and info.state == "failed"
    endpoint.delete_deployment(hung)
    assert endpoint.get_deployment(hung) is None
    assert endpoint.get_traffic() == before


def test_a_crashing_deployment_cannot_take_the_endpoint_down(
    endpoint: LocalEndpoint, store: Store
) -> None:
    healthy = deploy(endpoint, store)
    fragile = deploy(endpoint, store, crash_after_requests=2)
    endpoint.set_traffic(TrafficSplit.only(healthy))
    body = scoring_payload(store.rows(1))
    statuses = [endpoint.invoke(body, deployment=fragile).status for _ in range(4)]
    assert statuses[:2] == [200, 200] and statuses[2:] == [502, 502]
    assert endpoint.invoke(body).status == 200  # the endpoint and the other deployment live on
    deadline = time.monotonic() + 5
    while endpoint.get_deployment(fragile).state != "failed" and time.monotonic() < deadline:  # type: ignore[union-attr]
        time.sleep(0.1)
    info = endpoint.get_deployment(fragile)
    assert info is not None and info.state == "failed" and "code 4" in info.error
    metrics = endpoint.metrics(fragile, 600)
    assert metrics.errors["unavailable"] == 2 and metrics.error_rate == 0.5


def test_metrics_count_error_classes_and_latency(endpoint: LocalEndpoint, store: Store) -> None:
    flaky = deploy(endpoint, store, error_rate=1.0)
    body = scoring_payload(store.rows(1))
    for _ in range(5):
        assert endpoint.invoke(body, deployment=flaky).status == 500
    bad = scoring_payload([{"age": 30}])  # misses required columns: the schema rejects it
    assert endpoint.invoke(bad, deployment=flaky).status == 400
    metrics = endpoint.metrics(flaky, 60)
    assert metrics.requests == 6
    assert metrics.errors["5xx"] == 5 and metrics.errors["4xx"] == 1
    assert metrics.error_rate == pytest.approx(5 / 6)
    assert metrics.p50_ms is not None and metrics.p50_ms <= metrics.p95_ms <= metrics.p99_ms  # type: ignore[operator]
    time.sleep(0.3)
    assert endpoint.metrics(flaky, 0.2).requests == 0  # outside the window


def test_the_cli_drives_the_endpoint(endpoint: LocalEndpoint, store: Store, mlops) -> None:
    state_dir = str(endpoint.paths.root)
    up = mlops("endpoint", "up", "--state-dir", state_dir, "--json")
    assert up.code == 0, up.err
    assert json.loads(up.out)["endpoint-url"] == endpoint.url  # already running: unchanged
    name = deploy(endpoint, store)
    endpoint.set_traffic(TrafficSplit.only(name))
    status = mlops("endpoint", "status", "--state-dir", state_dir, "--json")
    assert status.code == 0
    outputs = json.loads(status.out)
    assert outputs["running"] is True and outputs["traffic"] == {name: 100}
    assert name in {d["name"] for d in outputs["deployments"]}
    body = json.dumps(scoring_payload(store.rows(2)))
    invoked = mlops("endpoint", "invoke", "--state-dir", state_dir, "--data", body)
    assert invoked.code == 0, invoked.err
    assert len(json.loads(invoked.out)) == 2
    bad = mlops("endpoint", "invoke", "--state-dir", state_dir, "--data", "{nope")
    assert bad.code == 2 and "not valid JSON" in bad.err


def test_monitoring_counts_users_requests_only(
    endpoint: LocalEndpoint, store: Store, mlops, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Probe and smoke requests (sent with the source header, as canary-deploy and smoke-test
    do) are in the log, but performance-report and drift-report count users' requests only."""
    import numpy as np
    import pandas as pd

    monkeypatch.chdir(tmp_path)
    name = deploy(endpoint, store)
    endpoint.set_traffic(TrafficSplit.only(name))
    since = datetime.now(UTC).isoformat()
    rows = store.rows(60)
    users = [endpoint.invoke(scoring_payload([row])) for row in rows[:40]]
    probes = [endpoint.invoke(scoring_payload([row]), source="probe") for row in rows[:30]]
    smokes = [
        endpoint.invoke(scoring_payload([row]), deployment=name, source="smoke")
        for row in rows[30:40]
    ]
    assert all(a.status == 200 for a in [*users, *probes, *smokes])
    logged = [r for r in read_prediction_log(endpoint.paths.predictions)]
    assert sum(r.get("source") == "probe" for r in logged) >= 30  # the header reached the log
    rng = np.random.default_rng(0)
    labels = pd.DataFrame(
        {"request_id": [a.request_id for a in users], "label": rng.integers(0, 2, len(users))}
    )
    labels.to_csv("labels.csv", index=False)
    log = str(endpoint.paths.predictions)

    def performance(*extra: str) -> dict[str, object]:
        result = mlops(
            "performance-report", "--predictions", log, "--labels", "labels.csv",
            "--since", since, "--task", "classification", "--metric", "roc_auc",
            "--window", "1D", "--min-window-labels", "10",
            "--baseline-metrics", '{"roc_auc": 0.5}', "--json", *extra,
        )  # fmt: skip
        assert result.code == 0, result.err
        outputs: dict[str, object] = json.loads(result.out)
        return outputs

    users_only = performance()
    assert users_only["predictions"] == 40 and users_only["labelled"] == 40
    assert users_only["coverage"] == pytest.approx(1.0, abs=1e-4)
    details = json.loads(Path(str(users_only["report-path"])).read_text())
    assert details["left_out_sources"] == {"probe": 30, "smoke": 10}
    assert any("left out 40 rows (probe 30, smoke 10)" in n for n in details["notes"])
    everything = performance("--include-source", "probe,smoke")
    assert everything["predictions"] == 80
    assert everything["coverage"] == pytest.approx(0.5, abs=1e-4)
    assert performance("--include-source", "probe")["predictions"] == 70

    store.features.to_csv("reference.csv", index=False)

    def drift(*extra: str) -> dict[str, object]:
        result = mlops(
            "drift-report", "--reference", "reference.csv", "--current", log, "--since", since,
            "--model", "none", "--no-html", "--json", *extra,
        )  # fmt: skip
        assert result.code in (0, 1), result.err
        outputs: dict[str, object] = json.loads(result.out)
        return outputs

    current = drift()
    assert current["current-rows"] == 40
    notes = json.loads(Path(str(current["report-path"])).read_text())["notes"]
    assert any("left out 40 rows (probe 30, smoke 10)" in n for n in notes)
    assert drift("--include-source", "all")["current-rows"] == 80
    bad = mlops("drift-report", "--current", log, "--reference", "reference.csv",
                "--include-source", "Probe!")  # fmt: skip
    assert bad.code == 2 and "not a traffic source label" in bad.err


def test_kill_9_loses_no_acknowledged_prediction_and_up_restores(
    endpoint: LocalEndpoint,
    store: Store,
    mlops,
) -> None:
    state_dir = endpoint.paths.root
    name = deploy(endpoint, store)
    endpoint.set_traffic(TrafficSplit.only(name))
    router_pid = int(endpoint.status()["pid"])
    worker_pid = _deployment_pid(endpoint, name)
    acknowledged: list[str] = []
    stop = threading.Event()

    def client() -> None:
        body = scoring_payload(store.rows(1))
        while not stop.is_set():
            try:
                answer = endpoint.invoke(body, timeout_seconds=5)
            except Exception:  # the endpoint is gone: stop sending
                return
            if answer.ok:
                acknowledged.append(answer.request_id)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 100 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(router_pid, signal.SIGKILL)
    time.sleep(0.2)
    stop.set()
    for thread in threads:
        thread.join()
    assert len(acknowledged) >= 100
    logged = {r["request_id"] for r in read_prediction_log(endpoint.paths.predictions)}
    assert set(acknowledged) <= logged
    deadline = time.monotonic() + 10
    while pid_alive(worker_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(worker_pid), "the worker outlived its router"

    back = LocalEndpoint.up(state_dir, tracking_uri=store.tracking_uri, preload="")
    assert back.get_traffic() == TrafficSplit.only(name)  # the state survived the crash
    deadline = time.monotonic() + 120
    while back.get_deployment(name).state != "ready" and time.monotonic() < deadline:  # type: ignore[union-attr]
        time.sleep(0.1)
    assert back.invoke(scoring_payload(store.rows(1))).status == 200

    pids = _pids(state_dir)
    down = mlops("endpoint", "down", "--state-dir", str(state_dir), "--json")
    assert down.code == 0 and json.loads(down.out)["stopped"] is True
    assert not [p for p in pids if pid_alive(p)]
    status = mlops("endpoint", "status", "--state-dir", str(state_dir), "--json")
    assert json.loads(status.out)["running"] is False
    refused = mlops("endpoint", "invoke", "--state-dir", str(state_dir), "--data", "{}")
    assert refused.code == 3 and "not running" in refused.err


def test_the_router_never_imports_mlflow(tmp_path: Path) -> None:
    code = (
        "import sys; import mlops_actions.backends.local_endpoint.router; "
        "print(sorted(m for m in ('mlflow', 'pandas', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
