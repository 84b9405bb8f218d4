"""The local endpoint's router: one HTTP server on 127.0.0.1 in front of one process per deployment.

Run by `mlops endpoint up` as `python -m mlops_actions.backends.local_endpoint.router --daemonize`.
Standard library only (it never imports MLflow), so it starts at once and adds little latency.

Scoring (`POST /score`, also `/invocations`): the `azureml-model-deployment` header sends the
request to that deployment and bypasses mirroring, as on Azure ML; otherwise the live traffic
split picks the deployment (smooth weighted round-robin, so shares are exact over any 100
requests) and the mirror setting copies that share of requests to the mirror target, whose answer
is discarded. Every successful prediction is appended to the prediction log before the answer is
sent; the answer carries the request id (`x-request-id`) and the deployment that served it.

`GET /swagger.json` is the scoring contract as an OpenAPI 3.1 document, built from the model
signature of the deployment named by the `azureml-model-deployment` header, else of the one with
the most live traffic.

Admin routes under `/-/`: `health`, `state`, `deployments/<name>` (GET, PUT = create or update and
wait until healthy, DELETE), `traffic` and `mirror` (GET, PUT), `metrics/<name>?window=<seconds>`,
`faults` (PUT; makes the next metric reads fail, for failure tests), `shutdown` (POST).

Who may do what. Scoring and `/swagger.json` are open to local processes, as a model server's
are. Admin routes need `Authorization: Bearer <token>`, the random token the router writes (0600)
to `admin.token` in the state directory at every start; `LocalEndpoint` sends it. Every route
answers 421 unless `Host` names this server (127.0.0.1:PORT or localhost:PORT: DNS rebinding),
403 when a foreign `Origin` sent it (a web page through a browser), and 415 when a body that
must be JSON has another `Content-Type` (what a browser sends cross-origin without asking).
The HTTP limits (body size, read timeout, connections) are `_http.BoundedServer`'s.
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import json
import multiprocessing
import os
import re
import select
import signal
import sys
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from secrets import token_urlsafe
from typing import Any
from urllib.parse import parse_qs, unquote

from mlops_actions.backends.local_endpoint import openapi
from mlops_actions.backends.local_endpoint._http import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_READ_TIMEOUT,
    BoundedServer,
    HttpError,
    KeepAliveClient,
    LeanHandler,
    TimedOut,
    Unreachable,
)
from mlops_actions.backends.local_endpoint.metrics import RequestMetrics, status_class
from mlops_actions.backends.local_endpoint.payload import (
    PayloadError,
    answer_body,
    parse_body,
    rows_for_log,
)
from mlops_actions.backends.local_endpoint.predlog import (
    DURABILITY_MODES,
    Durability,
    PredictionLog,
    PredictionLogError,
)
from mlops_actions.backends.local_endpoint.state import (
    Paths,
    new_admin_token,
    open_private,
    read_state,
    secure,
    tail,
    write_state,
)
from mlops_actions.backends.local_endpoint.worker import (
    WORKER_MAX_CONNECTIONS,
    WORKER_TOKEN_HEADER,
    worker_child,
)

# Workers fork from a server that imported the heavy libraries once (see `_preload`).
_CONTEXT = multiprocessing.get_context("forkserver")
_PRELOAD_MODULE = "mlops_actions.backends.local_endpoint._preload"

WORKER_MODULE = "mlops_actions.backends.local_endpoint.worker"
ROUTER_MODULE = "mlops_actions.backends.local_endpoint.router"
DEPLOYMENT_HEADER = "azureml-model-deployment"
REQUEST_ID_HEADER = "x-request-id"
SOURCE_HEADER = "x-mlops-source"
_SOURCE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
MAX_MIRROR_PERCENT = 50
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,62}$")


class _WorkerFailed(Exception):
    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


class _Process:
    """A worker process forked from the warm fork server, and the pipe on which it sends its port.

    Workers are forked from a process that has already imported MLflow, pandas and the usual
    model libraries (`_preload`), so a new deployment costs its model load, not the imports,
    and shares those pages with its siblings.
    """

    def __init__(self, log: Path, limits: dict[str, Any]) -> None:
        reader, writer = _CONTEXT.Pipe(duplex=False)
        self.log = log
        self.secret = token_urlsafe(32)  # authorises this process's `/-/load`
        self.proc = _CONTEXT.Process(
            target=worker_child,
            args=(writer, str(log), os.getpid(), self.secret, limits),
            name=f"worker:{log.stem}",
        )
        self.proc.start()
        writer.close()
        self._reader: Connection | None = reader
        self.port: int | None = None
        self.pid = int(self.proc.pid or 0)
        self._closed = False
        self._exitcode: int | None = None

    @property
    def exitcode(self) -> int | None:
        return self._exitcode if self._closed else self.proc.exitcode

    def running(self) -> bool:
        return not self._closed and self.proc.is_alive()

    def await_port(self, deadline: float) -> int:
        reader = self._reader
        while self.port is None:
            remaining = deadline - time.monotonic()
            if reader is None or remaining <= 0:
                raise _WorkerFailed("did not start in time", tail(self.log))
            try:
                if not reader.poll(min(remaining, 0.2)):
                    if not self.proc.is_alive():
                        raise EOFError
                    continue
                self.port = int(reader.recv())
            except (EOFError, OSError):
                raise _WorkerFailed(self.died("before it was ready"), tail(self.log)) from None
        self._close_reader()
        return self.port

    def _close_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def died(self, when: str) -> str:
        if not self._closed:
            self.proc.join(timeout=1.0)
        code = self.exitcode
        if code is None:
            return "it stopped answering"
        if code < 0:
            return f"its process was killed by signal {-code} {when}"
        return f"its process exited with code {code} {when}"

    def stop(self, grace: float = 3.0) -> None:
        """Terminate (then kill) the process and release it; idempotent."""
        self._close_reader()
        if self._closed:
            return
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(timeout=grace)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(timeout=5)
        self._exitcode = self.proc.exitcode
        self._closed = True
        with contextlib.suppress(ValueError):
            self.proc.close()


class _Deployment:
    def __init__(self, name: str, spec: dict[str, Any]) -> None:
        self.name = name
        self.spec = spec
        self.state = "starting"
        self.error = ""
        self.process: _Process | None = None
        self.client: KeepAliveClient | None = None
        self.signature: dict[str, Any] | None = None  # the model's, once it serves
        self.created_at = datetime.now(UTC).isoformat(timespec="seconds")

    @property
    def model_name(self) -> str:
        return str(self.spec["model_name"])

    @property
    def model_version(self) -> str:
        return str(self.spec["model_version"])

    def describe(self) -> dict[str, Any]:
        proc = self.process
        return {
            "name": self.name,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "model_uri": self.spec.get("model_uri"),
            "tracking_uri": self.spec.get("tracking_uri"),
            "registry_uri": self.spec.get("registry_uri"),
            "environment": self.spec.get("environment") or {},
            "state": self.state,
            "error": self.error,
            "pid": proc.pid if proc else None,
            "port": proc.port if proc else None,
            "created_at": self.created_at,
        }


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
        self.deployments: dict[str, _Deployment] = {}
        self.traffic: dict[str, int] = {}
        self.mirror: tuple[str, int] | None = None
        self._rr: dict[str, int] = {}
        self._mirror_acc = 0
        self._name_locks: dict[str, threading.Lock] = {}
        self.metrics = RequestMetrics()
        self.log = PredictionLog(paths.predictions, durability)
        self.durability = durability
        self.mirror_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mirror")
        self.metric_failures = 0
        self.server: _Server | None = None
        self.url = ""
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._last_tracking_uri: str | None = None

    # ------------------------------------------------------------------ lifecycle

    def bind(self, port: int, *, fallback: bool) -> str:
        """Listen on 127.0.0.1:`port` and write a new admin token; returns the URL."""
        try:
            server = _Server(("127.0.0.1", port), _Handler, **self.limits)
        except OSError:
            if not fallback or port == 0:
                raise
            server = _Server(("127.0.0.1", 0), _Handler, **self.limits)
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
            spec = {k: info.get(k) for k in _SPEC_KEYS}
            if not spec.get("model_uri"):
                continue
            dep = _Deployment(name, spec)
            if info.get("state") == "failed":
                dep.state, dep.error = "failed", str(info.get("error") or "")
                self.deployments[name] = dep
                continue
            self.deployments[name] = dep
            threading.Thread(target=self._restore_one, args=(dep,), daemon=True).start()
        self.traffic = {k: int(v) for k, v in (old.get("traffic") or {}).items() if k in specs}
        mirror = old.get("mirror") or {}
        if mirror.get("deployment") in specs and mirror.get("percent"):
            self.mirror = (str(mirror["deployment"]), int(mirror["percent"]))
        self.save()

    def _restore_one(self, dep: _Deployment) -> None:
        with self._name_lock(dep.name):
            if self.deployments.get(dep.name) is not dep:
                return  # replaced or deleted meanwhile
            try:
                self._start_worker(dep)
            except _WorkerFailed as exc:
                with self.lock:
                    if self._stopping.is_set():
                        return  # `down` while it started: it stays `stopped`, the next run retries
                    dep.state, dep.error = "failed", f"could not be restored: {exc}"
        if not self._stopping.is_set():  # after shutdown, its final save stands
            self.save()

    def serve_forever(self) -> None:
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
        self.mirror_pool.shutdown(wait=False, cancel_futures=True)
        _stop_helpers()
        self.log.close()
        self.save(running=False)
        self._stopped.set()

    def _log(self, message: str) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        print(f"{stamp} {message}", flush=True)

    def save(self, *, running: bool = True) -> None:
        with self.lock:
            state = {
                "name": self.name,
                "pid": os.getpid() if running else None,
                "url": self.url if running else None,
                "port": self.server.server_address[1] if self.server else None,
                "durability": self.durability,
                "deployments": {n: d.describe() for n, d in sorted(self.deployments.items())},
                "traffic": dict(sorted(self.traffic.items())),
                "mirror": {"deployment": self.mirror[0], "percent": self.mirror[1]}
                if self.mirror
                else {},
                "last_tracking_uri": self._last_tracking_uri,
                "updated_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            }
            write_state(self.paths, state)

    def _supervise(self) -> None:
        """Notice crashed deployments."""
        while not self._stopping.wait(0.3):
            changed = False
            with self.lock:
                for dep in self.deployments.values():
                    proc = dep.process
                    if dep.state == "ready" and proc is not None and not proc.running():
                        dep.state = "failed"
                        dep.error = proc.died("while serving")
                        self._log(f"deployment {dep.name} crashed: {dep.error}")
                        changed = True
            if changed:
                self.save()

    # ------------------------------------------------------------------ workers

    def start_fork_server(self) -> None:
        """Start the warm fork server now, so the first deployment does not wait for imports."""
        os.environ["MLOPS_ENDPOINT_PRELOAD"] = self.preload
        if self._last_tracking_uri:
            os.environ["MLOPS_ENDPOINT_TRACKING_URI"] = self._last_tracking_uri
        _CONTEXT.set_forkserver_preload([ROUTER_MODULE, _PRELOAD_MODULE])
        from multiprocessing import forkserver

        forkserver.ensure_running()

    def _start_worker(self, dep: _Deployment) -> None:
        """Start a worker for `dep`, load its model, and mark it ready; raises _WorkerFailed."""
        timeout = float(dep.spec.get("ready_timeout_seconds") or 120.0)
        deadline = time.monotonic() + timeout
        log = self.paths.deployment_log(dep.name)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        fd = open_private(log)
        try:
            os.write(fd, f"--- {stamp} starting {dep.spec.get('model_uri')}\n".encode())
        finally:
            os.close(fd)
        worker_limits = {
            "max_body_bytes": self.limits["max_body_bytes"],
            "read_timeout": self.limits["read_timeout"],
            # Each router thread (and mirror thread) may keep a connection to each worker.
            "max_connections": max(WORKER_MAX_CONNECTIONS, self.limits["max_connections"] + 16),
        }
        try:
            proc = _Process(log, worker_limits)  # waits for the fork server's imports at first
        except (OSError, EOFError, ValueError) as exc:
            raise _WorkerFailed(f"could not start its process: {exc}", tail(log)) from None
        with self.lock:
            stopping = self._stopping.is_set()
            if not stopping:
                dep.process = proc
        if stopping:  # shutdown began while we waited: it cannot see this process, so stop it
            proc.stop(grace=0.5)
            raise _WorkerFailed("the endpoint is shutting down")
        try:
            port = proc.await_port(deadline)
            client = KeepAliveClient("127.0.0.1", port)
            body = json.dumps({**dep.spec, "deployment": dep.name}).encode()
            remaining = max(0.1, deadline - time.monotonic())
            try:
                answer = client.request(
                    "POST",
                    "/-/load",
                    body,
                    {WORKER_TOKEN_HEADER: proc.secret},
                    timeout=remaining,
                )
            except TimedOut:
                raise _WorkerFailed(
                    f"did not become healthy within {timeout:g} s", tail(log)
                ) from None
            except Unreachable:
                raise _WorkerFailed(proc.died("while loading the model"), tail(log)) from None
            if answer.status != 200:
                raise _WorkerFailed(_error_text(answer.body), tail(log))
            signature = _load_signature(answer.body)
            probe = client.request("GET", "/health", timeout=max(0.1, deadline - time.monotonic()))
            if probe.status != 200:
                raise _WorkerFailed(f"health probe answered {probe.status}", tail(log))
        except _WorkerFailed:
            proc.stop(grace=0.5)
            raise
        except (TimedOut, Unreachable) as exc:
            proc.stop(grace=0.5)
            raise _WorkerFailed(str(exc), tail(log)) from None
        with self.lock:
            dep.client = client
            dep.signature = signature
            dep.state = "ready"
            dep.error = ""

    # ------------------------------------------------------------------ admin operations

    def _name_lock(self, name: str) -> threading.Lock:
        with self.lock:
            return self._name_locks.setdefault(name, threading.Lock())

    def put_deployment(self, name: str, spec: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if not _NAME.match(name):
            return 400, {"error": f"invalid deployment name {name!r}: letters, digits and -"}
        missing = [k for k in ("model_name", "model_version", "model_uri") if not spec.get(k)]
        if missing:
            return 400, {"error": f"missing {', '.join(missing)}"}
        spec = {k: spec.get(k) for k in _SPEC_KEYS}
        with self._name_lock(name):
            with self.lock:
                existing = self.deployments.get(name)
                same = existing is not None and all(
                    existing.spec.get(k) == spec.get(k) for k in ("model_uri", "tracking_uri")
                )
                if (
                    existing is not None
                    and same
                    and existing.state == "ready"
                    and existing.process is not None
                    and existing.process.running()
                ):
                    return 200, {**existing.describe(), "changed": False}
                if spec.get("tracking_uri"):
                    self._last_tracking_uri = str(spec["tracking_uri"])
                dep = _Deployment(name, spec)
                replacing = existing if existing is not None and existing.state == "ready" else None
                if replacing is None:
                    if existing is not None and existing.process is not None:
                        existing.process.stop(grace=0.5)
                    self.deployments[name] = dep
            self.save()
            self._log(f"creating deployment {name} from {spec['model_uri']}")
            started = time.monotonic()
            try:
                self._start_worker(dep)
            except _WorkerFailed as exc:
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
        with self._name_lock(name), self.lock:
            dep = self.deployments.get(name)
            if dep is None:
                return 200, {"deleted": False}
            if self.traffic.get(name, 0) > 0:
                return 409, {
                    "error": f"deployment {name} still receives {self.traffic[name]} % of traffic"
                }
            if self.mirror is not None and self.mirror[0] == name:
                return 409, {"error": f"deployment {name} still receives mirrored traffic"}
            del self.deployments[name]
            self.traffic.pop(name, None)
            self.metrics.forget(name)
            proc = dep.process
        if proc is not None:
            proc.stop()
        self.save()
        self._log(f"deleted deployment {name}")
        return 200, {"deleted": True}

    def put_traffic(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
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
            if self.mirror is not None and weights.get(self.mirror[0], 0) > 0:
                return 409, {
                    "error": f"deployment {self.mirror[0]} receives mirrored traffic; "
                    "turn the mirror off before giving it live traffic"
                }
            self.traffic = {k: v for k, v in sorted(weights.items()) if v > 0}
            self._rr = {}
        self.save()
        self._log(f"traffic {self.traffic or 'none'}")
        return 200, {"traffic": self.traffic}

    def put_mirror(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name, pct = body.get("deployment"), body.get("percent", 0)
        if isinstance(pct, bool) or not isinstance(pct, int) or not 0 <= pct <= MAX_MIRROR_PERCENT:
            return 400, {"error": f"mirror percent must be 0–{MAX_MIRROR_PERCENT}, got {pct!r}"}
        with self.lock:
            if pct and name not in self.deployments:
                return 404, {"error": f"no deployment named {name!r}"}
            if pct and self.traffic.get(str(name), 0) > 0:
                return 409, {"error": f"deployment {name} has live traffic and cannot be mirrored"}
            self.mirror = (str(name), int(pct)) if pct else None
            self._mirror_acc = 0
        self.save()
        self._log(f"mirror {self.mirror or 'off'}")
        return 200, self.mirror_dict()

    def traffic_dict(self) -> dict[str, Any]:
        with self.lock:
            return {"traffic": dict(self.traffic)}

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
                live = sorted(self.traffic.items(), key=lambda item: (-item[1], item[0]))
                if not live:
                    return 503, {"error": "no deployment receives traffic on this endpoint"}
                dep = self.deployments[live[0][0]]
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

    def mirror_dict(self) -> dict[str, Any]:
        mirror = self.mirror
        return {"deployment": mirror[0], "percent": mirror[1]} if mirror else {}

    def metrics_of(self, name: str, window: float) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if self.metric_failures > 0:
                self.metric_failures -= 1
                return 503, {"error": "the metrics store is unavailable (injected fault)"}
            if name not in self.deployments:
                return 404, {"error": f"no deployment named {name!r}"}
        return 200, self.metrics.query(name, window)

    def state_dict(self) -> dict[str, Any]:
        with self.lock:
            return {
                "name": self.name,
                "url": self.url,
                "pid": os.getpid(),
                "durability": self.durability,
                "deployments": [d.describe() for _, d in sorted(self.deployments.items())],
                "traffic": dict(self.traffic),
                "mirror": self.mirror_dict(),
            }

    # ------------------------------------------------------------------ scoring

    def _pick(self) -> str | None:
        """Smooth weighted round-robin over the live split (exact shares, no randomness)."""
        weights = self.traffic
        if not weights:
            return None
        total = sum(weights.values())
        best = None
        for name, weight in weights.items():
            current = self._rr.get(name, 0) + weight
            self._rr[name] = current
            if best is None or current > self._rr[best]:
                best = name
        assert best is not None
        self._rr[best] -= total
        return best

    def _pick_mirror(self) -> str | None:
        if self.mirror is None:
            return None
        name, pct = self.mirror
        self._mirror_acc += pct
        if self._mirror_acc >= 100:
            self._mirror_acc -= 100
            return name
        return None

    def _forward(self, dep: _Deployment, body: bytes) -> tuple[int, dict[str, Any], float]:
        client = dep.client
        started = time.perf_counter()
        if dep.state != "ready" or client is None:
            latency = (time.perf_counter() - started) * 1000
            return 502, {"error": f"deployment {dep.name} is {dep.state}"}, latency
        try:
            answer = client.request("POST", "/score", body, timeout=self.request_timeout)
        except TimedOut:
            latency = (time.perf_counter() - started) * 1000
            return 504, {"error": f"deployment {dep.name} did not answer in time"}, latency
        except Unreachable:
            latency = (time.perf_counter() - started) * 1000
            return 502, {"error": f"deployment {dep.name} is unreachable"}, latency
        latency = (time.perf_counter() - started) * 1000
        try:
            parsed = json.loads(answer.body)
        except ValueError:
            parsed = {"error": answer.body[:500].decode("utf-8", errors="replace")}
        if not isinstance(parsed, dict):
            parsed = {"error": "the deployment answered something that is not a JSON object"}
        return answer.status, parsed, latency

    def score(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        given = headers.get(REQUEST_ID_HEADER, "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        label = headers.get(SOURCE_HEADER, "")
        source = label if _SOURCE.match(label) else None
        out_headers = {REQUEST_ID_HEADER: request_id}
        try:
            payload, style = parse_body(body)
        except PayloadError as exc:
            return 400, _json({"error": str(exc)}), out_headers
        target = headers.get(DEPLOYMENT_HEADER, "").strip()
        with self.lock:
            if target:
                dep = self.deployments.get(target)
                if dep is None:
                    return 404, _json({"error": f"no deployment named {target!r}"}), out_headers
                mirror_dep = None
            else:
                name = self._pick()
                if name is None:
                    return (
                        503,
                        _json({"error": "no deployment receives traffic on this endpoint"}),
                        out_headers,
                    )
                dep = self.deployments[name]
                mirror_name = self._pick_mirror()
                mirror_dep = self.deployments.get(mirror_name) if mirror_name else None
        out_headers[DEPLOYMENT_HEADER] = dep.name
        status, answer, latency = self._forward(dep, body)
        self.metrics.record(dep.name, latency, status_class(status))
        if mirror_dep is not None:
            with contextlib.suppress(RuntimeError):  # pool closed while shutting down
                self.mirror_pool.submit(self._mirror, mirror_dep, body, payload, request_id, source)
        if status != 200:
            return status, _json({"error": answer.get("error", "failed")}), out_headers
        predictions = answer.get("predictions")
        if not isinstance(predictions, list):
            return 502, _json({"error": "the deployment answered without predictions"}), out_headers
        try:
            self.log.append(self._records(dep, request_id, payload, answer, latency, source))
        except PredictionLogError as exc:
            return 500, _json({"error": f"prediction not logged: {exc}"}), out_headers
        return 200, answer_body(style, predictions), out_headers

    def _mirror(
        self,
        dep: _Deployment,
        body: bytes,
        payload: dict[str, Any],
        request_id: str,
        source: str | None,
    ) -> None:
        status, answer, latency = self._forward(dep, body)
        self.metrics.record(dep.name, latency, status_class(status))
        if status == 200 and isinstance(answer.get("predictions"), list):
            with contextlib.suppress(PredictionLogError):
                records = self._records(dep, request_id, payload, answer, latency, source)
                for record in records:
                    record["shadow"] = True
                self.log.append(records, wait=False)

    def _records(
        self,
        dep: _Deployment,
        request_id: str,
        payload: dict[str, Any],
        answer: dict[str, Any],
        latency: float,
        source: str | None = None,
    ) -> list[dict[str, Any]]:
        now = time.time()
        stamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
        predictions: list[Any] = answer["predictions"]
        scores = answer.get("scores")
        rows = rows_for_log(payload)
        records = []
        for i, output in enumerate(predictions):
            score = scores[i] if isinstance(scores, list) and i < len(scores) else None
            if score is None and isinstance(output, (int, float)) and not isinstance(output, bool):
                score = output
            records.append(
                {
                    "request_id": request_id,
                    "row": i,
                    "time": stamp,
                    "ts": round(now, 6),
                    "deployment": dep.name,
                    "model_name": dep.model_name,
                    "model_version": dep.model_version,
                    "inputs": rows[i] if i < len(rows) else None,
                    "output": output,
                    "score": score,
                    "latency_ms": round(latency, 3),
                    **({"source": source} if source else {}),
                }
            )
        return records


_SPEC_KEYS = (
    "model_name",
    "model_version",
    "model_uri",
    "tracking_uri",
    "registry_uri",
    "environment",
    "ready_timeout_seconds",
)


def _stop_helpers() -> None:
    """Stop multiprocessing's fork server and resource tracker (our children) before we exit."""
    from multiprocessing import forkserver, resource_tracker

    server_pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    if isinstance(server_pid, int):
        with contextlib.suppress(OSError):
            os.kill(server_pid, signal.SIGTERM)  # also interrupts its imports if still warming up
        _reap(server_pid)
    tracker = resource_tracker._resource_tracker
    fd, tracker_pid = getattr(tracker, "_fd", None), getattr(tracker, "_pid", None)
    if isinstance(fd, int):
        with contextlib.suppress(OSError):
            os.close(fd)  # it exits once every holder of its pipe closed it
        setattr(tracker, "_fd", None)  # noqa: B010 (private attribute of the stdlib helper)
    if isinstance(tracker_pid, int):
        _reap(tracker_pid)


