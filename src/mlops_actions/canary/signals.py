"""Signals during a rollout: a cancelled job rolls back, and nothing interrupts the rollback."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from mlops_actions.canary.results import Aborted


@contextlib.contextmanager
def abort_on_sigterm() -> Iterator[None]:
    """SIGTERM raises `Aborted` in the main thread (a cancelled job); restored afterwards.

    Signal handlers can only be set from the main thread: elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Aborted(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """While rolling back, SIGTERM and SIGINT are ignored: a second cancel must not stop it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
