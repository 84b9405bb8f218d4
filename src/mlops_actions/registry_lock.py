"""The per-model registry lock: a transient registered model `<name>__mlops_lock`.

Registering and promoting take it so that two jobs never move a model's pointers at once. A lock
left by a killed job is broken: at once when its owner ran on this machine and that process is
gone, else when its heartbeat is `LOCK_MISSED_BEATS` periods old, and a lock without a heartbeat
(an older version's) when it is older than its ttl. Servers that cannot create registered models
fall back to a lock file on this machine.
"""

from __future__ import annotations

import os
import random
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_actions.errors import BackendError
from mlops_actions.mlflow_errors import EXISTS, MISSING, UNSUPPORTED, error_code, is_mlflow_error
from mlops_actions.processes import pid_alive

LOCK_SUFFIX = "__mlops_lock"
LOCK_HOST_TAG = "mlops.lock.host"
LOCK_PID_TAG = "mlops.lock.pid"
LOCK_BEAT_TAG = "mlops.lock.heartbeat"
LOCK_MISSED_BEATS = 6
"""Heartbeat periods a live lock holder never misses; past them its lock is broken."""


@dataclass(frozen=True)
class RegistryLock:
    """The lock of one registry client; `hold(name)` takes it for a block.

    Blocking: waits up to `timeout` seconds, then BackendError. While held, a thread renews the
    heartbeat every `heartbeat` seconds. Released when the block ends, also on an exception.
    `failure(action, exc)` makes the BackendError of a failing server.
    """

    client: Any
    owner: str
    """Who holds it, as the lock's tag says: `user@host:pid`."""
    timeout: float
    ttl: float
    heartbeat: float
    failure: Callable[[str, BaseException], BackendError]

    @contextmanager
    def hold(self, name: str) -> Iterator[None]:
        """Hold the per-model registry lock (`<name>__mlops_lock`) for the block.

        Waits up to `lock_timeout` seconds. A lock left by a killed job is broken: at once when
        its owner ran on this machine and that process is gone, else when its heartbeat (renewed
        every `lock_heartbeat` seconds while held) is `LOCK_MISSED_BEATS` periods old, and a lock
        without a heartbeat when it is older than `lock_ttl`. Servers that cannot create
        registered models fall back to a lock file on this machine.
        """
        lock_name = f"{name}{LOCK_SUFFIX}"
        if not self._acquire(lock_name):
            with _file_lock(lock_name, self.timeout):
                yield
            return
        stop = threading.Event()
        beat = threading.Thread(
            target=self._heartbeat, args=(lock_name, stop), name="registry-lock", daemon=True
        )
        beat.start()
        try:
            yield
        finally:
            stop.set()
            beat.join()
            try:
                self.client.delete_registered_model(lock_name)
            except Exception as exc:  # noqa: BLE001
                if not (is_mlflow_error(exc) and error_code(exc) in MISSING):
                    raise self.failure(f"release the registry lock {lock_name!r}", exc) from None

    def _acquire(self, lock_name: str) -> bool:
        """Take the registry lock; False when the server cannot hold one (use a file lock)."""
        host, pid = socket.gethostname(), os.getpid()
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                self.client.create_registered_model(
                    lock_name,
                    tags={
                        "mlops.lock.owner": self.owner,
                        LOCK_HOST_TAG: host,
                        LOCK_PID_TAG: str(pid),
                        LOCK_BEAT_TAG: f"{time.time():.3f}",
                    },
                    description="Transient lock of mlops-actions; safe to delete when older "
                    f"than {int(self.ttl)} s.",
                )
                return True
            except Exception as exc:  # noqa: BLE001
                code = error_code(exc) if is_mlflow_error(exc) else ""
                if code in UNSUPPORTED:
                    return False
                # MISSING: the holder released between our insert and the store's re-read.
                busy = code in EXISTS or code in MISSING or _sqlite_busy(exc)
                if not busy:
                    raise self.failure(f"take the registry lock {lock_name!r}", exc) from None
            self._break_if_stale(lock_name)
            if time.monotonic() > deadline:
                raise BackendError(
                    f"the registry lock {lock_name!r} stayed taken for {self.timeout:.0f} s;",
                    hint="another job is registering or promoting this model; retry, or delete "
                    "that registered model if no job is running.",
                )
            time.sleep(0.05 + random.random() * 0.15)  # noqa: S311 - jitter, not crypto

    def _heartbeat(self, lock_name: str, stop: threading.Event) -> None:
        """Renew the held lock's heartbeat until `stop`; a missed beat is retried next period."""
        while not stop.wait(self.heartbeat):
            with suppress(Exception):  # a busy store: the next beat comes soon enough
                self.client.set_registered_model_tag(lock_name, LOCK_BEAT_TAG, f"{time.time():.3f}")

    def _break_if_stale(self, lock_name: str) -> None:
        """Delete the lock when its owner is provably dead or has stopped beating."""
        try:
            held = self.client.get_registered_model(lock_name)
        except Exception:  # noqa: BLE001 - released meanwhile, or unreadable: just retry
            return
        if lock_is_stale(
            held.tags or {},
            created=(held.creation_timestamp or 0) / 1000.0,
            now=time.time(),
            ttl=self.ttl,
            expiry=self.heartbeat * LOCK_MISSED_BEATS,
        ):
            with suppress(Exception):  # someone else may have broken it first
                self.client.delete_registered_model(lock_name)


def lock_is_stale(
    tags: Mapping[str, str], *, created: float, now: float, ttl: float, expiry: float
) -> bool:
    """Whether a registry lock with these tags was left by an owner that is gone.

    Dead for sure: the owner ran on this host and its pid no longer exists. Presumed dead: its
    heartbeat is older than `expiry` (it renews far more often), or, for a lock of an older
    version without a heartbeat, the lock is older than `ttl`.
    """
    pid = tags.get(LOCK_PID_TAG, "")
    here = tags.get(LOCK_HOST_TAG) == socket.gethostname()
    if here and pid.isdigit() and not pid_alive(int(pid)):
        return True
    beat = tags.get(LOCK_BEAT_TAG)
    if beat is not None:
        try:
            return now - float(beat) > expiry
        except ValueError:
            pass
    return bool(created) and now - created > ttl


def _sqlite_busy(exc: BaseException) -> bool:
    return "database is locked" in str(exc)


@contextmanager
def _file_lock(name: str, timeout: float) -> Iterator[None]:
    import fcntl

    path = Path(tempfile.gettempdir()) / f"{name}.lock"
    deadline = time.monotonic() + timeout
    with path.open("a") as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise BackendError(
                        f"the lock file {path} stayed taken for {timeout:.0f} s;",
                        hint="another job on this machine is promoting this model; retry.",
                    ) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
