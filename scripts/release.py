"""Release mlops-actions VERSION: tag the tested commit, then pin the caller templates to it.

    python scripts/release.py 0.3.0           # HEAD already says version 0.3.0
    python scripts/release.py 0.3.0 --bump    # first commit "version 0.3.0" (pyproject + package)

A commit cannot hold its own SHA, so a release is two commits:
1. the release commit: HEAD of a clean tree (CI ran on it), whose package says VERSION and at which
   every action's step works (checked here by running each step from `git archive`);
   it gets the annotated tag vVERSION;
2. the pin commit "release vVERSION: pin SHA", right after it: src/mlops_actions/release.py gets
   `RELEASE = Release(version=VERSION, commit=SHA)` and workflows/*.yml are regenerated pinned to
   SHA with the comment `# vVERSION`. Nothing else changes in it.
Nothing is pushed: the script prints the push command. The checks are also used by
tests/test_release.py (`check_commit`).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RELEASE_FILE = "src/mlops_actions/release.py"
INIT_FILE = "src/mlops_actions/__init__.py"
PYPROJECT = "pyproject.toml"
VERSION = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")
RELEASE_LINE = re.compile(r'^RELEASE = Release\(version="([^"]*)", commit="([0-9a-f]*)"\)$', re.M)
PACKAGE_VERSION = re.compile(r'^__version__ = "([^"]*)"$', re.M)
PROJECT_VERSION = re.compile(r'^version = "([^"]*)"$', re.M)
STUB = re.compile(r"not available yet|NotAvailableError")
LOCAL_ACTION = re.compile(r"^\./\.mlops-actions/(actions/[\w.-]+)$")


class ReleaseError(Exception):
    """The release cannot go ahead; the message says why and what to do."""


def git(repo: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    if check and proc.returncode != 0:
        raise ReleaseError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip() if proc.returncode == 0 else ""


def is_commit(repo: Path, sha: str) -> bool:
    exists = ["git", "-C", str(repo), "cat-file", "-e", f"{sha}^{{commit}}"]
    return subprocess.run(exists, capture_output=True, check=False).returncode == 0


def _step_env(src: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "MLOPS_", "RUNNER_")) and k != "PYTHONPATH"
    }
    env.update(
        PYTHONPATH=str(src),
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        GX_ANALYTICS_ENABLED="false",
        DVC_NO_ANALYTICS="1",
        AZUREML_CURRENT_CLOUD="AzureCloud",
    )
    return env


def _commands_of(action: dict[str, object]) -> list[str]:
    """The `mlops <step>` commands an action.yml runs (the root action's come from its case)."""
    runs = action.get("runs")
    steps = runs.get("steps", []) if isinstance(runs, dict) else []
    found: list[str] = []
    for step in steps if isinstance(steps, list) else []:
        run = str(step.get("run", "")) if isinstance(step, dict) else ""
        match = re.fullmatch(r"mlops ([\w-]+)\s*", run)
        if match:
            found.append(match.group(1))
        case = re.search(r"^\s+([\w|-]+)\) ;;$", run, re.M)
        if case:
            found.extend(case.group(1).split("|"))
    return found


def check_commit(repo: Path, sha: str, *, python: str = sys.executable) -> list[str]:
    """What stops `sha` from being a release: empty when every action's step works there.

    Every action.yml at `sha` must name a step that exists and is implemented: run from the
    commit's own files (`git archive`), `mlops STEP --help` succeeds and `mlops STEP` without
    input fails on the input, not with the "not available yet" of a reserved step; and every
    `./.mlops-actions/actions/X` the reusable workflows use exists at `sha`.
    """
    if not is_commit(repo, sha):
        return [f"{sha} is not a commit of {repo}"]
    files = git(repo, "ls-tree", "-r", "--name-only", sha).splitlines()
    actions = sorted(f for f in files if re.fullmatch(r"(actions/[\w.-]+/)?action\.yml", f))
    if not any(a.startswith("actions/") for a in actions):
        return [f"{sha} has no actions/*/action.yml"]
    problems: list[str] = []
    for workflow in (f for f in files if re.fullmatch(r"\.github/workflows/[\w.-]+\.ya?ml", f)):
        doc = yaml.safe_load(git(repo, "show", f"{sha}:{workflow}")) or {}
        for job in (doc.get("jobs") or {}).values():
            for step in job.get("steps") or []:
                match = LOCAL_ACTION.match(str(step.get("uses", "")))
                if match and f"{match.group(1)}/action.yml" not in files:
                    problems.append(f"{workflow} uses {match.group(1)}, which {sha[:7]} lacks")
    with tempfile.TemporaryDirectory(prefix="mlops-release-") as tmp:
        tree, empty = Path(tmp) / "tree", Path(tmp) / "empty"
        tree.mkdir()
        empty.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(repo), "archive", "--format=tar", sha],
            capture_output=True,
            check=True,
        )
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
        env = _step_env(tree / "src")
        commands: dict[str, str] = {}
        for path in actions:
            action = yaml.safe_load((tree / path).read_text(encoding="utf-8")) or {}
            if STUB.search(str(action.get("description", ""))):
                problems.append(f"{path}: {action.get('description')}")
            names = _commands_of(action)
            if not names:
                problems.append(f"{path} runs no `mlops <step>`")
            commands.update((name, path) for name in names)
        for name, path in sorted(commands.items()):
            for argv in ([name, "--help"], [name]):
                proc = subprocess.run(
                    [python, "-m", "mlops_actions", *argv],
                    cwd=empty,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                    check=False,
                )
                output = proc.stdout + proc.stderr
                if STUB.search(output) or (argv[-1] == "--help" and proc.returncode != 0):
                    problems.append(
                        f"{path}: `mlops {' '.join(argv)}` at {sha[:7]} exits {proc.returncode}: "
                        + " ".join(output.split())[:300]
                    )
    return problems


