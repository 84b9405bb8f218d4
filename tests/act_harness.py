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
    # The developer's uv cache (warm from `make venv`) instead of a cold one per session.
    uv_cache = str(Path.home() / ".cache" / "uv")
    defaults = {"MLOPS_ACTIONS_CACHE": str(cache), "UV_CACHE_DIR": uv_cache}
    for key, value in {**defaults, **(env or {})}.items():
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


# ------------------------------------------------------------------ reusable workflows under act

STUBS = REPO / "tests" / "act_stubs"
STUB_PINS = {
    "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1": "checkout",
    "actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97": "setup-python",
    "actions/upload-artifact@bbbca2ddaa5d8feaa63e36b76fdaad77386f024f": "upload-artifact",
    "actions/download-artifact@3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c": "download-artifact",
    "azure/login@f5d393ae46f8fde4be8b75f32e3fc50e654ad0ca": "azure-login",
}
"""The remote actions our reusable workflows pin, and the stub in tests/act_stubs for each."""
MLOPS_ACTIONS_REF = "0" * 40
"""The `mlops-actions-ref` a test caller passes; the checkout stub ignores it."""


def stub_repositories() -> dict[str, Path]:
    """`local_repositories` for `run_act`: every pinned remote action → its stub."""
    return {pin: STUBS / name for pin, name in STUB_PINS.items()}


@dataclass
class ReusableWorkflowRun:
    """Folders of one act run of callers of our reusable workflows (see `prepare_reusable_run`)."""

    workspace: Path
    checkouts: Path
    """$MLOPS_TEST_CHECKOUT_ROOT: the checkout stub copies mlops-actions from here."""
    artifacts: Path
    """$MLOPS_TEST_ARTIFACTS: the upload/download-artifact stubs keep artifacts here by name."""
    home: Path
    """$HOME of the jobs (the local MLflow state of ml-pipeline lives under it)."""

    def env(self, **extra: str) -> dict[str, str]:
        """`env` for `run_act`: the stubs' folders, the jobs' $HOME, the shared uv cache."""
        return {
            "MLOPS_TEST_CHECKOUT_ROOT": str(self.checkouts),
            "MLOPS_TEST_ARTIFACTS": str(self.artifacts),
            "HOME": str(self.home),
            "UV_CACHE_DIR": str(Path.home() / ".cache" / "uv"),
            **extra,
        }


def prepare_reusable_run(
    root: Path,
    callers: dict[str, str],
    reusable: list[str],
    files: dict[str, str | bytes] | None = None,
) -> ReusableWorkflowRun:
    """A workspace with `callers` and this repository's `reusable` workflows, under `root`.

    mlops-actions is checked out (by the stub) from a copy of the workspace, so the actions run
    with the test's files too; artifacts and $HOME are fresh folders.
    """
    workflows = dict(callers)
    for name in reusable:
        workflows[name] = (REPO / ".github" / "workflows" / name).read_text(encoding="utf-8")
    workspace = make_workspace(root / "ws", workflows, files)
    checkouts = root / "checkouts"
    shutil.copytree(
        workspace,
        checkouts / "mlops-actions" / "mlops-actions",
        ignore=shutil.ignore_patterns(".git"),
    )
    artifacts = root / "artifacts"
    home = root / "home"
    artifacts.mkdir()
    home.mkdir()
    return ReusableWorkflowRun(workspace, checkouts, artifacts, home)


def _job_prefix(job: str) -> re.Pattern[str]:
    return re.compile(rf"^\[(?:[^\]]*/)?{re.escape(job)}\s*\]\s+(.*)$")


def job_started(run: ActRun, job: str) -> bool:
    """Whether act ran any step of `job` (a job skipped by `if:` or `needs:` logs nothing)."""
    pattern = _job_prefix(job)
    return any(pattern.match(line) for line in run.log.splitlines())


def job_annotations(run: ActRun, job: str, level: str = "error") -> list[str]:
    """Messages of the `::<level>` annotations that `job` emitted."""
    pattern = _job_prefix(job)
    found = []
    for line in run.log.splitlines():
        match = pattern.match(line)
        if match and (note := _ANNOTATION.search(match.group(1))) and note.group(1) == level:
            found.append(note.group(3))
    return found


def job_outputs(run: ActRun, job: str) -> dict[str, str]:
    """Outputs the steps of `job` set, as act logs them (`::set-output::`); when two steps set
    the same name the later one wins; of a multi-line value only the first line."""
    pattern = _job_prefix(job)
    found = {}
    for line in run.log.splitlines():
        match = pattern.match(line)
        if match and (body := match.group(1)).startswith("⚙"):
            key, _, value = body.partition("::set-output:: ")[2].partition("=")
            if key:
                found[key] = value
    return found


def example_files(
    example_data: dict[str, bytes], extra: dict[str, str | bytes] | None = None
) -> dict[str, str | bytes]:
    """`files` for a workspace: the generated example data and `extra` (paths relative to the
    example), under examples/credit-default/."""
    found: dict[str, str | bytes] = {**example_data, **(extra or {})}
    return {f"examples/credit-default/{name}": content for name, content in found.items()}


def example_project(
    root: Path, example_data: dict[str, bytes], extra: dict[str, str | bytes] | None = None
) -> Path:
    """A copy of the example at `root` with the generated data and `extra` files, to run the
    `mlops` steps in outside act (e.g. `seed_champion`)."""
    shutil.copytree(
        REPO / "examples" / "credit-default", root, ignore=shutil.ignore_patterns(".mlops", "data")
    )
    for name, content in {**example_data, **(extra or {})}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def example_config(**changes: object) -> str:
    """The example's mlops.yaml with top-level sections updated (`train={...}` merges)."""
    import yaml

    config = yaml.safe_load(
        (REPO / "examples" / "credit-default" / "mlops.yaml").read_text(encoding="utf-8")
    )
    for section, value in changes.items():
        if isinstance(value, dict) and isinstance(config.get(section), dict):
            config[section] = _merged(config[section], value)
        else:
            config[section] = value
    return yaml.safe_dump(config, sort_keys=False)


def _merged(base: dict[str, object], change: dict[str, object]) -> dict[str, object]:
    out = dict(base)
    for key, value in change.items():
        old = out.get(key)
        out[key] = (
            _merged(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
        )
    return out


def seed_champion(
    project: Path, tracking_uri: str, *, config: str = "mlops.yaml", reports: Path
) -> str:
    """Train `project` with `config` and make that model champion in `tracking_uri`.

    Runs the real steps (`mlops train`, `compare-champion`, `register`, `register --promote`);
    a model the comparison rejects (a deliberately weak one) is registered with `--force`.
    Returns the champion's version.
    """
    env = python_env(MLFLOW_TRACKING_URI=tracking_uri)

    def mlops(*args: str) -> dict[str, object]:
        proc = subprocess.run(
            [sys.executable, "-m", "mlops_actions", *args, "--config", config, "--json",
             "--report-dir", str(reports)],
            cwd=project, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"mlops {args[0]} failed ({proc.returncode}):\n{proc.stderr}")
        result: dict[str, object] = json.loads(proc.stdout)
        return result

    model_uri = str(mlops("train")["model-uri"])
    compared = mlops("compare-champion", "--candidate", model_uri, "--no-fail-if-worse")
    force = [] if compared["is-better"] is True else ["--force", "--force-reason", "test seed"]
    version = str(mlops("register", "--candidate", model_uri, *force)["model-version"])
    promoted = mlops("register", "--promote", version)
    if promoted.get("champion-version") != version:
        raise RuntimeError(f"seeding did not make v{version} champion: {promoted}")
    return version
