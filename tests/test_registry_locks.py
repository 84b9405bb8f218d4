"""The registry lock survives `kill -9`: a dead owner's lock is broken at once, a live owner's is
kept by its heartbeat, and a silent one expires quickly.

Jobs are killed for real (SIGKILL, no cleanup runs) at points spread over `mlops register` and
`mlops register --promote`; the next job must finish at once, not wait out the lock timeout.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlops_actions.errors import BackendError
from mlops_actions.registry import ModelRegistry
from mlops_actions.registry_lock import LOCK_BEAT_TAG, LOCK_HOST_TAG, LOCK_PID_TAG, LOCK_SUFFIX
from tests.compare_support import Trained, trained_models, unique_name, write_config
from tests.conftest import python_env

MLOPS = str(Path(sys.executable).with_name("mlops"))
HOLD = """
import sys, time
from mlops_actions.registry import ModelRegistry
registry = ModelRegistry(sys.argv[1], lock_heartbeat=0.2)
with registry.lock(sys.argv[2]):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    return trained_models(tmp_path_factory)


def _holder(models: Trained, name: str) -> subprocess.Popen[str]:
    """A process that takes the real lock of `name` and keeps it, beating, until killed."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, models.tracking_uri, name],
        stdout=subprocess.PIPE,
        text=True,
        env=python_env(),
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def _kill(child: subprocess.Popen[str]) -> None:
    """SIGKILL: no finally block, no atexit, nothing of the child's runs."""
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    if child.stdout is not None:
        child.stdout.close()


def _lock_exists(registry: ModelRegistry, name: str) -> bool:
    try:
        registry.client.get_registered_model(name + LOCK_SUFFIX)
    except Exception:
        return False
    return True


def test_a_killed_holders_lock_is_broken_at_once(models: Trained) -> None:
    name = unique_name("killed")
    holder = _holder(models, name)
    registry = ModelRegistry(models.tracking_uri, lock_timeout=30)
    assert _lock_exists(registry, name)
    _kill(holder)
    started = time.monotonic()
    assert registry.register(name, models.good_uri, run_id=None).version == "1"
    assert time.monotonic() - started < 5  # not the 30 s timeout, not the 600 s ttl
    assert not _lock_exists(registry, name)


def test_a_live_holder_keeps_its_lock_by_heartbeat(models: Trained) -> None:
    name = unique_name("alive")
    holder = _holder(models, name)
    try:
        # Far longer than the holder's heartbeat expiry (6 × 0.2 s): a live owner keeps it.
        impatient = ModelRegistry(models.tracking_uri, lock_timeout=2.5, lock_heartbeat=0.2)
        with pytest.raises(BackendError, match="stayed taken"):
            impatient.register(name, models.good_uri, run_id=None)
        held = impatient.client.get_registered_model(name + LOCK_SUFFIX)
        assert time.time() - float(held.tags[LOCK_BEAT_TAG]) < 1.5
    finally:
        _kill(holder)


def test_a_silent_owner_on_another_host_expires(models: Trained) -> None:
    name = unique_name("remote")
    registry = ModelRegistry(models.tracking_uri, lock_timeout=10, lock_heartbeat=0.2)
    stamp = f"{time.time():.3f}"
    registry.client.create_registered_model(
        name + LOCK_SUFFIX,
        tags={
            LOCK_HOST_TAG: f"not-{socket.gethostname()}",
            LOCK_PID_TAG: "1",
            LOCK_BEAT_TAG: stamp,
        },
    )
    started = time.monotonic()
    assert registry.register(name, models.good_uri, run_id=None).version == "1"
    waited = time.monotonic() - started
    assert 1.0 <= waited < 5, waited  # its heartbeat had to go 6 × 0.2 s stale first


@pytest.mark.slow
@pytest.mark.parametrize("action", ["register", "promote"])
def test_kill_9_at_any_point_leaves_nothing_that_blocks_the_next_job(
    models: Trained, tmp_path: Path, action: str
) -> None:
    name = unique_name(f"kill-{action}")
    config = write_config(tmp_path, models, name)
    registry = ModelRegistry(models.tracking_uri)
    if action == "promote":
        registry.register(name, models.bad_uri, run_id=None)
        version = registry.register(name, models.good_uri, run_id=None).version
        argv = [MLOPS, "register", "--config", str(config), "--promote", version]
    else:
        # the candidate must carry a passing verdict to be registered without --force
        argv = [MLOPS, "register", "--config", str(config), "--candidate", models.good_uri,
                "--force", "--force-reason", "kill -9 test"]  # fmt: skip
    env = python_env()
    started = time.monotonic()
    subprocess.run(argv, env=env, capture_output=True, check=False, timeout=120)
    full = time.monotonic() - started  # one whole run, to spread the kills over
    killed_while_locked = 0
    for point in (0.5, 0.8, 0.9, 0.95):
        child = subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(full * point)
        child.send_signal(signal.SIGKILL)
        child.wait()
        killed_while_locked += _lock_exists(registry, name)
        started = time.monotonic()
        after = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        assert after.returncode == 0, after.stderr[-2000:]
        assert time.monotonic() - started < full + 10  # no wait for a dead owner's lock
        assert not _lock_exists(registry, name)
    versions = registry.client.search_model_versions(f"name='{name}'")
    if action == "promote":
        assert len(versions) == 2 and registry.champion_version(name) == version
    else:
        assert len(versions) == 1  # every re-run found the version the killed one made
    print(f"{action}: {killed_while_locked} of 4 kills left the lock taken; all recovered")
