"""The registry service, both ways: MLflow aliases (sqlite store) and the tag fallback (an MLflow
tracking server whose alias API answers 404 ENDPOINT_NOT_FOUND, as Azure ML's MLflow endpoint may).

Concurrency is tested with separate processes racing through a barrier.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops_actions.errors import BackendError, InputError
from tests.compare_support import Trained, trained_models, unique_name, write_config
from tests.conftest import python_env

Run = Callable[..., Any]

# An MLflow tracking server over the shared sqlite store, without the alias endpoints.
SERVER = """
import json, os, sys
db, artifacts, port_file = sys.argv[1:4]
os.environ["_MLFLOW_SERVER_FILE_STORE"] = db
os.environ["_MLFLOW_SERVER_ARTIFACT_ROOT"] = artifacts
os.environ["MLFLOW_TRACKING_URI"] = db  # the store resolves models:/ sources through it
from mlflow.server import app
from werkzeug.serving import make_server

def without_aliases(environ, start_response):
    if "/registered-models/alias" in environ.get("PATH_INFO", ""):
        body = json.dumps({"error_code": "ENDPOINT_NOT_FOUND",
                           "message": "Model aliases are not supported."}).encode()
        start_response("404 NOT FOUND", [("Content-Type", "application/json"),
                                         ("Content-Length", str(len(body)))])
        return [body]
    return app(environ, start_response)

server = make_server("127.0.0.1", 0, without_aliases, threaded=True)
with open(port_file + ".tmp", "w") as fh:
    fh.write(str(server.server_port))
os.replace(port_file + ".tmp", port_file)
server.serve_forever()
"""

# One racer: waits at a barrier, registers CANDIDATE, then promotes each VERSION in turn.
RACER = """
import os, sys, time
from mlops_actions.registry import ModelRegistry
uri, barrier, name, candidate, *versions = sys.argv[1:]
registry = ModelRegistry(uri)
registry.uses_aliases()
open(os.path.join(barrier, str(os.getpid())), "w").close()
while len(os.listdir(barrier)) < 2:
    time.sleep(0.005)
print("registered", registry.register(name, candidate, run_id=None).version, flush=True)
for version in versions:
    print("promoted", version, "after", registry.promote(name, version), flush=True)
