"""The local endpoint against its anchors, in one run.

1. Overhead of the router: P50/P99 of single-row requests through the endpoint vs the same
   deployment's process called directly (keep-alive both ways), for both prediction-log
   durability modes (`fsync`: synced before the answer; `write`: survives `kill -9`, not a power
   cut). Goal: P50 ≤ 1 ms added.
2. Throughput on this machine (2 cores): concurrent keep-alive clients in separate processes.
3. Create-to-ready of a deployment (the credit-default sklearn model): the first one after `up`
   (the fork server still importing) and later ones. Goal ≤ 3 s; anchor: `mlflow models serve`
   takes 7–8 s to its first healthy `/ping` (FACTS.md).
4. Breach to verified rollback: a canary whose new version starts failing mid-step; from the
   first failed request to traffic read back on the champion. Goal ≤ one analysis interval + 2 s.

Trains the example model on generated data into a temporary folder; needs nothing else.

    python benchmarks/endpoint.py [--requests 2000] [--seconds 8] [--clients 4] [--out r.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "credit-default"
sys.path.insert(0, str(REPO))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def train_and_register(folder: Path, uri: str) -> str:
    """The example's sklearn model, trained by its own script and registered; its version."""
    import mlflow

    env = dict(os.environ, MLFLOW_TRACKING_URI=uri)
    client = mlflow.MlflowClient(uri, uri)
    experiment = client.create_experiment("credit-default")
    run = client.create_run(experiment)
    subprocess.run(
        [sys.executable, str(EXAMPLE / "train.py"), "--train", str(folder / "data/train.csv")],
        env={**env, "MLFLOW_RUN_ID": run.info.run_id},
        check=True,
        capture_output=True,
    )
    [logged] = list(client.search_logged_models(experiment_ids=[experiment]))
    client.create_registered_model("credit-default")
    with _tracking(uri):
        version = client.create_model_version(
            "credit-default", f"models:/{logged.model_id}", run_id=run.info.run_id
        )
    return str(version.version)


class _tracking:
    def __init__(self, uri: str) -> None:
        from mlflow.tracking._tracking_service.utils import _use_tracking_uri

        self._context = _use_tracking_uri(uri)

    def __enter__(self) -> None:
        self._context.__enter__()

    def __exit__(self, *exc: object) -> None:
        self._context.__exit__(*exc)


def latencies(port: int, body: bytes, n: int, headers: dict[str, str] | None = None) -> list[float]:
    from mlops_actions.backends.local_endpoint.httpclient import KeepAliveClient

    client = KeepAliveClient("127.0.0.1", port)
    for _ in range(50):  # warm-up: connections, caches
        client.request("POST", "/score", body, headers)
    out = []
    for _ in range(n):
        started = time.perf_counter()
        answer = client.request("POST", "/score", body, headers)
        out.append((time.perf_counter() - started) * 1000)
        assert answer.status == 200, answer.body[:200]
    client.close()
    return out


def _hammer(args: tuple[int, bytes, float]) -> int:
    from mlops_actions.backends.local_endpoint.httpclient import KeepAliveClient

    port, body, seconds = args
    client = KeepAliveClient("127.0.0.1", port)
    done = 0
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        if client.request("POST", "/score", body).status == 200:
            done += 1
    return done


def throughput(port: int, body: bytes, clients: int, seconds: float) -> float:
    context = multiprocessing.get_context("spawn")
    with context.Pool(clients) as pool:
        started = time.perf_counter()
        counts = pool.map(_hammer, [(port, body, seconds)] * clients)
        elapsed = time.perf_counter() - started
    return sum(counts) / min(elapsed, seconds + 0.5)


