"""scripts/action-install.sh: one environment per lock, shared by checkouts; each checkout's own
`mlops` wrapper runs that checkout's code."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _checkout(dest: Path, version: str) -> Path:
    """A minimal copy of the repository (what the install reads), with its own version string."""
    for part in ("scripts", "requirements", "src"):
        shutil.copytree(REPO / part, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
    init = dest / "src" / "mlops_actions" / "__init__.py"
    text = init.read_text()
    head, _, tail = text.partition("__version__ = ")
    init.write_text(f'{head}__version__ = "{version}"\n' + tail.split("\n", 1)[1])
    return dest


def _install(checkout: Path, cache: Path, github_path: Path) -> tuple[Path, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "VIRTUAL_ENV"))}
    env.update({"MLOPS_ACTIONS_CACHE": str(cache), "GITHUB_PATH": str(github_path)})
    started = time.monotonic()
    done = subprocess.run(
        ["bash", str(checkout / "scripts" / "action-install.sh"), "validate-data"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return Path(done.stdout.strip().splitlines()[-1]), time.monotonic() - started


def test_two_checkouts_share_one_environment_and_run_their_own_code(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = _checkout(tmp_path / "a", "1.0.0+a")
    second = _checkout(tmp_path / "b", "1.0.0+b")
    paths = tmp_path / "a.path", tmp_path / "b.path"

    venv_a, _ = _install(first, cache, paths[0])
    venv_b, reused = _install(second, cache, paths[1])
    assert venv_a == venv_b
    assert reused < 5, f"the second install rebuilt the environment ({reused:.1f} s)"
    assert [p.name for p in cache.iterdir() if p.is_dir() and p.name.startswith("validate")] == [
        venv_a.name
    ]

    for path, version in zip(paths, ("1.0.0+a", "1.0.0+b"), strict=True):
        (bin_dir,) = path.read_text().split()
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "VIRTUAL_ENV"))
        }
        shown = subprocess.run(
            [str(Path(bin_dir) / "mlops"), "--version"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert shown.stdout.strip() == f"mlops-actions {version}"


def test_unknown_action_fails_with_an_error_annotation(tmp_path: Path) -> None:
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "action-install.sh"), "no-such-action"],
        env={**os.environ, "MLOPS_ACTIONS_CACHE": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "::error title=mlops-actions::no lock file for action 'no-such-action'" in done.stderr
