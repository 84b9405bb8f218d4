"""scripts/action-install.sh: one environment per lock, shared by checkouts; each checkout's own
`mlops` wrapper runs that checkout's code."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
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


def _run_install(
    checkout: Path, cache: Path, action: str = "validate-data", **extra: str
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHONPATH", "VIRTUAL_ENV", "GITHUB_", "MLOPS_", "RUNNER_"))
    }
    env.update({"MLOPS_ACTIONS_CACHE": str(cache), **extra})
    return subprocess.run(
        ["bash", str(checkout / "scripts" / "action-install.sh"), action],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def _install(
    checkout: Path, cache: Path, github_path: Path, action: str = "validate-data", **extra: str
) -> tuple[Path, float]:
    started = time.monotonic()
    done = _run_install(checkout, cache, action, GITHUB_PATH=str(github_path), **extra)
    assert done.returncode == 0, done.stderr[-2000:]
    return Path(done.stdout.strip().splitlines()[-1]), time.monotonic() - started


def _rebuilt(done: subprocess.CompletedProcess[str]) -> bool:
    assert done.returncode == 0, done.stderr[-2000:]
    return "::warning title=mlops-actions::rebuilding the " in done.stderr


def _tiny(checkout: Path) -> str:
    """An action whose lock is empty: the environment is a venv with the bootstrap (uv) only."""
    (checkout / "requirements" / "actions" / "tiny.txt").write_text("# nothing locked\n")
    return "tiny"


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


def test_a_pre_seeded_environment_is_rebuilt_not_run(tmp_path: Path) -> None:
    """What a PR job on a persistent runner could leave behind: the environment a later job will
    use, with `bin/python` replaced and a `.complete` marker, but no manifest sealed by a build."""
    checkout = _checkout(tmp_path / "repo", "1.0.0")
    action = _tiny(checkout)
    cache = tmp_path / "cache"
    venv, _ = _install(checkout, cache, tmp_path / "path", action)
    shutil.rmtree(venv)
    for seal in (Path(f"{venv}.manifest"), Path(f"{venv}.manifest.sha256")):
        seal.unlink()
    marker = tmp_path / "pwned"
    (venv / "bin").mkdir(parents=True)
    forged = venv / "bin" / "python"
    forged.write_text(f'#!/bin/sh\ntouch {marker}\nexec python3 "$@"\n')
    forged.chmod(0o755)
    (venv / "bin" / "uv").symlink_to(forged)
    (venv / ".complete").touch()

    done = _run_install(checkout, cache, action)

    assert _rebuilt(done), done.stderr
    assert "no sealed manifest" in done.stderr
    assert forged.is_symlink(), "the forged interpreter survived"
    assert not (venv / ".complete").exists()
    wrapper = cache / f"mlops-actions-bin-trusted-{_root_hash(checkout)}" / "mlops"
    subprocess.run([str(wrapper), "--help"], capture_output=True, check=False, timeout=120)
    assert not marker.exists(), "the forged bin/python ran"
    assert not _rebuilt(_run_install(checkout, cache, action)), "a clean reuse rebuilt"


def test_forged_manifest_of_another_key_or_edited_seal_is_refused(tmp_path: Path) -> None:
    checkout = _checkout(tmp_path / "repo", "1.0.0")
    action = _tiny(checkout)
    cache = tmp_path / "cache"
    trusted, _ = _install(checkout, cache, tmp_path / "path", action)
    pr, _ = _install(checkout, cache, tmp_path / "path", action, GITHUB_EVENT_NAME="pull_request")
    # Tamper with the PR environment and bring its manifest up to date with the tool itself,
    # sealed under any key but the real one (which includes the trust scope), then try the seal
    # of the trusted environment: neither is accepted.
    (pr / "bin" / "evil").write_text("#!/bin/sh\n")
    manifest = Path(f"{pr}.manifest")
    tool = [sys.executable, str(checkout / "scripts" / "action_env_manifest.py")]
    for seal in ("guess", trusted.name.rsplit("-", 1)[1]):
        subprocess.run([*tool, "write", str(pr), seal, str(manifest)], check=True)
        done = _run_install(checkout, cache, action, GITHUB_EVENT_NAME="pull_request")
        assert _rebuilt(done) and "does not match its seal" in done.stderr, done.stderr
        assert not (pr / "bin" / "evil").exists()
        (pr / "bin" / "evil").write_text("#!/bin/sh\n")
    subprocess.run([*tool, "write", str(pr), "x", str(manifest)], check=True)
    Path(f"{manifest}.sha256").write_text(Path(f"{trusted}.manifest.sha256").read_text())
    done = _run_install(checkout, cache, action, GITHUB_EVENT_NAME="pull_request")
    assert _rebuilt(done) and "does not match its seal" in done.stderr, done.stderr
    assert not (pr / "bin" / "evil").exists()


def test_a_tampered_package_file_or_a_new_pth_is_detected_and_a_clean_reuse_is_fast(
    tmp_path: Path,
) -> None:
    checkout = _checkout(tmp_path / "repo", "1.0.0")
    cache = tmp_path / "cache"
    venv, built = _install(checkout, cache, tmp_path / "path")
    # What the action itself runs must not change the environment it will verify next time.
    wrapper = cache / f"mlops-actions-bin-trusted-{_root_hash(checkout)}" / "mlops"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "VIRTUAL_ENV"))}
    subprocess.run([str(wrapper), "validate-data", "--help"], env=env, check=True, timeout=120)
    _, reused = _install(checkout, cache, tmp_path / "path")
    assert reused < 5, f"a clean reuse took {reused:.1f} s"
    print(f"build {built:.1f} s, verified reuse {reused:.2f} s")

    (site,) = (venv / "lib").glob("python3.*/site-packages")
    target = site / "pandas" / "__init__.py"
    # A copy, not a hard link into uv's cache (editing it must not edit every other environment).
    assert target.stat().st_nlink == 1
    target.write_text(target.read_text() + "\nimport os; os.system('touch /tmp/x')\n")
    done = _run_install(checkout, cache)
    assert _rebuilt(done), done.stderr
    assert "changed 1 (lib/" in done.stderr and "pandas/__init__.py" in done.stderr
    assert "os.system" not in target.read_text()

    (site / "zz-evil.pth").write_text("import os\n")
    compiled = next((site / "pandas" / "__pycache__").glob("__init__.*.pyc"))
    compiled.write_bytes(compiled.read_bytes() + b"\0")
    done = _run_install(checkout, cache)
    assert _rebuilt(done), done.stderr
    assert "extra 1" in done.stderr and "zz-evil.pth" in done.stderr
    assert "__pycache__" in done.stderr
    assert not (site / "zz-evil.pth").exists()


def test_pull_request_and_trusted_jobs_get_different_environments(tmp_path: Path) -> None:
    checkout = _checkout(tmp_path / "repo", "1.0.0")
    action = _tiny(checkout)
    cache = tmp_path / "cache"
    path = tmp_path / "path"
    by_event = {
        event: _install(checkout, cache, path, action, GITHUB_EVENT_NAME=event)[0]
        for event in ("push", "schedule", "workflow_dispatch", "pull_request", "merge_group")
    }
    assert by_event["push"] == by_event["schedule"] == by_event["workflow_dispatch"]
    assert by_event["pull_request"] == by_event["merge_group"]
    assert by_event["push"] != by_event["pull_request"]
    assert "-trusted-" in by_event["push"].name and "-pr-" in by_event["pull_request"].name
    # A trusted event may be narrowed to the PR scope; a PR job cannot claim the trusted one.
    narrowed, _ = _install(
        checkout, cache, path, action, GITHUB_EVENT_NAME="push", MLOPS_ENV_SCOPE="pr"
    )
    assert narrowed == by_event["pull_request"]
    claimed = _run_install(
        checkout, cache, action, GITHUB_EVENT_NAME="pull_request_target", MLOPS_ENV_SCOPE="trusted"
    )
    assert claimed.returncode == 0, claimed.stderr
    assert Path(claimed.stdout.split()[-1]) == by_event["pull_request"]
    assert "MLOPS_ENV_SCOPE=trusted ignored" in claimed.stderr
    bad = _run_install(checkout, cache, action, MLOPS_ENV_SCOPE="deploy")
    assert bad.returncode == 2 and "MLOPS_ENV_SCOPE must be" in bad.stderr
    # The job's PATH folder is made afresh: nothing an earlier job left in it survives.
    bin_dir = cache / f"mlops-actions-bin-pr-{_root_hash(checkout)}"
    (bin_dir / "git").write_text("#!/bin/sh\n")
    _install(checkout, cache, path, action, GITHUB_EVENT_NAME="pull_request")
    assert sorted(p.name for p in bin_dir.iterdir()) == ["mlops"]


def _root_hash(checkout: Path) -> str:
    return hashlib.sha256(str(checkout).encode()).hexdigest()[:16]
