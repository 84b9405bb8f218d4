"""Starting and stopping the local endpoint's router process, for `LocalEndpoint.up` / `down`.

`launch` runs `python -m mlops_actions.backends.local_endpoint.router --daemonize …` (built by
`router_command`) and returns the URL it listens on; `locked` keeps two `up` calls from starting
two routers; `stop_processes` is `down`'s fallback when the router does not stop when asked.
Standard library only.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from mlops_actions.backends.endpoint import EndpointError
from mlops_actions.backends.local_endpoint.state import (
    Paths,
    open_private,
    process_runs_module,
)
from mlops_actions.processes import pid_alive

ROUTER_MODULE = "mlops_actions.backends.local_endpoint.router"
WORKER_MODULE = "mlops_actions.backends.local_endpoint.worker"


def router_command(
    paths: Paths,
    *,
    port: int,
    fallback: bool,
    name: str,
    durability: str,
    preload: str | None,
    limits: tuple[int, float, int],
) -> list[str]:
    """The command line that starts a detached router (`router --daemonize`).

    `limits` are (max body bytes, read timeout in seconds, max connections).
    """
    max_body_bytes, read_timeout_seconds, max_connections = limits
    command = [
        sys.executable,
        "-m",
        ROUTER_MODULE,
        "--daemonize",
        "--state-dir",
        str(paths.root),
        "--port",
        str(port),
        "--name",
        name,
        "--durability",
        durability,
        "--max-body-bytes",
        str(max_body_bytes),
        "--read-timeout",
        f"{read_timeout_seconds:g}",
        "--max-connections",
        str(max_connections),
    ]
    if preload is not None:
        command += ["--preload", preload]
    if fallback:
        command.append("--port-fallback")
    return command


def launch(
    command: list[str], paths: Paths, tracking_uri: str | None, timeout_seconds: float
) -> str:
    """Run the router's launcher; the URL it listens on. Raises EndpointError when it fails."""
    env = dict(os.environ)
    if tracking_uri:
        env["MLOPS_ENDPOINT_TRACKING_URI"] = tracking_uri
    try:
        launched = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout_seconds,
            env=env,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise EndpointError(
            f"the local endpoint did not start within {timeout_seconds:g} s;",
            hint=f"see {paths.router_log}.",
        ) from None
    line = (launched.stdout.strip().splitlines() or [""])[-1]
    if launched.returncode != 0 or not line.startswith("ok "):
        why = line.removeprefix("error ").strip() or launched.stderr.strip()[-300:]
        raise EndpointError(
            f"the local endpoint did not start: {why};",
            hint=f"see {paths.router_log}.",
        )
    return line.split(" ", 1)[1].strip()


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path`, so two `up` calls start one router."""
    fd = open_private(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def _wait_gone(pid: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return not pid_alive(pid)


def stop_processes(router_pid: int | None, workers: list[int], deadline: float) -> None:
    """Make sure the router and its workers are gone once `deadline` passes.

    A router still running then gets SIGTERM, then SIGKILL, and each worker SIGKILL: only
    processes that still run our modules, so a reused pid is never signalled.
    """
    if router_pid and _wait_gone(router_pid, deadline):
        return
    if router_pid and pid_alive(router_pid) and process_runs_module(router_pid, ROUTER_MODULE):
        _signal(router_pid, signal.SIGTERM)
        if not _wait_gone(router_pid, time.monotonic() + 5):
            _signal(router_pid, signal.SIGKILL)
            _wait_gone(router_pid, time.monotonic() + 5)
    for pid in workers:
        # Workers are forked from multiprocessing's fork server: that is their command line.
        if pid_alive(pid) and process_runs_module(pid, WORKER_MODULE, "multiprocessing"):
            _signal(pid, signal.SIGKILL)