def _reap(pid: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        time.sleep(0.05)
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _error_text(body: bytes) -> str:
    try:
        value = json.loads(body)
    except ValueError:
        return body[:500].decode("utf-8", errors="replace")
    if isinstance(value, dict) and "error" in value:
        return str(value["error"])
    return str(value)[:500]


def _load_signature(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    signature = value.get("signature") if isinstance(value, dict) else None
    return signature if isinstance(signature, dict) else None


class _Server(BoundedServer):
    router: Router


_SCORING = ("/score", "/invocations")
_SWAGGER = "/swagger.json"
# Admin routes: exact paths, then prefixes followed by a deployment name; their methods.
_ADMIN = {
    "/-/health": ("GET",),
    "/-/state": ("GET",),
    "/-/traffic": ("GET", "PUT"),
    "/-/mirror": ("GET", "PUT"),
    "/-/faults": ("PUT",),
    "/-/shutdown": ("POST",),
}
_ADMIN_PREFIXES = {"/-/deployments/": ("GET", "PUT", "DELETE"), "/-/metrics/": ("GET",)}


def _allowed(path: str) -> tuple[bool, tuple[str, ...]] | None:
    """(is an admin route, its methods) for a known route; None for an unknown one."""
    if path in _SCORING:
        return False, ("POST",)
    if path == _SWAGGER:
        return False, ("GET",)
    if path in _ADMIN:
        return True, _ADMIN[path]
    for prefix, methods in _ADMIN_PREFIXES.items():
        if path.startswith(prefix):
            return True, methods
    if path.startswith("/-/"):
        return True, ()  # an unknown admin route: still only for those with the token
    return None


class _Handler(LeanHandler):
    server: _Server

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_body(status, body, headers)

    def _reply(self, result: tuple[int, dict[str, Any]]) -> None:
        self.send_body(result[0], _json(result[1]))

    def _json_body(self) -> dict[str, Any]:
        try:
            value = json.loads(self.read_body() or b"{}")
        except (ValueError, RecursionError):
            raise HttpError(400, "the body is not valid JSON") from None
        if not isinstance(value, dict):
            raise HttpError(400, "the body must be a JSON object")
        return value

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except Exception:  # noqa: BLE001 (a bug must answer 500, not drop the connection)
            traceback.print_exc()
            self.answer_error(500, "internal error in the endpoint router")

    def _authorise(self) -> None:
        given = self.header_map.get("authorization", "")
        scheme, _, token = given.partition(" ")
        expected = self.server.router.admin_token
        if (
            scheme.lower() != "bearer"
            or not expected
            or not hmac.compare_digest(token.strip().encode("utf-8", "replace"), expected.encode())
        ):
            raise HttpError(401, "admin routes need the endpoint's admin token (Bearer)")

    def _dispatch(self) -> None:
        raw_path, _, raw_query = self.path.partition("?")
        path = unquote(raw_path)
        route = _allowed(path)
        if route is None:
            raise HttpError(404, f"no route {path[:100]!r}")
        admin, methods = route
        if admin:
            self._authorise()
        if not methods:
            raise HttpError(404, f"no route {path[:100]!r}")
        if self.command not in methods:
            raise HttpError(
                405, f"{self.command} is not allowed on {path[:100]}", {"Allow": ", ".join(methods)}
            )
        if self.command in ("POST", "PUT"):
            self.require_json()
        router = self.server.router
        if not admin:
            if path == _SWAGGER:
                self.read_body()
                self._reply(router.swagger(self.header_map))
                return
            status, body, out = router.score(self.read_body(), self.header_map)
            self._send(status, body, out)
            return
        self._admin(router, self.command, path, parse_qs(raw_query))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch

    def _admin(self, router: Router, method: str, path: str, query: dict[str, list[str]]) -> None:
        body = self._json_body() if method in ("POST", "PUT") else None
        if body is None:
            self.read_body()  # a GET or DELETE body is read (within the limits) and ignored
        name = ""
        for prefix in _ADMIN_PREFIXES:
            if path.startswith(prefix):
                name = path.removeprefix(prefix)
                if not _NAME.match(name):
                    raise HttpError(400, f"invalid deployment name {name[:80]!r}")
        if path == "/-/health":
            self._reply((200, {"status": "ok", "pid": os.getpid(), "url": router.url}))
        elif path == "/-/state":
            self._reply((200, router.state_dict()))
        elif path == "/-/shutdown":
            self._reply((200, {"status": "stopping"}))
            threading.Thread(target=router.shutdown, daemon=True).start()
        elif path == "/-/traffic":
            self._reply((200, router.traffic_dict()) if body is None else router.put_traffic(body))
        elif path == "/-/mirror":
            self._reply((200, router.mirror_dict()) if body is None else router.put_mirror(body))
        elif path == "/-/faults" and body is not None:
            failures = body.get("metrics_failures", 0)
            if isinstance(failures, bool) or not isinstance(failures, int) or failures < 0:
                raise HttpError(400, "metrics_failures must be a whole number ≥ 0")
            with router.lock:
                router.metric_failures = failures
            self._reply((200, {"metrics_failures": failures}))
        elif path.startswith("/-/metrics/"):
            try:
                window = float(query.get("window", ["60"])[0])
            except ValueError:
                raise HttpError(400, "window must be a number of seconds") from None
            if not 0 <= window <= 1e9:  # also refuses nan
                raise HttpError(400, "window must be a number of seconds")
            self._reply(router.metrics_of(name, window))
        elif method == "PUT":
            assert body is not None
            self._reply(router.put_deployment(name, body))
        elif method == "DELETE":
            self._reply(router.delete_deployment(name))
        else:
            dep = router.deployments.get(name)
            if dep is None:
                self._reply((404, {"error": f"no deployment named {name!r}"}))
            else:
                self._reply((200, dep.describe()))


# ---------------------------------------------------------------------- process entry points


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mlops-endpoint-router")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-fallback", action="store_true")
    parser.add_argument("--name", default="local")
    parser.add_argument("--durability", choices=DURABILITY_MODES, default="write")
    parser.add_argument("--preload", default="sklearn,skops.io")
    parser.add_argument("--request-timeout", type=float, default=30.0)
    parser.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES)
    parser.add_argument("--read-timeout", type=float, default=DEFAULT_READ_TIMEOUT)
    parser.add_argument("--max-connections", type=int, default=DEFAULT_MAX_CONNECTIONS)
    parser.add_argument("--daemonize", action="store_true")
    return parser.parse_args(argv)


