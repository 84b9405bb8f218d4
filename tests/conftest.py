"""Shared fixtures: an in-process `mlops` runner and a fake GitHub Actions job environment."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "credit-default"

# The CLI sets these too; tests that import libraries directly need them from the start.
for _key, _value in {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "GX_ANALYTICS_ENABLED": "false",
    "DVC_NO_ANALYTICS": "1",
    "AZUREML_CURRENT_CLOUD": "AzureCloud",
}.items():
    os.environ.setdefault(_key, _value)

_GITHUB_VARS = (
    "GITHUB_ACTIONS",
    "GITHUB_OUTPUT",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_ENV",
    "MLOPS_CONFIG",
)


@pytest.fixture(autouse=True)
def _not_on_github(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start outside GitHub Actions even when the suite itself runs in a workflow."""
    for name in _GITHUB_VARS:
        monkeypatch.delenv(name, raising=False)


@dataclass
class CliRun:
    code: int
    out: str
    err: str


class Mlops(Protocol):
    """The `mlops` fixture: `mlops("train", "--json")` runs the CLI in this process."""

    def __call__(self, *argv: str) -> CliRun: ...


@pytest.fixture
def mlops(capsys: pytest.CaptureFixture[str]) -> Mlops:
    """Run `mlops ARGS…` in-process; returns exit code and captured stdout/stderr."""
    from mlops_actions.cli import main

    def run(*argv: str) -> CliRun:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return CliRun(code, captured.out, captured.err)

    return run


@dataclass
class GithubJob:
    output: Path
    summary: Path

    def outputs(self) -> dict[str, str]:
        from tests.github_files import parse_output_file

        return parse_output_file(self.output.read_text(encoding="utf-8"))


@pytest.fixture
def github_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GithubJob:
    """Environment of a GitHub Actions step: GITHUB_ACTIONS, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY."""
    job = GithubJob(tmp_path / "github_output", tmp_path / "step_summary.md")
    job.output.touch()
    job.summary.touch()
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(job.output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(job.summary))
    return job


def python_env(**extra: str) -> dict[str, str]:
    """Environment for a subprocess that runs this venv's tools."""
    env = {k: v for k, v in os.environ.items() if k not in _GITHUB_VARS}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


@pytest.fixture
def tracking_uri(tmp_path: Path) -> Iterator[str]:
    """A fresh sqlite MLflow store, set as the process-wide tracking URI for the test."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    try:
        yield uri
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def act_cache() -> Path:
    """The actions' tool cache, kept across sessions as a self-hosted runner keeps it.

    Building one action's environment takes 90–150 s; reusing it takes about 4 s. Reuse is safe:
    an environment is keyed by its lock, the bootstrap lock, the Python and the trust scope, and
    `scripts/action-install.sh` verifies its sealed manifest before every use (a tampered or
    stale one is rebuilt). $MLOPS_TEST_ACT_CACHE chooses another folder.
    """
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = Path(os.environ.get("MLOPS_TEST_ACT_CACHE") or default / "mlops-actions-test" / "act")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _generated(out: Path, *extra: str) -> dict[str, bytes]:
    import subprocess

    script = str(EXAMPLE / "generate_data.py")
    subprocess.run(
        [sys.executable, script, "--out", str(out), "--rows", "2000", *extra],
        check=True,
        capture_output=True,
        env=python_env(),
    )
    return {f"data/{p.name}": p.read_bytes() for p in sorted(out.glob("*.csv"))}


@pytest.fixture(scope="session")
def example_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Generated example data (data/*.csv relative to the example), 2,000 training rows."""
    return _generated(tmp_path_factory.mktemp("example-data"))


@pytest.fixture(scope="session")
def drifted_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Example data generated with `--drift 1.0` (data/*.csv): the current batch drifts."""
    return _generated(tmp_path_factory.mktemp("drifted-data"), "--drift", "1.0")


@pytest.fixture
def azureml_https(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    """Open a FakeAzureML over HTTPS on 127.0.0.1: ``with azureml_https(fake) as https:`` sets
    AZUREML_DEV_URL_MFE (unless ``control_plane=False``) and REQUESTS_CA_BUNDLE and gives
    ``https.server``, ``https.session`` (a plain requests session) and ``https.ml_client`` (a
    real MLClient over that session); see ``tests.fakes.azureml_rest.https_ml_client``."""
    from tests.fakes.azureml_rest import https_ml_client

    def open_https(fake: object, *, control_plane: bool = True) -> object:
        return https_ml_client(fake, str(tmp_path), monkeypatch, control_plane=control_plane)  # type: ignore[arg-type]

    return open_https
