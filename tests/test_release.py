"""The release path: the pinned commit works, the templates pin it, and scripts/release.py."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from mlops_actions.errors import InputError
from mlops_actions.release import (
    RELEASE,
    PinnedRef,
    Release,
    pin_workflow,
    pinned_commit,
    resolve_pin,
)
from tests.conftest import REPO

STUB_COMMIT = "ad40867b0f0b560d7229fcf335e9ccb3f0b7cd37"  # every step a reserved stub (exit 2)
TEMPLATES = REPO / "src" / "mlops_actions" / "templates" / "workflows"
CALLERS = sorted((REPO / "workflows").glob("*.yml"))
GIT_ID = {
    "GIT_AUTHOR_NAME": "release test",
    "GIT_AUTHOR_EMAIL": "release@test.invalid",
    "GIT_COMMITTER_NAME": "release test",
    "GIT_COMMITTER_EMAIL": "release@test.invalid",
}
_USES = re.compile(r"^\s*-?\s*uses:\s*([\w.-]+/[\w.-]+)/\S+@(\S+)\s+#\s*(.+?)\s*$")


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("release_script", REPO / "scripts/release.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


script = _load_script()


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ID}
    proc = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=True
    )
    return proc.stdout.strip()


def _ok(repo: Path, *args: str) -> bool:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)
    return proc.returncode == 0


@pytest.fixture(scope="module")
def history() -> None:
    """The tests below read this repository's history: a shallow checkout cannot answer."""
    if git(REPO, "rev-parse", "--is-shallow-repository") == "true":
        pytest.fail("the release tests need the full history: check out with fetch-depth: 0")


@pytest.fixture(scope="module")
def release_tree(history: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files of the release commit, as `git archive` gives them."""
    tree = tmp_path_factory.mktemp("release-tree")
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", RELEASE.commit], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


# --- the pinned release commit ---------------------------------------------------------------


def test_the_release_commit_is_in_this_repositorys_history(history: None) -> None:
    assert re.fullmatch(r"[0-9a-f]{40}", RELEASE.commit)
    assert re.fullmatch(r"\d+\.\d+\.\d+", RELEASE.version)
    assert _ok(REPO, "cat-file", "-e", f"{RELEASE.commit}^{{commit}}")
    assert _ok(REPO, "merge-base", "--is-ancestor", RELEASE.commit, "HEAD")


def test_every_action_works_at_the_release_commit(history: None) -> None:
    assert script.check_commit(REPO, RELEASE.commit) == []


def test_the_check_catches_a_commit_whose_steps_are_stubs(history: None) -> None:
    problems = script.check_commit(REPO, STUB_COMMIT)
    for step in ("validate-data", "train-azureml", "compare-champion", "canary-deploy"):
        assert any(f"`mlops {step}` at ad40867 exits 2" in p for p in problems), step
    assert any("not available yet" in p for p in problems)
    assert script.check_commit(REPO, "0" * 40) == [f"{'0' * 40} is not a commit of {REPO}"]


def test_a_release_tag_if_present_points_at_the_release_commit(history: None) -> None:
    """CI clones may have no tags; where the tag exists it must be the pinned commit."""
    if not _ok(REPO, "rev-parse", "-q", "--verify", f"refs/tags/{RELEASE.tag}"):
        pytest.skip(f"no tag {RELEASE.tag} in this clone")
    assert git(REPO, "rev-parse", f"{RELEASE.tag}^{{commit}}") == RELEASE.commit
    assert script._version_at(REPO, RELEASE.commit) == RELEASE.version


@pytest.mark.parametrize("path", CALLERS, ids=lambda p: p.name)
def test_caller_templates_pin_the_release_with_its_version(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    uses = [m for line in text.splitlines() if (m := _USES.match(line))]
    assert uses, f"{path} uses no reusable workflow"
    for match in uses:
        assert match.group(2) == RELEASE.commit, match.group(0)
        assert match.group(3) == RELEASE.tag, match.group(0)
    jobs = yaml.safe_load(text)["jobs"].values()
    assert {job["with"]["mlops-actions-ref"] for job in jobs} == {RELEASE.commit}
    template = (TEMPLATES / path.name).read_text(encoding="utf-8")
    assert "@__REF__ # __VERSION__" in template
    assert text == pin_workflow(template, PinnedRef(RELEASE.commit, RELEASE.tag, "release"))


@pytest.mark.parametrize("path", CALLERS, ids=lambda p: p.name)
def test_caller_templates_fit_the_reusable_workflows_at_the_release(
    path: Path, release_tree: Path
) -> None:
    """Inputs and secrets the templates pass must be declared by the pinned reusable workflow."""
    for job in yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"].values():
        workflow = job["uses"].split("@")[0].split("/", 2)[2]
        called = yaml.safe_load((release_tree / workflow).read_text(encoding="utf-8"))
        declared = called[True]["workflow_call"]  # PyYAML reads `on:` as True
        inputs, secrets = declared.get("inputs") or {}, declared.get("secrets") or {}
        assert set(job.get("with") or {}) <= set(inputs), workflow
        assert set(job.get("secrets") or {}) <= set(secrets), workflow
        required = {name for name, spec in inputs.items() if spec.get("required")}
        assert required <= set(job.get("with") or {}), workflow


def test_the_release_reads_what_init_writes(release_tree: Path, tmp_path: Path, mlops) -> None:
    """The pinned actions read the config this package's `mlops init` writes."""
    (tmp_path / "data").mkdir()
    rows = "".join(f"{i % 7}.5,{i % 3},{i % 2}\n" for i in range(40))
    for name in ("train.csv", "holdout.csv"):
        (tmp_path / "data" / name).write_text("x1,x2,target\n" + rows)
    result = mlops("init", str(tmp_path), "--ref", RELEASE.commit, "--model-name", "m")
    assert result.code == 0, result.err

    def check() -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "mlops_actions", "config", "check"]
        env = script._step_env(release_tree / "src")
        return subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True)

    proc = check()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    config = tmp_path / "mlops.yaml"
    config.write_text(config.read_text() + "key_from_the_future: 1\n")  # as a newer init may
    proc = check()
    assert proc.returncode == 2 and "key_from_the_future" in proc.stderr


