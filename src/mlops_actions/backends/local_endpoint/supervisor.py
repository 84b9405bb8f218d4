"""Supervision of the local endpoint's workers: one process per deployment, started and stopped.

Workers fork from a warm fork server that has already imported MLflow, pandas and the usual model
libraries (`_preload`), so a new deployment costs its model load, not the imports, and shares
those pages with its siblings. `start_worker` starts one, sends it its model (`POST /-/load`,
authorised by a per-process secret) and waits for its health probe; `mark_crashed` notices the
ones that died while serving; `stop_helpers` stops the fork server and resource tracker when the
router exits. Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from secrets import token_urlsafe
from typing import Any

from mlops_actions.backends.local_endpoint.httpclient import KeepAliveClient, TimedOut, Unreachable
from mlops_actions.backends.local_endpoint.state import open_private, tail
from mlops_actions.backends.local_endpoint.worker import (
    WORKER_MAX_CONNECTIONS,
    WORKER_TOKEN_HEADER,
    worker_child,
)

CONTEXT = multiprocessing.get_context("forkserver")
PRELOAD_MODULE = "mlops_actions.backends.local_endpoint._preload"
WORKER_MODULE = "mlops_actions.backends.local_endpoint.worker"
ROUTER_MODULE = "mlops_actions.backends.local_endpoint.router"

SPEC_KEYS = (
    "model_name",
    "model_version",
    "model_uri",
    "tracking_uri",
    "registry_uri",
    "environment",
    "ready_timeout_seconds",
)
"""The keys of a deployment's spec that the router keeps (and sends to its worker)."""