def overhead(endpoint: Any, name: str, body: bytes, n: int) -> dict[str, float]:
    """The same requests to the deployment's process and through the endpoint's split.

    Interleaved in rounds, so background load on a shared machine hits both sides alike.
    """
    from urllib.parse import urlsplit

    from mlops_actions.backends.endpoint import TrafficSplit

    endpoint.set_traffic(TrafficSplit.only(name))
    status = endpoint.status()
    [info] = [d for d in status["deployments"] if d["name"] == name]
    router_port = int(urlsplit(endpoint.base_url).port or 0)
    direct: list[float] = []
    routed: list[float] = []
    router_cpu = 0.0
    for _ in range(10):
        direct += latencies(int(info["port"]), body, n // 10)
        before = cpu_seconds(int(status["pid"]))
        routed += latencies(router_port, body, n // 10)
        router_cpu += cpu_seconds(int(status["pid"])) - before
    result = {
        "direct_p50_ms": statistics.median(direct),
        "direct_p99_ms": percentile(direct, 99),
        "direct_min_ms": min(direct),
        "endpoint_p50_ms": statistics.median(routed),
        "endpoint_p99_ms": percentile(routed, 99),
        "endpoint_min_ms": min(routed),
        # CPU the router spends per request (incl. the 50 warm-up requests of each round):
        # what it adds on an idle machine, whatever else runs on this one.
        "router_cpu_ms_per_request": router_cpu * 1000 / (len(routed) + 10 * 50),
    }
    result["added_p50_ms"] = result["endpoint_p50_ms"] - result["direct_p50_ms"]
    result["added_p99_ms"] = result["endpoint_p99_ms"] - result["direct_p99_ms"]
    result["added_min_ms"] = result["endpoint_min_ms"] - result["direct_min_ms"]
    return result


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its threads, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def breach_to_rollback(folder: Path, store_uri: str) -> dict[str, float]:
    """Seconds from the new version's first failed request to traffic back on the champion."""
    import pandas as pd
    from tests.fault_model import golden_cases, register_fault_model

    from mlops_actions.backends.endpoint import TrafficSplit, UnknownDeployment, deployment_name
    from mlops_actions.backends.local_endpoint import LocalEndpoint
    from mlops_actions.config import load_settings
    from mlops_actions.steps.canary_deploy import canary_deploy

    sample = pd.read_csv(folder / "data/holdout.csv").drop(columns=["default", "application_id"])
    champion = register_fault_model(store_uri, "bench-canary", sample.head(20))
    # Healthy through its smoke test (about ten predictions), then every prediction fails.
    failing = register_fault_model(
        store_uri, "bench-canary", sample.head(20), error_rate=1.0, faults_after_requests=40
    )
    project = folder / "canary"
    project.mkdir()
    cases = golden_cases(_StoreRows(sample))  # type: ignore[arg-type]
    (project / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    interval = 1.0
    (project / "mlops.yaml").write_text(
        f"""model: {{name: bench-canary}}
tracking_uri: {store_uri}
data: {{holdout: {folder / "data/holdout.csv"}, target: default, id_column: application_id}}
evaluate: {{primary_metric: roc_auc}}
deploy:
  strategy: canary
  steps: [50, 100]
  step_duration_seconds: 20
  max_error_rate: 0.05
  min_requests: 5
  rollback_grace_seconds: 0
  analysis: {{source: probe, interval_seconds: {interval}}}
smoke: {{cases: cases.jsonl, parity_rows: 5}}
"""
    )
    settings = load_settings(project / "mlops.yaml")
    endpoint = LocalEndpoint.up(project / ".mlops/endpoint", tracking_uri=store_uri, preload="")
    try:
        direct = settings.deploy.model_copy(update={"strategy": "direct"})
        first = canary_deploy(
            settings.model_copy(update={"deploy": direct}), model_version=champion
        )
        assert first.promoted, first.reason
        new = deployment_name("bench-canary", failing)
        live = deployment_name("bench-canary", champion)
        marks: dict[str, float] = {}
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                now = time.perf_counter()
                if "breach" not in marks:
                    with contextlib.suppress(UnknownDeployment):  # not created yet
                        if endpoint.metrics(new, 60).server_errors:
                            marks["breach"] = now  # the first failed request is in the metrics
                elif endpoint.get_traffic() == TrafficSplit.only(live):
                    marks["rolled_back"] = time.perf_counter()
                    return
                time.sleep(0.005)

        watcher = threading.Thread(target=watch)
        started = time.perf_counter()
        watcher.start()
        result = canary_deploy(settings, model_version=failing)
        stop.set()
        watcher.join()
        assert not result.promoted, "the failing version was promoted"
        return {
            "analysis_interval_s": interval,
            "breach_to_rollback_s": marks["rolled_back"] - marks["breach"],
            "rollout_s": time.perf_counter() - started,
        }
    finally:
        LocalEndpoint.down(project / ".mlops/endpoint")


class _StoreRows:
    """What `golden_cases` needs from a test Store: `rows(n)`."""

    def __init__(self, frame: Any) -> None:
        self.frame = frame

    def rows(self, n: int) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = json.loads(self.frame.head(n).to_json(orient="records"))
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--out", type=Path, help="Also write the figures as JSON here.")
    args = parser.parse_args()

    from urllib.parse import urlsplit

    from mlops_actions.backends.endpoint import DeploymentSpec, scoring_payload
    from mlops_actions.backends.local_endpoint import LocalEndpoint

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mlops-bench-endpoint-") as tmp:
        folder = Path(tmp)
        subprocess.run(
            [
                sys.executable,
                str(EXAMPLE / "generate_data.py"),
                *("--out", str(folder / "data"), "--rows", "2000"),
            ],
            check=True,
            capture_output=True,
        )
        uri = f"sqlite:///{folder / 'mlflow.db'}"
        version = train_and_register(folder, uri)
        import pandas as pd

        row = pd.read_csv(folder / "data/holdout.csv").drop(columns=["default", "application_id"])
        body = json.dumps(scoring_payload(json.loads(row.head(1).to_json(orient="records"))))
        payload = body.encode()

        from tests.fault_model import register_fault_model

        # A minimal pyfunc (a formula, ~0.1 ms) shows the router's own cost without model noise.
        minimal = register_fault_model(uri, "bench-minimal", row.head(20))
        models = {"sklearn": ("credit-default", version), "minimal": ("bench-minimal", minimal)}
        for durability in ("fsync", "write"):
            state = folder / f"endpoint-{durability}"
            started = time.perf_counter()
            endpoint = LocalEndpoint.up(state, tracking_uri=uri, durability=durability)  # type: ignore[arg-type]
            up_seconds = time.perf_counter() - started
            try:
                creates = []
                for i in range(4):
                    started = time.perf_counter()
                    endpoint.create_or_update_deployment(
                        DeploymentSpec(f"bench-{i}", "credit-default", version, uri)
                    )
                    creates.append(time.perf_counter() - started)
                endpoint.create_or_update_deployment(
                    DeploymentSpec("bench-minimal", "bench-minimal", minimal, uri)
                )
                for label, deployment in (("sklearn", "bench-1"), ("minimal", "bench-minimal")):
                    figures = overhead(endpoint, deployment, payload, args.requests)
                    results[f"{durability}_{label}"] = figures
                    if durability != "fsync":
                        continue
                    [info] = [
                        d for d in endpoint.status()["deployments"] if d["name"] == deployment
                    ]
                    router_port = int(urlsplit(endpoint.base_url).port or 0)
                    results[f"throughput_{label}_endpoint_rps"] = throughput(
                        router_port, payload, args.clients, args.seconds
                    )
                    results[f"throughput_{label}_direct_rps"] = throughput(
                        int(info["port"]), payload, args.clients, args.seconds
                    )
                if durability == "fsync":
                    results["up_s"] = up_seconds
                    results["create_first_s"] = creates[0]
                    results["create_warm_s"] = statistics.median(creates[1:])
            finally:
                LocalEndpoint.down(state)
        results["models"] = {k: f"{n} v{v}" for k, (n, v) in models.items()}
        results.update(breach_to_rollback(folder, uri))

    for label in ("sklearn", "minimal"):
        for durability in ("fsync", "write"):
            f = results[f"{durability}_{label}"]
            print(
                f"router overhead, {label:7} model, durability {durability:5}: "
                f"P50 {f['added_p50_ms']:+.2f} ms, P99 {f['added_p99_ms']:+.2f} ms, "
                f"best {f['added_min_ms']:+.2f} ms, router CPU "
                f"{f['router_cpu_ms_per_request']:.2f} ms/request "
                f"(direct P50 {f['direct_p50_ms']:.2f} / P99 {f['direct_p99_ms']:.2f} ms; "
                f"endpoint P50 {f['endpoint_p50_ms']:.2f} / P99 {f['endpoint_p99_ms']:.2f} ms)"
            )
        print(
            f"throughput, {label:7} model, {args.clients} clients: endpoint "
            f"{results[f'throughput_{label}_endpoint_rps']:.0f} req/s, deployment direct "
            f"{results[f'throughput_{label}_direct_rps']:.0f} req/s"
        )
    print(
        f"create → ready: first after up {results['create_first_s']:.2f} s, later "
        f"{results['create_warm_s']:.2f} s (goal ≤ 3 s; mlflow models serve 7–8 s)"
    )
    print(
        f"breach → verified rollback: {results['breach_to_rollback_s']:.2f} s "
        f"(goal ≤ interval {results['analysis_interval_s']:g} s + 2 s)"
    )
    load = os.getloadavg()[0]
    print(f"load average during the run: {load:.1f} on {os.cpu_count()} cores")
    results["load_average"] = load
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
