"""Run this repository's actions and workflows with act (host mode, no Docker) in tests.

`make_workspace` copies the repository (tracked and new files) into a fresh git repository with an
`origin` remote, as a consumer checkout would look; `run_act` runs one workflow there and returns
the log, the annotations and the lines the workflow printed. The actions install their locked
environments into one cache folder per test session, as a runner's tool cache would keep them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO, python_env

ACT = Path(sys.executable).parent / "act"
CHECKOUT = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1"
CHECKOUT_STEP = f"""\
      - uses: {CHECKOUT}
        with:
          persist-credentials: false
"""
"""The first step of a test job: act copies the workspace for a checkout of its own repository."""
ORIGIN = "https://github.com/acme/credit-models.git"
_ANNOTATION = re.compile(r"❗\s+::(error|warning|notice)(?: ([^:]*))?::(.*)$")
_PRINTED = re.compile(r"^\[[^\]]+\]\s+\|\s?(.*)$")


@dataclass
class ActRun:
    """What act reported: exit code, full log, annotations, and the lines steps printed."""

    code: int
    log: str

    def annotations(self, level: str = "error") -> list[tuple[dict[str, str], str]]:
        found = []
        for line in self.log.splitlines():
            match = _ANNOTATION.search(line)
            if match and match.group(1) == level:
                props = dict(p.split("=", 1) for p in (match.group(2) or "").split(",") if "=" in p)
                found.append((props, match.group(3)))
        return found

    def job_succeeded(self, job: str) -> bool:
        """Whether act reported `job` as succeeded (False when failed or not run)."""
        pattern = re.compile(rf"^\[(?:[^\]]*/)?{re.escape(job)}\s*\]\s+🏁\s+Job succeeded", re.M)
        return bool(pattern.search(self.log))

    def job_failed(self, job: str) -> bool:
        """Whether act reported `job` as failed."""
        pattern = re.compile(rf"^\[(?:[^\]]*/)?{re.escape(job)}\s*\]\s+🏁\s+Job failed", re.M)
        return bool(pattern.search(self.log))

    def printed(self) -> list[str]:
        return [m.group(1) for line in self.log.splitlines() if (m := _PRINTED.match(line))]

    def values(self, prefix: str = "RESULT ") -> dict[str, str]:
        """`RESULT key=value` lines printed by a workflow step, as a dict."""
        out = {}
        for line in self.printed():
            if line.startswith(prefix):
                key, _, value = line[len(prefix) :].partition("=")
                out[key] = value
        return out


def _repository_files() -> list[str]:
    proc = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-co", "--exclude-standard"],
        capture_output=True,
        text=True,
        check=True,
    )
    return [f for f in proc.stdout.splitlines() if (REPO / f).is_file()]


def make_workspace(
    root: Path,
    workflows: dict[str, str],
    files: dict[str, str | bytes] | None = None,
) -> Path:
    """A git repository at `root` holding this repository's files, `workflows` and `files`."""
    root.mkdir(parents=True, exist_ok=True)
    for name in _repository_files():
        if name.startswith(".github/workflows/"):
            continue
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    for name, text in workflows.items():
        path = root / ".github" / "workflows" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for name, content in (files or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    if files:  # data files are usually git-ignored in a consumer repo; act copies tracked files
        subprocess.run([*git, "add", "-f", *files], check=True)
    subprocess.run([*git, "commit", "-qm", "workspace"], check=True)
    subprocess.run([*git, "remote", "add", "origin", ORIGIN], check=True)
    return root


def run_act(
    workspace: Path,
    workflow: str,
    *,
    cache: Path,
    event: str = "push",
    payload: dict[str, object] | None = None,
    env: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    inputs: dict[str, str] | None = None,
    local_repositories: dict[str, Path] | None = None,
    job: str | None = None,
    timeout: float = 900,
) -> ActRun:
    """Run `.github/workflows/<workflow>` of `workspace` with act in host mode."""
    argv = [
        str(ACT),
        event,
        "-W",
        f".github/workflows/{workflow}",
        "-P",
        "ubuntu-latest=-self-hosted",
        "--no-cache-server",
        "--action-offline-mode",
    ]
    if job:
        argv += ["-j", job]
    if payload is not None:
        event_file = workspace.parent / f"{workspace.name}-event.json"
        event_file.write_text(json.dumps(payload), encoding="utf-8")
        argv += ["-e", str(event_file)]
    for key, value in {"MLOPS_ACTIONS_CACHE": str(cache), **(env or {})}.items():
        argv += ["--env", f"{key}={value}"]
    for key, value in (secrets or {}).items():
        argv += ["-s", f"{key}={value}"]
    for key, value in (inputs or {}).items():
        argv += ["--input", f"{key}={value}"]
    for spec, path in (local_repositories or {}).items():
        argv += ["--local-repository", f"{spec}={path}"]
    run_env = python_env()
    # The runner's own Python, not this venv: actions build their environments from it.
    run_env["PATH"] = os.pathsep.join(
        p for p in run_env["PATH"].split(os.pathsep) if Path(p) != Path(sys.executable).parent
    )
    run_env["PATH"] = f"{run_env['PATH']}{os.pathsep}{ACT.parent}"
    proc = subprocess.run(
        argv,
        cwd=workspace,
        capture_output=True,
        text=True,
        env=run_env,
        timeout=timeout,
        check=False,
    )
    return ActRun(proc.returncode, proc.stdout + proc.stderr)
