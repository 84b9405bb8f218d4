"""Which commit of mlops-actions a consumer's workflows pin, and the comment that names it.

A commit cannot contain its own SHA, so a release takes two commits: the release commit (tagged
`vX.Y.Z`; CI tested it) and, right after it, the pin commit that writes `RELEASE` below and the
caller templates in workflows/*.yml pinned to the release commit (`scripts/release.py VERSION`
makes both). `RELEASE` therefore always names an earlier commit whose actions all work.

`mlops init` pins `pinned_commit()`: the exact commit the running package came from when it can
tell (a clean checkout whose HEAD is on a remote branch, or `pip install git+…@REF`), else
`RELEASE`. The installed commit is preferred because the pinned actions read the mlops.yaml that
`mlops init` writes, and an older commit rejects keys it does not know yet.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

ACTION_REPOSITORY = "mlops-actions/mlops-actions"

SHA = re.compile(r"[0-9a-f]{40}")
VERSION = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")


@dataclass(frozen=True)
class Release:
    """A tagged release: `version` X.Y.Z and the full SHA of the commit tagged `v<version>`."""

    version: str
    commit: str

    @property
    def tag(self) -> str:
        return f"v{self.version}"


# Written by scripts/release.py; do not edit by hand.
RELEASE = Release(version="0.2.0", commit="adb00eb59f36ebcdf49ece0c1927571f9f3190fc")
PINNED_REF = RELEASE.commit

Source = Literal["argument", "checkout", "installed", "release"]


@dataclass(frozen=True)
class PinnedRef:
    """A commit to pin in `uses: REPOSITORY/…@SHA # COMMENT` and `mlops-actions-ref: SHA`.

    `comment` names a real version (`v0.2.0`) only when `sha` is that release; for any other
    commit it says what it is (`main @ 2026-12-02 (v0.2.0-3-g1a2b3c4)`, `unreleased 1a2b3c4`).
    `source` tells where the SHA came from; `note`, when set, is worth showing to the user
    (why the release was pinned instead of the installed commit, or a compatibility warning).
    """

    sha: str
    comment: str
    source: Source
    repository: str = ACTION_REPOSITORY
    note: str = ""


def pinned_commit(ref: str | None = None) -> PinnedRef:
    """What `mlops init` pins: `ref` (`--ref`) if given, else the installed commit, else RELEASE.

    Raises InputError when `ref` is not a full commit SHA.
    """
    from mlops_actions import __version__

    if ref is not None:
        if not SHA.fullmatch(ref):
            from mlops_actions.errors import InputError

            raise InputError(
                f"--ref {ref!r} is not a full commit SHA;",
                hint="pass --ref with the 40-character SHA of the mlops-actions release you adopt.",
            )
        comment = RELEASE.tag if ref == RELEASE.commit else f"{ref[:7]}, chosen with --ref"
        return PinnedRef(ref, comment, "argument")
    return resolve_pin(
        checkout=_package_checkout(), direct_url=_direct_url(), installed_version=__version__
    )


def resolve_pin(
    *,
    checkout: Path | None,
    direct_url: str | None,
    installed_version: str,
    release: Release = RELEASE,
) -> PinnedRef:
    """Pick the pin: a clean, pushed `checkout`; else pip's `direct_url` record; else `release`.

    `checkout` is the root of the mlops-actions git checkout the package runs from (if any);
    `direct_url` the text of the distribution's direct_url.json (PEP 610), if any.
    """
    reason = ""
    if checkout is not None:
        pin_or_reason = _from_checkout(checkout, release)
        if isinstance(pin_or_reason, PinnedRef):
            return pin_or_reason
        reason = pin_or_reason
    if direct_url is not None:
        pin = _from_direct_url(direct_url, release)
        if pin is not None:
            return pin
    notes = [reason] if reason else []
    if installed_version != release.version:
        notes.append(
            f"mlops-actions {installed_version} is installed but the workflows pin release "
            f"{release.tag}: its actions reject mlops.yaml keys added after it; install "
            f"mlops-actions from {release.tag} or pass --ref with the commit you installed"
        )
    return PinnedRef(release.commit, release.tag, "release", note="; ".join(notes))


def _git(root: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _from_checkout(root: Path, release: Release) -> PinnedRef | str:
    """HEAD of the checkout when GitHub can serve exactly it; else why not."""
    sha = _git(root, "rev-parse", "--verify", "HEAD^{commit}")
    if sha is None or not SHA.fullmatch(sha):
        return f"{root} is not a git checkout with a commit"
    status = _git(root, "status", "--porcelain")
    if status is None or status:
        return f"the checkout {root} has uncommitted changes, so no commit holds the code in use"
    branches = _git(
        root, "for-each-ref", "--contains", sha, "--format=%(refname:lstrip=3)", "refs/remotes"
    )
    names = [b for b in (branches or "").splitlines() if b and b != "HEAD"]
    if not names:
        return f"commit {sha[:7]} of {root} is on no remote branch (not pushed)"
    if sha == release.commit:
        return PinnedRef(sha, release.tag, "checkout")
    tags = (_git(root, "tag", "--points-at", sha) or "").splitlines()
    released = sorted(t for t in tags if t.startswith("v") and VERSION.fullmatch(t[1:]))
    if released:
        return PinnedRef(sha, released[-1], "checkout")
    branch = next((b for b in ("main", "master") if b in names), names[0])
    comment = f"{branch} @ {_git(root, 'show', '-s', '--format=%cs', sha)}"
    described = _git(root, "describe", "--tags", "--match", "v[0-9]*", "--abbrev=7", sha)
    if described:
        comment += f" ({described})"
    return PinnedRef(sha, comment, "checkout")


_GITHUB_URL = re.compile(r"github\.com[/:]([\w.-]+/[\w.-]+?)(?:\.git)?/?$")


def _from_direct_url(text: str, release: Release) -> PinnedRef | None:
    """The commit pip installed (`pip install git+https://github.com/OWNER/NAME@REF`)."""
    try:
        record = json.loads(text)
    except ValueError:
        return None
    vcs = record.get("vcs_info") if isinstance(record, dict) else None
    if not isinstance(vcs, dict) or vcs.get("vcs") != "git":
        return None
    sha = vcs.get("commit_id")
    if not isinstance(sha, str) or not SHA.fullmatch(sha):
        return None
    match = _GITHUB_URL.search(str(record.get("url", "")))
    repository = match.group(1) if match else ACTION_REPOSITORY
    requested = str(vcs.get("requested_revision") or "")
    if sha == release.commit:
        comment = release.tag
    elif requested.startswith("v") and VERSION.fullmatch(requested[1:]):
        comment = requested  # pip resolved this tag to exactly this commit
    elif requested and not SHA.fullmatch(requested):
        comment = f"{requested} @ {sha[:7]}, unreleased"
    else:
        comment = f"unreleased {sha[:7]}"
    return PinnedRef(sha, comment, "installed", repository=repository)


def _package_checkout() -> Path | None:
    """The root of the git checkout this package is imported from (editable or PYTHONPATH)."""
    package = Path(__file__).resolve().parent
    root = package.parents[1]
    if package != root / "src" / "mlops_actions" or not (root / ".git").exists():
        return None
    return root


def _direct_url() -> str | None:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        return distribution("mlops-actions").read_text("direct_url.json")
    except PackageNotFoundError:
        return None


def pin_workflow(template: str, pin: PinnedRef) -> str:
    """A caller workflow template (`__REPOSITORY__`, `__REF__`, `__VERSION__`) pinned to `pin`."""
    return (
        template.replace("__REPOSITORY__", pin.repository)
        .replace("__REF__", pin.sha)
        .replace("__VERSION__", pin.comment)
    )
