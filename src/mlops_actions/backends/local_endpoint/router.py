"""The local endpoint's router: one HTTP server on 127.0.0.1 in front of one process per deployment.

Run by `mlops endpoint up` as `python -m mlops_actions.backends.local_endpoint.router --daemonize`
(see `daemon`). Standard library only (it never imports MLflow), so it starts at once and adds
little latency.

Scoring (`POST /score`, also `/invocations`) is `routing`'s: the `azureml-model-deployment`
header picks a deployment, else the live traffic split does, and the mirror copies a share of
requests to its target; every successful prediction is logged before the answer is sent.
`GET /swagger.json` is the scoring contract as an OpenAPI 3.1 document, built from the model
signature of the deployment named by the `azureml-model-deployment` header, else of the one with
the most live traffic. The admin API under `/-/` and the HTTP checks are `admin`'s; the worker
processes are `supervisor`'s.

Who may do what. Scoring and `/swagger.json` are open to local processes, as a model server's
are. Admin routes need `Authorization: Bearer <token>`, the random token the router writes (0600)
to `admin.token` in the state directory at every start; `LocalEndpoint` sends it. Every route
answers 421 unless `Host` names this server (127.0.0.1:PORT or localhost:PORT: DNS rebinding),
403 when a foreign `Origin` sent it (a web page through a browser), and 415 when a body that
must be JSON has another `Content-Type` (what a browser sends cross-origin without asking).
The HTTP limits (body size, read timeout, connections) are `_http.BoundedServer`'s.

This module holds `Router`: the deployments, the state file and the admin operations.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

from mlops_actions.backends.local_endpoint import openapi
from mlops_actions.backends.local_endpoint._http import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_READ_TIMEOUT,
)
from mlops_actions.backends.local_endpoint.admin import NAME, RouterHandler, RouterServer
from mlops_actions.backends.local_endpoint.metrics import RequestMetrics
from mlops_actions.backends.local_endpoint.predlog import Durability, PredictionLog
from mlops_actions.backends.local_endpoint.routing import (
    DEPLOYMENT_HEADER,
    REQUEST_ID_HEADER,
    SOURCE_HEADER,
    Dispatcher,
    Routes,
)
from mlops_actions.backends.local_endpoint.state import (
    Paths,
    new_admin_token,
    read_state,
    secure,
    write_state,
)
from mlops_actions.backends.local_endpoint.supervisor import (
    ROUTER_MODULE,
    SPEC_KEYS,
    WORKER_MODULE,
    Deployment,
    WorkerFailed,
    mark_crashed,
    start_fork_server,
    start_worker,
    stop_helpers,
)

MAX_MIRROR_PERCENT = 50

__all__ = [
    "DEPLOYMENT_HEADER",
    "MAX_MIRROR_PERCENT",
    "REQUEST_ID_HEADER",
    "ROUTER_MODULE",
    "SOURCE_HEADER",
    "WORKER_MODULE",
    "Router",
]


class Router:
    """Routing, deployments, metrics and the prediction log of one local endpoint."""

    def __init__(
        self,
        paths: Paths,
        *,
        name: str = "local",
        durability: Durability = "fsync",
        preload: str = "sklearn,skops.io",
        request_timeout: float = 30.0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        self.paths = paths
        self.name = name
        self.preload = preload
        self.request_timeout = request_timeout
        self.limits: dict[str, Any] = {
            "max_body_bytes": max_body_bytes,
            "read_timeout": read_timeout,
            "max_connections": max_connections,
        }
        self.admin_token = ""
        secure(paths)
        self.lock = threading.RLock()
        self.deployments: dict[str, Deployment] = {}
        self.routes = Routes()
        self._name_locks: dict[str, threading.Lock] = {}
        self.metrics = RequestMetrics()
        self.log = PredictionLog(paths.predictions, durability)
        self.durability = durability
        self.dispatcher = Dispatcher(
            lock=self.lock,
            deployments=self.deployments,
            routes=self.routes,
            metrics=self.metrics,
            log=self.log,
            request_timeout=request_timeout,
        )
        self.metric_failures = 0
        self.server: RouterServer | None = None
        self.url = ""
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._last_tracking_uri: str | None = None

    # ------------------------------------------------------------------ lifecycle

    def bind(self, port: int, *, fallback: bool) -> str:
        """Listen on 127.0.0.1:`port` and write a new admin token; returns the URL.

        With `fallback`, a port in use falls back to a free one; else the OSError propagates.
        """
        try:
            server = RouterServer(("127.0.0.1", port), RouterHandler, **self.limits)
        except OSError:
            if not fallback or port == 0:
                raise
            server = RouterServer(("127.0.0.1", 0), RouterHandler, **self.limits)
        server.router = self
        self.server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self.admin_token = new_admin_token(self.paths)
        return self.url

    def restore(self) -> None:
        """Bring back the previous run's deployments (in the background), traffic and mirror."""
        old = read_state(self.paths)
        self._last_tracking_uri = os.environ.get("MLOPS_ENDPOINT_TRACKING_URI") or old.get(
            "last_tracking_uri"
        )
        self.start_fork_server()
        specs = old.get("deployments") or {}
        for name, info in specs.items():
            spec = {k: info.get(k) for k in SPEC_KEYS}
            if not spec.get("model_uri"):
                continue
            dep = Deployment(name, spec)
            if info.get("state") == "failed":
                dep.state, dep.error = "failed", str(info.get("error") or "")
                self.deployments[name] = dep
                continue
            self.deployments[name] = dep
            threading.Thread(target=self._restore_one, args=(dep,), daemon=True).start()
        self.routes.traffic = {
            k: int(v) for k, v in (old.get("traffic") or {}).items() if k in specs
        }
        mirror = old.get("mirror") or {}
        if mirror.get("deployment") in specs and mirror.get("percent"):
            self.routes.mirror = (str(mirror["deployment"]), int(mirror["percent"]))
        self.save()

    def _restore_one(self, dep: Deployment) -> None:
        with self._name_lock(dep.name):
            if self.deployments.get(dep.name) is not dep:
                return  # replaced or deleted meanwhile
            try:
                self._start_worker(dep)
            except WorkerFailed as exc:
                with self.lock:
                    if self._stopping.is_set():
                        return  # `down` while it started: it stays `stopped`, the next run retries
                    dep.state, dep.error = "failed", f"could not be restored: {exc}"
        if not self._stopping.is_set():  # after shutdown, its final save stands
            self.save()

    def serve_forever(self) -> None:
        """Serve until `shutdown`, watching for crashed deployments meanwhile."""
        assert self.server is not None
        threading.Thread(target=self._supervise, name="supervisor", daemon=True).start()
        self.save()
        self._log(f"listening on {self.url} (durability {self.durability})")
        self.server.serve_forever(poll_interval=0.2)

    def shutdown(self) -> None:
        """Stop serving, stop every worker, flush the log; idempotent."""
        if self._stopping.is_set():
            self._stopped.wait(timeout=30)
            return
        with self.lock:
            self._stopping.set()
        self._log("shutting down")
        if self.server is not None:
            self.server.shutdown()
        with self.lock:
            processes = [d.process for d in self.deployments.values() if d.process]
            for dep in self.deployments.values():
                if dep.state in ("ready", "starting"):
                    dep.state = "stopped"
        for proc in processes:
            proc.stop()
        self.dispatcher.close()
        stop_helpers()
        self.log.close()
        self.save(running=False)
        self._stopped.set()

    def _log(self, message: str) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        print(f"{stamp} {message}", flush=True)

    def save(self, *, running: bool = True) -> None:
        """Write the state file (deployments, traffic, mirror; pid and URL while running)."""
        with self.lock:
            state = {
                "name": self.name,
                "pid": os.getpid() if running else None,
                "url": self.url if running else None,
                "port": self.server.server_address[1] if self.server else None,
                "durability": self.durability,
                "deployments": {n: d.describe() for n, d in sorted(self.deployments.items())},
                "traffic": dict(sorted(self.routes.traffic.items())),
                "mirror": self.routes.mirror_dict(),
                "last_tracking_uri": self._last_tracking_uri,
                "updated_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            }
            write_state(self.paths, state)

    def _supervise(self) -> None:
        """Notice crashed deployments."""
        while not self._stopping.wait(0.3):
            with self.lock:
                crashed = mark_crashed(self.deployments.values())
                for dep in crashed:
                    self._log(f"deployment {dep.name} crashed: {dep.error}")
            if crashed:
                self.save()

    def start_fork_server(self) -> None:
        """Start the warm fork server now, so the first deployment does not wait for imports."""
        start_fork_server(self.preload, self._last_tracking_uri)

    def _start_worker(self, dep: Deployment) -> None:
        start_worker(
            dep,
            self.paths.deployment_log(dep.name),
            self.limits,
            lock=self.lock,
            stopping=self._stopping,
        )

    # ------------------------------------------------------------------ admin operations

    def _name_lock(self, name: str) -> threading.Lock:
        with self.lock:
            return self._name_locks.setdefault(name, threading.Lock())

    def get_deployment(self, name: str) -> tuple[int, dict[str, Any]]:
        """(200, the deployment) or (404, an error)."""
        dep = self.deployments.get(name)
        if dep is None:
            return 404, {"error": f"no deployment named {name!r}"}
        return 200, dep.describe()

    def put_deployment(self, name: str, spec: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Create or replace deployment `name` and wait until it is healthy.

        Unchanged (same model and tracking URI, ready and running): 200 with `changed: false`.
        A ready deployment keeps serving until its replacement is ready; a replacement that
        fails leaves it in place. 400 for an invalid name or spec, 502 (with the log tail) when
        the worker does not become healthy.
        """
        if not NAME.match(name):
            return 400, {"error": f"invalid deployment name {name!r}: letters, digits and -"}
        missing = [k for k in ("model_name", "model_version", "model_uri") if not spec.get(k)]
        if missing:
            return 400, {"error": f"missing {', '.join(missing)}"}
        spec = {k: spec.get(k) for k in SPEC_KEYS}
        with self._name_lock(name):
            with self.lock:
                existing = self.deployments.get(name)
                if _unchanged(existing, spec):
                    assert existing is not None
                    return 200, {**existing.describe(), "changed": False}
                if spec.get("tracking_uri"):
                    self._last_tracking_uri = str(spec["tracking_uri"])
                dep = Deployment(name, spec)
                replacing = existing if existing is not None and existing.state == "ready" else None
                if replacing is None:
                    if existing is not None and existing.process is not None:
                        existing.process.stop(grace=0.5)
                    self.deployments[name] = dep
            self.save()
            return self._launch(dep, replacing)

    def _launch(self, dep: Deployment, replacing: Deployment | None) -> tuple[int, dict[str, Any]]:
        """Start `dep`'s worker; once ready, it takes the place of `replacing` (if any)."""
        name = dep.name
        self._log(f"creating deployment {name} from {dep.spec['model_uri']}")
        started = time.monotonic()
        try:
            self._start_worker(dep)
        except WorkerFailed as exc:
            message = f"deployment {name} did not become healthy: {exc}"
            self._log(message)
            with self.lock:
                if replacing is None:
                    dep.state, dep.error = "failed", str(exc)
            self.save()
            return 502, {"error": message, "log_tail": exc.log_tail}
        with self.lock:
            self.deployments[name] = dep
            self.metrics.forget(name)
        if replacing is not None and replacing.process is not None:
            replacing.process.stop()
        self.save()
        seconds = time.monotonic() - started
        self._log(f"deployment {name} ready in {seconds:.2f} s")
        return 200, {**dep.describe(), "changed": True, "ready_seconds": seconds}

    def delete_deployment(self, name: str) -> tuple[int, dict[str, Any]]:
        """Stop and remove deployment `name`; 409 while it has live or mirrored traffic."""
        with self._name_lock(name), self.lock:
            dep = self.deployments.get(name)
            if dep is None:
                return 200, {"deleted": False}
            traffic = self.routes.traffic
            if traffic.get(name, 0) > 0:
                return 409, {
                    "error": f"deployment {name} still receives {traffic[name]} % of traffic"
                }
            if self.routes.mirror is not None and self.routes.mirror[0] == name:
                return 409, {"error": f"deployment {name} still receives mirrored traffic"}
            del self.deployments[name]
            traffic.pop(name, None)
            self.metrics.forget(name)
            proc = dep.process
        if proc is not None:
            proc.stop()
        self.save()
        self._log(f"deleted deployment {name}")
        return 200, {"deleted": True}

    def put_traffic(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Route live traffic by `{"traffic": {deployment: percent}}` (sums to 0 or 100)."""
        weights = body.get("traffic")
        if not isinstance(weights, dict):
            return 400, {"error": "expected {'traffic': {deployment: percent}}"}
        with self.lock:
            for name, pct in weights.items():
                if name not in self.deployments:
                    return 404, {"error": f"no deployment named {name!r}"}
                if isinstance(pct, bool) or not isinstance(pct, int) or not 0 <= pct <= 100:
                    return 400, {"error": f"traffic for {name!r} must be 0–100, got {pct!r}"}
            if sum(weights.values()) not in (0, 100):
                return 400, {"error": f"traffic must sum to 0 or 100, got {sum(weights.values())}"}
            mirror = self.routes.mirror
            if mirror is not None and weights.get(mirror[0], 0) > 0:
                return 409, {
                    "error": f"deployment {mirror[0]} receives mirrored traffic; "
                    "turn the mirror off before giving it live traffic"
                }
            self.routes.set_traffic(weights)
        self.save()
        self._log(f"traffic {self.routes.traffic or 'none'}")
        return 200, {"traffic": self.routes.traffic}

    def put_mirror(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Mirror `{"deployment": name, "percent": 0–50}`; percent 0 turns the mirror off."""
        name, pct = body.get("deployment"), body.get("percent", 0)
        if isinstance(pct, bool) or not isinstance(pct, int) or not 0 <= pct <= MAX_MIRROR_PERCENT:
            return 400, {"error": f"mirror percent must be 0–{MAX_MIRROR_PERCENT}, got {pct!r}"}
        with self.lock:
            if pct and name not in self.deployments:
                return 404, {"error": f"no deployment named {name!r}"}
            if pct and self.routes.traffic.get(str(name), 0) > 0:
                return 409, {"error": f"deployment {name} has live traffic and cannot be mirrored"}
            self.routes.set_mirror((str(name), int(pct)) if pct else None)
        self.save()
        self._log(f"mirror {self.routes.mirror or 'off'}")
        return 200, self.mirror_dict()

    def put_faults(self, metrics_failures: int) -> tuple[int, dict[str, Any]]:
        """Make the next `metrics_failures` metric reads fail (for failure tests)."""
        with self.lock:
            self.metric_failures = metrics_failures
        return 200, {"metrics_failures": metrics_failures}

    def traffic_dict(self) -> dict[str, Any]:
        with self.lock:
            return {"traffic": dict(self.routes.traffic)}

    def mirror_dict(self) -> dict[str, Any]:
        return self.routes.mirror_dict()

    def swagger(self, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """The OpenAPI document of the deployment a scoring request would reach by name (the
        header), else of the one with the most live traffic."""
        target = headers.get(DEPLOYMENT_HEADER, "").strip()
        with self.lock:
            if target:
                dep = self.deployments.get(target)
                if dep is None:
                    return 404, {"error": f"no deployment named {target!r}"}
            else:
                busiest = self.routes.busiest()
                if busiest is None:
                    return 503, {"error": "no deployment receives traffic on this endpoint"}
                dep = self.deployments[busiest]
            if dep.state != "ready":
                return 503, {"error": f"deployment {dep.name} is {dep.state}"}
            return 200, openapi.document(
                endpoint=self.name,
                url=self.url,
                deployment=dep.name,
                model_name=dep.model_name,
                model_version=dep.model_version,
                signature=dep.signature,
            )

    def metrics_of(self, name: str, window: float) -> tuple[int, dict[str, Any]]:
        """(200, request metrics of `name` over `window` seconds); 404 for an unknown name."""
        with self.lock:
            if self.metric_failures > 0:
                self.metric_failures -= 1
                return 503, {"error": "the metrics store is unavailable (injected fault)"}
            if name not in self.deployments:
                return 404, {"error": f"no deployment named {name!r}"}
        return 200, self.metrics.query(name, window)

    def state_dict(self) -> dict[str, Any]:
        """What `GET /-/state` answers: name, URL, pid, deployments, traffic and mirror."""
        with self.lock:
            return {
                "name": self.name,
                "url": self.url,
                "pid": os.getpid(),
                "durability": self.durability,
                "deployments": [d.describe() for _, d in sorted(self.deployments.items())],
                "traffic": dict(self.routes.traffic),
                "mirror": self.mirror_dict(),
            }

    # ------------------------------------------------------------------ scoring

    def score(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        """Answer one scoring request (see `routing.Dispatcher.score`)."""
        return self.dispatcher.score(body, headers)


def _unchanged(existing: Deployment | None, spec: dict[str, Any]) -> bool:
    """True when `existing` serves `spec` already: same model and tracking URI, ready, running."""
    return (
        existing is not None
        and all(existing.spec.get(k) == spec.get(k) for k in ("model_uri", "tracking_uri"))
        and existing.state == "ready"
        and existing.process is not None
        and existing.process.running()
    )


def main(argv: list[str] | None = None) -> int:
    """The router process: see `daemon.main`."""
    from mlops_actions.backends.local_endpoint.daemon import main as daemon_main

    return daemon_main(argv)


if __name__ == "__main__":
    sys.exit(main())