def _version_at(repo: Path, rev: str) -> str:
    match = PACKAGE_VERSION.search(git(repo, "show", f"{rev}:{INIT_FILE}"))
    return match.group(1) if match else ""


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _bump(repo: Path, version: str) -> None:
    for name, pattern, line in (
        (INIT_FILE, PACKAGE_VERSION, f'__version__ = "{version}"'),
        (PYPROJECT, PROJECT_VERSION, f'version = "{version}"'),
    ):
        path = repo / name
        text, count = pattern.subn(line, path.read_text(encoding="utf-8"), count=1)
        if count != 1:
            raise ReleaseError(f"no version line in {name} to bump")
        path.write_text(text, encoding="utf-8")
    git(repo, "commit", "--quiet", "-m", f"version {version}", "--", INIT_FILE, PYPROJECT)


def _check_head(repo: Path, generate: list[str], env: dict[str, str]) -> None:
    sha = git(repo, "rev-parse", "HEAD")
    problems = check_commit(repo, sha)
    check = subprocess.run(
        [*generate, "--check"], cwd=repo, env=env, capture_output=True, text=True, check=False
    )
    if check.returncode != 0:
        problems.append(f"generated files are out of date: {check.stderr.strip()}")
    if problems:
        raise ReleaseError(f"{sha[:7]} cannot be released:\n  " + "\n  ".join(problems))


def release(repo: Path, version: str, *, bump: bool = False) -> tuple[str, str]:
    """Tag the release commit and commit the pin; returns (release commit, pin commit)."""
    version = version.removeprefix("v")
    if not VERSION.fullmatch(version):
        raise ReleaseError(f"version {version!r} is not X.Y.Z")
    tag = f"v{version}"
    if git(repo, "status", "--porcelain"):
        raise ReleaseError(f"{repo} has uncommitted or untracked files; release from a clean tree")
    if git(repo, "rev-parse", "-q", "--verify", f"refs/tags/{tag}", check=False):
        raise ReleaseError(f"tag {tag} already exists")
    current = RELEASE_LINE.search(git(repo, "show", f"HEAD:{RELEASE_FILE}"))
    if current is None:
        raise ReleaseError(f"no `RELEASE = Release(...)` line in {RELEASE_FILE}")
    if current.group(1) and _key(version) < _key(current.group(1)):
        # equal is allowed: re-pinning a release whose tag was never made (checked above)
        raise ReleaseError(f"{tag} is older than the current release v{current.group(1)}")
    if _version_at(repo, "HEAD") != version and not bump:
        raise ReleaseError(
            f"HEAD's package says version {_version_at(repo, 'HEAD')!r}, not {version!r}; "
            "land the version bump first, or pass --bump to commit it here"
        )
    generate = [sys.executable, str(repo / "scripts" / "generate_actions.py")]
    env = _step_env(repo / "src")
    _check_head(repo, generate, env)
    if _version_at(repo, "HEAD") != version:
        _bump(repo, version)
        _check_head(repo, generate, env)  # the bump changed two version lines; check what is tagged
    sha = git(repo, "rev-parse", "HEAD")

    release_path = repo / RELEASE_FILE
    release_path.write_text(
        RELEASE_LINE.sub(
            f'RELEASE = Release(version="{version}", commit="{sha}")',
            release_path.read_text(encoding="utf-8"),
            count=1,
        ),
        encoding="utf-8",
    )
    subprocess.run(generate, cwd=repo, env=env, check=True)
    changed = sorted(
        {*git(repo, "diff", "--name-only").splitlines()}
        | {*git(repo, "ls-files", "--others", "--exclude-standard").splitlines()}
    )
    unexpected = [p for p in changed if p != RELEASE_FILE and not re.fullmatch(r"workflows/.+", p)]
    if unexpected:
        raise ReleaseError(f"pinning would change more than the pin: {', '.join(unexpected)}")
    git(repo, "tag", "-a", tag, "-m", f"mlops-actions {version}", sha)
    try:
        git(repo, "add", "--", *changed)
        git(repo, "commit", "--quiet", "-m", f"release {tag}: pin {sha}", "--", *changed)
    except ReleaseError:
        git(repo, "tag", "-d", tag)
        raise
    return sha, git(repo, "rev-parse", "HEAD")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", help="X.Y.Z (a leading v is accepted)")
    parser.add_argument(
        "--bump",
        action="store_true",
        help="commit the version in pyproject.toml and the package first, as the release commit",
    )
    args = parser.parse_args(argv)
    try:
        sha, pin = release(ROOT, args.version, bump=args.bump)
    except ReleaseError as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 2
    tag = f"v{args.version.removeprefix('v')}"
    print(f"tagged {tag} at {sha}; pinned it in {pin}")
    print(f"publish both: git push --atomic origin HEAD:main {tag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