def _router(args: argparse.Namespace) -> Router:
    return Router(
        Paths(args.state_dir.resolve()),
        name=args.name,
        durability=args.durability,
        preload=args.preload,
        request_timeout=args.request_timeout,
        max_body_bytes=args.max_body_bytes,
        read_timeout=args.read_timeout,
        max_connections=args.max_connections,
    )


def _serve(router: Router) -> None:
    def on_signal(signum: int, frame: object) -> None:
        threading.Thread(target=router.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    router.restore()
    router.serve_forever()
    router.shutdown()


def _daemonize(args: argparse.Namespace) -> int:
    """Fork a detached router; print `ok <url>` once it listens (or `error <why>`)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_fd)
        message = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            readable, _, _ = select.select([read_fd], [], [], 0.5)
            if readable:
                chunk = os.read(read_fd, 4096)
                if not chunk:
                    break
                message += chunk
        text = message.decode("utf-8", errors="replace").strip() or "error the router did not start"
        print(text, flush=True)
        return 0 if text.startswith("ok ") else 1
    os.close(read_fd)
    os.setsid()
    secure(Paths(args.state_dir))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    log = open_private(Paths(args.state_dir).router_log)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)
    try:
        router = _router(args)
        url = router.bind(args.port, fallback=args.port_fallback)
    except Exception as exc:  # noqa: BLE001 (reported to the launcher, whatever it is)
        traceback.print_exc()
        os.write(write_fd, f"error {exc}\n".encode())
        os._exit(1)
    try:
        os.write(write_fd, f"ok {url}\n".encode())
        os.close(write_fd)
        _serve(router)
    except BaseException:  # noqa: BLE001 (a daemon logs its death and exits)
        traceback.print_exc()
        os._exit(1)
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.daemonize:
        return _daemonize(args)
    router = _router(args)
    url = router.bind(args.port, fallback=args.port_fallback)
    print(f"ok {url}", flush=True)
    _serve(router)
    return 0


if __name__ == "__main__":
    sys.exit(main())