"""


@pytest.fixture(autouse=True)
def _fail_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow's REST client retries a failing server for minutes by default."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")


@dataclass(frozen=True)
class Backend:
    kind: str
    uri: str
    aliases: bool


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    return trained_models(tmp_path_factory)


@pytest.fixture(scope="module")
def tag_server(models: Trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("server")
    port_file = folder / "port"
    log = (folder / "server.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SERVER,
            models.tracking_uri,
            (models.root / "artifacts").as_uri(),
            str(port_file),
        ],
        env=python_env(),
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 180
        while not port_file.exists():
            assert proc.poll() is None, (folder / "server.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the MLflow server did not start"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port_file.read_text()}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture(params=["sqlite-aliases", "server-without-aliases"])
def backend(request: pytest.FixtureRequest, models: Trained) -> Backend:
    if request.param == "sqlite-aliases":
        return Backend(request.param, models.tracking_uri, True)
    return Backend(request.param, request.getfixturevalue("tag_server"), False)


def _registry(backend: Backend, **kwargs: Any) -> Any:
    from mlops_actions.registry import ModelRegistry

    return ModelRegistry(backend.uri, **kwargs)


def _versions(registry: Any, name: str, count: int, models: Trained) -> list[str]:
    """`count` versions of `name` (alternately the good and the bad model), made with MLflow."""
    registry.client.create_registered_model(name)
    made = []
    with registry.using_uris():
        for i in range(count):
            uri = (models.good_uri, models.bad_uri)[i % 2]
            made.append(
                str(
                    registry.client.create_model_version(
                        name, uri, model_id=uri.removeprefix("models:/")
                    ).version
                )
            )
    return made


def test_the_pointer_is_an_alias_or_a_tag_behind_the_same_functions(
    backend: Backend, models: Trained
) -> None:
    registry = _registry(backend)
    name = unique_name("pointer")
    assert registry.uses_aliases() is backend.aliases
    assert registry.champion_version(name) is None

    registered = registry.register(name, models.good_uri, run_id=models.good_run)
    assert registered.created and registry.alias_version(name, "challenger") == registered.version
    assert registry.promote(name, registered.version) is None
    assert registry.champion_version(name) == registered.version

    stored = registry.client.get_registered_model(name)
    if backend.aliases:
        assert stored.aliases == {"challenger": 1, "champion": 1}
        assert "mlops.alias.champion" not in stored.tags
    else:
        assert stored.tags["mlops.alias.champion"] == registered.version
        assert stored.tags["mlops.alias.challenger"] == registered.version
    model = registry.load_model(name, alias="champion")
    assert model.metadata.get_input_schema().has_input_names()


def test_a_server_that_fails_alias_calls_later_still_gets_tags(
    tag_server: str, models: Trained
) -> None:
    from mlops_actions.registry import ModelRegistry

    registry = ModelRegistry(tag_server)
    registry._aliases = True  # as if the probe had been answered "no such model" (inconclusive)
    name = unique_name("late")
    version = registry.register(name, models.good_uri, run_id=None).version
    assert registry.uses_aliases() is False
    assert registry.client.get_registered_model(name).tags["mlops.alias.challenger"] == version
    assert registry.alias_version(name, "challenger") == version


def test_register_is_idempotent_per_candidate(backend: Backend, models: Trained) -> None:
    registry = _registry(backend)
    name = unique_name("idem")
    first = registry.register(name, models.good_uri, run_id=models.good_run, tags={"k": "v"})
    second = registry.register(name, models.good_uri, run_id=models.good_run)
    other = registry.register(name, models.bad_uri, run_id=models.bad_run)
    assert (first.created, second.created, other.created) == (True, False, True)
    assert first.version == second.version != other.version
    assert [str(v.version) for v in registry.versions(name)] == [first.version, other.version]
    assert registry.alias_version(name, "challenger") == other.version
    assert registry.get_version(name, first.version).tags["k"] == "v"


def test_promote_records_previous_and_rollback_walks_back(
    backend: Backend, models: Trained
) -> None:
    registry = _registry(backend)
    name = unique_name("chain")
    v1, v2, v3 = _versions(registry, name, 3, models)
    assert registry.promote(name, v1) is None
    assert registry.promote(name, v2) == v1
    assert registry.promote(name, v3) == v2
    again = registry.promotion(name, v3)
    assert (again.previous, again.changed) == (v2, False)
    assert registry.client.get_registered_model(name).tags["mlops.champion.previous"] == v2

    back = registry.rollback(name)
    assert (back.from_version, back.to_version) == (v3, v2)
    assert registry.get_version(name, v3).tags["mlops.rolled_back_to"] == v2
    assert registry.rollback(name).to_version == v1
    with pytest.raises(InputError, match="was the first champion"):
        registry.rollback(name)
    with pytest.raises(InputError, match="has no version '99'"):
        registry.promote(name, "99")


def test_concurrent_registrations_and_promotions_lose_nothing(
    backend: Backend, models: Trained, tmp_path: Path
) -> None:
    """Two processes register the same candidate, then promote three versions each, at once."""
    from mlops_actions.registry_lock import LOCK_SUFFIX

    registry = _registry(backend)
    name = unique_name("race")
    c0, *mine = _versions(registry, name, 7, models)
    registry.promote(name, c0)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, backend.uri, str(barrier), name, models.good_uri, *own],
            env=python_env(MLFLOW_HTTP_REQUEST_MAX_RETRIES="1"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for own in (mine[0::2], mine[1::2])
    ]
    lines = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        lines += out.splitlines()

    # one version for the candidate registered twice at once
    assert sorted(line for line in lines if line.startswith("registered")) == ["registered 8"] * 2
    assert len(registry.versions(name)) == 8
    # one champion, and every promotion a link of one chain back to c0: no previous-champion
    # tag was written from a stale read of a champion that another process had just replaced
    champion = registry.champion_version(name)
    assert champion in mine
    chain = [champion]
    while chain[-1] != c0:
        previous = registry.get_version(name, chain[-1]).tags["mlops.previous_champion"]
        assert previous not in chain, chain
        chain.append(previous)
    assert sorted(chain) == sorted([c0, *mine])
    with pytest.raises(Exception, match=r"not found|does not exist|RESOURCE_DOES_NOT_EXIST"):
        registry.client.get_registered_model(name + LOCK_SUFFIX)


def test_a_stale_lock_is_broken_and_a_held_one_times_out(models: Trained) -> None:
    from mlops_actions.registry import ModelRegistry
    from mlops_actions.registry_lock import LOCK_SUFFIX

    name = unique_name("lock")
    holder = ModelRegistry(models.tracking_uri)
    holder.client.create_registered_model(name + LOCK_SUFFIX)
    impatient = ModelRegistry(models.tracking_uri, lock_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(BackendError, match="stayed taken"):
        impatient.register(name, models.good_uri, run_id=None)
    assert time.monotonic() - started < 5
    time.sleep(0.05)
    breaker = ModelRegistry(models.tracking_uri, lock_ttl=0.01)
    assert breaker.register(name, models.good_uri, run_id=None).version == "1"


def test_cli_promotes_and_compares_through_the_tag_fallback(
    mlops: Run, models: Trained, tag_server: str, tmp_path: Path
) -> None:
    from mlops_actions.registry import ModelRegistry

    name = unique_name("cli-tags")
    registry = ModelRegistry(tag_server)
    version = registry.register(name, models.bad_uri, run_id=None).version
    config = write_config(tmp_path, models, name)
    config.write_text(config.read_text().replace(models.tracking_uri, tag_server), encoding="utf-8")
    promoted = mlops("register", "--config", str(config), "--promote", version, "--json")
    assert promoted.code == 0, promoted.err
    assert registry.client.get_registered_model(name).tags["mlops.alias.champion"] == version

    compared = mlops(
        "compare-champion", "--config", str(config), "--candidate", models.good_run, "--json"
    )
    assert compared.code == 0, compared.err
    assert '"champion-version": "' + version + '"' in compared.out
    # the step set MLflow's process-wide URIs to load models, and put them back
    assert os.environ.get("MLFLOW_TRACKING_URI") is None