# --- which commit `mlops init` pins ----------------------------------------------------------

OLD = Release(version="0.2.0", commit="a" * 40)
SHA = "b" * 40


def _direct_url(**vcs: str) -> str:
    return json.dumps(
        {"url": "https://github.com/acme/mlops-fork.git", "vcs_info": {"vcs": "git", **vcs}}
    )


@pytest.mark.parametrize(
    ("vcs", "comment"),
    [
        ({"commit_id": SHA, "requested_revision": "v0.3.0"}, "v0.3.0"),
        ({"commit_id": SHA, "requested_revision": "main"}, "main @ bbbbbbb, unreleased"),
        ({"commit_id": SHA, "requested_revision": SHA}, "unreleased bbbbbbb"),
        ({"commit_id": SHA}, "unreleased bbbbbbb"),
        ({"commit_id": OLD.commit, "requested_revision": "main"}, "v0.2.0"),
    ],
)
def test_a_pip_install_from_git_pins_the_installed_commit(
    vcs: dict[str, str], comment: str
) -> None:
    pin = resolve_pin(
        checkout=None, direct_url=_direct_url(**vcs), installed_version="0.3.0", release=OLD
    )
    assert pin == PinnedRef(vcs["commit_id"], comment, "installed", repository="acme/mlops-fork")


@pytest.mark.parametrize(
    "direct_url",
    [
        None,
        json.dumps({"url": "file:///src/mlops-actions", "dir_info": {"editable": True}}),
        json.dumps({"url": "https://example.org/x.whl", "archive_info": {}}),
        _direct_url(commit_id="short"),
        "not json",
    ],
)
def test_without_a_known_commit_the_release_is_pinned(direct_url: str | None) -> None:
    pin = resolve_pin(checkout=None, direct_url=direct_url, installed_version="0.2.0", release=OLD)
    assert pin == PinnedRef(OLD.commit, "v0.2.0", "release")


