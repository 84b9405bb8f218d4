"""The router process: command line, signals, and detaching as a daemon.

`python -m mlops_actions.backends.local_endpoint.router [--daemonize] --state-dir DIR …` runs
`main` here. In the foreground it prints `ok <url>` once it listens and serves until SIGTERM,
SIGINT or `POST /-/shutdown`. With `--daemonize` the launcher forks a detached router (its own
session, stdin from /dev/null, stdout and stderr to `router.log` in the state directory), waits
up to 60 s for it to listen, prints its `ok <url>` or `error <why>` and exits 0 or 1. The state
file is the router's (`Router.save`). Standard library only.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import threading
import time
import traceback
from pathlib import Path

from mlops_actions.backends.local_endpoint._http import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_READ_TIMEOUT,
)
from mlops_actions.backends.local_endpoint.predlog import DURABILITY_MODES
from mlops_actions.backends.local_endpoint.router import Router
from mlops_actions.backends.local_endpoint.state import Paths, open_private, secure


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The router's command line; argparse exits 2 on bad arguments."""
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


def build_router(args: argparse.Namespace) -> Router:
    """The Router that the parsed arguments describe (not yet listening)."""
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


def serve(router: Router) -> None:
    """Restore the previous deployments and serve until a signal or `/-/shutdown`; blocks."""

    def on_signal(signum: int, frame: object) -> None:
        threading.Thread(target=router.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    router.restore()
    router.serve_forever()
    router.shutdown()


def daemonize(args: argparse.Namespace) -> int:
    """Fork a detached router; print `ok <url>` once it listens (or `error <why>`).

    Returns the launcher's exit code (0 when the router listens); the forked child never
    returns (it exits 0 after a clean shutdown, 1 when it failed).
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_fd)
        text = _await_report(read_fd)
        print(text, flush=True)
        return 0 if text.startswith("ok ") else 1
    os.close(read_fd)
    os.setsid()
    _detach(Paths(args.state_dir))
    try:
        router = build_router(args)
        url = router.bind(args.port, fallback=args.port_fallback)
    except Exception as exc:  # noqa: BLE001 (reported to the launcher, whatever it is)
        traceback.print_exc()
        os.write(write_fd, f"error {exc}\n".encode())
        os._exit(1)
    try:
        os.write(write_fd, f"ok {url}\n".encode())
        os.close(write_fd)
        serve(router)
    except BaseException:  # noqa: BLE001 (a daemon logs its death and exits)
        traceback.print_exc()
        os._exit(1)
    os._exit(0)


def _await_report(read_fd: int) -> str:
    """What the forked router wrote to the pipe within 60 s (an error when nothing)."""
    message = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        readable, _, _ = select.select([read_fd], [], [], 0.5)
        if readable:
            chunk = os.read(read_fd, 4096)
            if not chunk:
                break
            message += chunk
    return message.decode("utf-8", errors="replace").strip() or "error the router did not start"


def _detach(paths: Paths) -> None:
    """stdin from /dev/null, stdout and stderr appended to the (private) router log."""
    secure(paths)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    log = open_private(paths.router_log)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)


def main(argv: list[str] | None = None) -> int:
    """Run the router (see the module docstring); the process's exit code."""
    args = parse_args(argv)
    if args.daemonize:
        return daemonize(args)
    router = build_router(args)
    url = router.bind(args.port, fallback=args.port_fallback)
    print(f"ok {url}", flush=True)
    serve(router)
    return 0