class WorkerFailed(Exception):
    """Raised when a worker does not start, load its model or become healthy."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


class WorkerProcess:
    """A worker process forked from the warm fork server, and the pipe that brings its port."""

    def __init__(self, log: Path, limits: dict[str, Any]) -> None:
        reader, writer = CONTEXT.Pipe(duplex=False)
        self.log = log
        self.secret = token_urlsafe(32)  # authorises this process's `/-/load`
        self.proc = CONTEXT.Process(
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
        """The port the worker listens on, once it sent it; raises WorkerFailed."""
        reader = self._reader
        while self.port is None:
            remaining = deadline - time.monotonic()
            if reader is None or remaining <= 0:
                raise WorkerFailed("did not start in time", tail(self.log))
            try:
                if not reader.poll(min(remaining, 0.2)):
                    if not self.proc.is_alive():
                        raise EOFError
                    continue
                self.port = int(reader.recv())
            except (EOFError, OSError):
                raise WorkerFailed(self.died("before it was ready"), tail(self.log)) from None
        self._close_reader()
        return self.port

    def _close_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def died(self, when: str) -> str:
        """How the process ended ("… exited with code 1 `when`"), for error messages."""
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


class Deployment:
    """One deployment of the router: its spec, state and (once started) worker and client."""

    def __init__(self, name: str, spec: dict[str, Any]) -> None:
        self.name = name
        self.spec = spec
        self.state = "starting"
        self.error = ""
        self.process: WorkerProcess | None = None
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
        """The deployment as the admin API and the state file show it."""
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


def start_fork_server(preload: str, tracking_uri: str | None) -> None:
    """Start the warm fork server now, so the first deployment does not wait for imports."""
    os.environ["MLOPS_ENDPOINT_PRELOAD"] = preload
    if tracking_uri:
        os.environ["MLOPS_ENDPOINT_TRACKING_URI"] = tracking_uri
    CONTEXT.set_forkserver_preload([ROUTER_MODULE, PRELOAD_MODULE])
    from multiprocessing import forkserver

    forkserver.ensure_running()


def start_worker(
    dep: Deployment,
    log: Path,
    limits: dict[str, Any],
    *,
    lock: threading.RLock,
    stopping: threading.Event,
) -> None:
    """Start a worker for `dep`, load its model, and mark it ready; raises WorkerFailed.

    `dep.process` is set (under `lock`) as soon as the process exists, so a shutdown stops it;
    when `stopping` is already set by then, the process is stopped here instead.
    """
    timeout = float(dep.spec.get("ready_timeout_seconds") or 120.0)
    deadline = time.monotonic() + timeout
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    fd = open_private(log)
    try:
        os.write(fd, f"--- {stamp} starting {dep.spec.get('model_uri')}\n".encode())
    finally:
        os.close(fd)
    worker_limits = {
        "max_body_bytes": limits["max_body_bytes"],
        "read_timeout": limits["read_timeout"],
        # Each router thread (and mirror thread) may keep a connection to each worker.
        "max_connections": max(WORKER_MAX_CONNECTIONS, limits["max_connections"] + 16),
    }
    try:
        proc = WorkerProcess(log, worker_limits)  # waits for the fork server's imports at first
    except (OSError, EOFError, ValueError) as exc:
        raise WorkerFailed(f"could not start its process: {exc}", tail(log)) from None
    with lock:
        is_stopping = stopping.is_set()
        if not is_stopping:
            dep.process = proc
    if is_stopping:  # shutdown began while we waited: it cannot see this process, so stop it
        proc.stop(grace=0.5)
        raise WorkerFailed("the endpoint is shutting down")
    try:
        client, signature = _load(dep, proc, deadline, timeout)
    except WorkerFailed:
        proc.stop(grace=0.5)
        raise
    except (TimedOut, Unreachable) as exc:
        proc.stop(grace=0.5)
        raise WorkerFailed(str(exc), tail(log)) from None
    with lock:
        dep.client = client
        dep.signature = signature
        dep.state = "ready"
        dep.error = ""


def _load(
    dep: Deployment, proc: WorkerProcess, deadline: float, timeout: float
) -> tuple[KeepAliveClient, dict[str, Any] | None]:
    """Send the worker its model and probe its health: (its client, the model's signature)."""
    log = proc.log
    port = proc.await_port(deadline)
    client = KeepAliveClient("127.0.0.1", port)
    body = json.dumps({**dep.spec, "deployment": dep.name}).encode()
    remaining = max(0.1, deadline - time.monotonic())
    try:
        answer = client.request(
            "POST", "/-/load", body, {WORKER_TOKEN_HEADER: proc.secret}, timeout=remaining
        )
    except TimedOut:
        raise WorkerFailed(f"did not become healthy within {timeout:g} s", tail(log)) from None
    except Unreachable:
        raise WorkerFailed(proc.died("while loading the model"), tail(log)) from None
    if answer.status != 200:
        raise WorkerFailed(error_text(answer.body), tail(log))
    signature = load_signature(answer.body)
    probe = client.request("GET", "/health", timeout=max(0.1, deadline - time.monotonic()))
    if probe.status != 200:
        raise WorkerFailed(f"health probe answered {probe.status}", tail(log))
    return client, signature


def mark_crashed(deployments: Iterable[Deployment]) -> list[Deployment]:
    """Mark ready deployments whose process died as failed (caller holds the lock); those."""
    crashed = []
    for dep in deployments:
        proc = dep.process
        if dep.state == "ready" and proc is not None and not proc.running():
            dep.state = "failed"
            dep.error = proc.died("while serving")
            crashed.append(dep)
    return crashed


def stop_helpers() -> None:
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


def error_text(body: bytes) -> str:
    """The `error` of a worker's JSON answer, else its first 500 characters."""
    try:
        value = json.loads(body)
    except ValueError:
        return body[:500].decode("utf-8", errors="replace")
    if isinstance(value, dict) and "error" in value:
        return str(value["error"])
    return str(value)[:500]


def load_signature(body: bytes) -> dict[str, Any] | None:
    """The model signature in a worker's `/-/load` answer, None when it has none."""
    try:
        value = json.loads(body)
    except ValueError:
        return None
    signature = value.get("signature") if isinstance(value, dict) else None
    return signature if isinstance(signature, dict) else None