def test_pinning_a_release_older_than_the_package_warns_about_config_keys() -> None:
    pin = resolve_pin(checkout=None, direct_url=None, installed_version="0.3.1", release=OLD)
    assert (pin.sha, pin.comment, pin.source) == (OLD.commit, "v0.2.0", "release")
    assert "0.3.1 is installed" in pin.note and "reject mlops.yaml keys" in pin.note


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A clone with one pushed commit on main."""
    origin, work = tmp_path / "origin.git", tmp_path / "work"
    git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(origin))
    git(tmp_path, "clone", "--quiet", str(origin), str(work))
    git(work, "switch", "--quiet", "-c", "main")
    (work / "README").write_text("one\n")
    git(work, "add", "README")
    git(work, "commit", "--quiet", "-m", "one")
    git(work, "push", "--quiet", "origin", "main")
    return work


def test_a_clean_pushed_checkout_pins_its_head_honestly(checkout: Path) -> None:
    head = git(checkout, "rev-parse", "HEAD")
    date = git(checkout, "show", "-s", "--format=%cs", "HEAD")
    pin = resolve_pin(checkout=checkout, direct_url=None, installed_version="0.3.0", release=OLD)
    assert pin == PinnedRef(head, f"main @ {date}", "checkout")

    git(checkout, "tag", "-a", "v0.1.9", "-m", "an older tag", "HEAD")
    (checkout / "README").write_text("two\n")
    git(checkout, "commit", "--quiet", "-am", "two")
    git(checkout, "push", "--quiet", "origin", "main")
    head = git(checkout, "rev-parse", "HEAD")
    pin = resolve_pin(checkout=checkout, direct_url=None, installed_version="0.3.0", release=OLD)
    assert pin == PinnedRef(head, f"main @ {date} (v0.1.9-1-g{head[:7]})", "checkout")

    git(checkout, "tag", "-a", "v0.3.0", "-m", "release", "HEAD")
    pin = resolve_pin(checkout=checkout, direct_url=None, installed_version="0.3.0", release=OLD)
    assert pin == PinnedRef(head, "v0.3.0", "checkout")


def test_a_dirty_or_unpushed_checkout_falls_back_to_the_release(checkout: Path) -> None:
    (checkout / "README").write_text("edited\n")
    pin = resolve_pin(checkout=checkout, direct_url=None, installed_version="0.2.0", release=OLD)
    assert (pin.sha, pin.comment, pin.source) == (OLD.commit, "v0.2.0", "release")
    assert "uncommitted changes" in pin.note

    git(checkout, "commit", "--quiet", "-am", "local only")
    pin = resolve_pin(checkout=checkout, direct_url=None, installed_version="0.2.0", release=OLD)
    assert pin.source == "release" and "on no remote branch" in pin.note

    installed = _direct_url(commit_id=SHA, requested_revision="v0.2.1")
    pin = resolve_pin(
        checkout=checkout, direct_url=installed, installed_version="0.2.1", release=OLD
    )
    assert (pin.sha, pin.comment, pin.source) == (SHA, "v0.2.1", "installed")


def test_a_ref_given_by_the_user_is_pinned_as_given() -> None:
    other = "c" * 40
    assert pinned_commit(other) == PinnedRef(other, "ccccccc, chosen with --ref", "argument")
    assert pinned_commit(RELEASE.commit) == PinnedRef(RELEASE.commit, RELEASE.tag, "argument")
    with pytest.raises(InputError, match="not a full commit SHA"):
        pinned_commit("v1")


def test_pinned_commit_of_this_environment_names_a_real_commit() -> None:
    pin = pinned_commit()
    assert re.fullmatch(r"[0-9a-f]{40}", pin.sha)
    if pin.source == "release":
        assert (pin.sha, pin.comment) == (RELEASE.commit, RELEASE.tag)
    else:
        assert pin.comment == RELEASE.tag or not re.fullmatch(r"v\d+\.\d+\.\d+", pin.comment)


# --- scripts/release.py in a throwaway clone -------------------------------------------------

MINE = [
    "src/mlops_actions/release.py",
    "scripts/release.py",
    "scripts/generate_actions.py",
    *(f"workflows/{p.name}" for p in CALLERS),
]


@pytest.fixture
def clone(history: None, tmp_path: Path) -> Path:
    """A clone of this repository's HEAD, plus this tree's release files committed in it."""
    repo = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", "--no-local", str(REPO), str(repo))
    for name in MINE:
        shutil.copyfile(REPO / name, repo / name)
    if git(repo, "status", "--porcelain"):
        git(repo, "add", "--", *MINE)
        git(repo, "commit", "--quiet", "-m", "the release path under test")
    return repo


def _release(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | GIT_ID
    return subprocess.run(
        [sys.executable, str(repo / "scripts" / "release.py"), *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


@pytest.mark.parametrize(
    ("version", "older"),
    # Both newer than the package's version, so both need --bump (the package is at RELEASE).
    [("0.3.0", "0.2.9"), ("0.2.1", "0.1.9")],
    ids=["next minor", "next patch"],
)
def test_release_script_tags_the_tested_commit_and_pins_it_right_after(
    clone: Path, version: str, older: str
) -> None:
    main_before = (git(REPO, "rev-parse", "HEAD"), git(REPO, "tag", "--list"))
    start = git(clone, "rev-parse", "HEAD")

    refused = _release(clone, version)
    assert refused.returncode == 2 and "pass --bump" in refused.stderr
    assert git(clone, "rev-parse", "HEAD") == start and git(clone, "tag", "--list") == ""

    proc = _release(clone, f"v{version}", "--bump")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sha = git(clone, "rev-parse", "HEAD~1")
    assert git(clone, "cat-file", "-t", f"v{version}") == "tag"  # annotated
    assert git(clone, "rev-parse", f"v{version}^{{commit}}") == sha
    assert git(clone, "log", "-1", "--format=%s", "HEAD~1") == f"version {version}"
    assert git(clone, "rev-parse", "HEAD~2") == start
    assert git(clone, "log", "-1", "--format=%s") == f"release v{version}: pin {sha}"
    assert f"tagged v{version} at {sha}" in proc.stdout
    assert script._version_at(clone, f"v{version}") == version
    assert f'version = "{version}"' in git(clone, "show", f"v{version}:pyproject.toml")

    changed = git(clone, "diff", "--name-only", "HEAD~1", "HEAD").splitlines()
    assert sorted(changed) == sorted(
        ["src/mlops_actions/release.py", *(f"workflows/{p.name}" for p in CALLERS)]
    )
    release_py = git(clone, "show", "HEAD:src/mlops_actions/release.py")
    assert f'RELEASE = Release(version="{version}", commit="{sha}")' in release_py
    for path in CALLERS:
        text = git(clone, "show", f"HEAD:workflows/{path.name}")
        assert f"@{sha} # v{version}\n" in text and f"mlops-actions-ref: {sha}\n" in text
        assert RELEASE.commit not in text
    assert git(clone, "status", "--porcelain") == ""
    assert (git(REPO, "rev-parse", "HEAD"), git(REPO, "tag", "--list")) == main_before

    again = _release(clone, version)
    assert again.returncode == 2 and f"tag v{version} already exists" in again.stderr
    backwards = _release(clone, older, "--bump")
    assert backwards.returncode == 2
    assert f"older than the current release v{version}" in backwards.stderr


def test_release_script_refuses_a_dirty_tree_or_a_broken_commit(clone: Path) -> None:
    (clone / "notes.txt").write_text("scratch\n")
    proc = _release(clone, "0.3.0", "--bump")
    assert proc.returncode == 2 and "uncommitted or untracked" in proc.stderr
    (clone / "notes.txt").unlink()

    # validate-data back to a reserved stub, as every step was at STUB_COMMIT
    (clone / "src/mlops_actions/commands/validate_data.py").write_text(
        "from mlops_actions.commands.base import Command\n"
        "from mlops_actions.errors import NotAvailableError\n\n\n"
        "def _run(ctx):\n"
        '    raise NotAvailableError("`mlops validate-data` is not available yet;", hint="later")'
        "\n\n\n"
        'COMMAND = Command("validate-data", "Validate data", lambda parser: None, _run)\n'
    )
    git(clone, "add", "-A")
    git(clone, "commit", "--quiet", "-m", "validate-data back to a stub")
    head = git(clone, "rev-parse", "HEAD")
    proc = _release(clone, "0.3.0", "--bump")
    assert proc.returncode == 2
    assert "cannot be released" in proc.stderr and "`mlops validate-data`" in proc.stderr
    assert git(clone, "tag", "--list") == ""
    assert git(clone, "rev-parse", "HEAD") == head  # checked before the bump: nothing committed
