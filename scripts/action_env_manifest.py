"""Manifest of an action environment: what scripts/action-install.sh checks before it reuses one.

    action_env_manifest.py write VENV KEY MANIFEST   # after a build: list every entry, seal it
    action_env_manifest.py check VENV KEY MANIFEST   # before reuse: exit 0 if VENV is unchanged

The manifest lists every entry under VENV, byte-compiled files included (a planted `.pyc` with the
right source timestamp runs as surely as a `.py`): regular files by sha256 and permission bits,
symbolic links by their target (never followed), anything else as such. It lives outside VENV, and
MANIFEST.sha256 holds sha256(KEY, manifest), so a manifest copied from another lock, Python or
trust scope, or cut short, does not match. `check` rebuilds the listing and wants it identical:
a changed, missing or extra file (a new `.pth`, a forged `.complete`) is a mismatch.

Run it with the runner's Python (`python -I -S`), never with the environment's own interpreter,
which is what is being checked. Standard library only.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from pathlib import Path

USAGE = "usage: action_env_manifest.py write|check VENV KEY MANIFEST"


def _entries(root: str, prefix: str = "") -> list[str]:
    lines: list[str] = []
    with os.scandir(root) as scan:
        items = sorted(scan, key=lambda entry: entry.name)
    for entry in items:
        rel = f"{prefix}{entry.name}"
        if "\t" in rel or "\n" in rel:
            lines.append(f"{rel!r}\tbad-name")
            continue
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISLNK(info.st_mode):
            lines.append(f"{rel}\tlink\t{os.readlink(entry.path)}")
        elif stat.S_ISDIR(info.st_mode):
            lines.append(f"{rel}/\tdir\t{stat.S_IMODE(info.st_mode):o}")
            lines.extend(_entries(entry.path, f"{rel}/"))
        elif stat.S_ISREG(info.st_mode):
            with open(entry.path, "rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
            lines.append(f"{rel}\tfile\t{stat.S_IMODE(info.st_mode):o}\t{digest}")
        else:
            lines.append(f"{rel}\tother\t{stat.S_IFMT(info.st_mode):o}")
    return lines


def listing(venv: str) -> str:
    """The manifest text of `venv` as it is now."""
    return "".join(f"{line}\n" for line in _entries(venv))


def seal(key: str, text: str) -> str:
    """The digest that binds a manifest to the environment key."""
    return hashlib.sha256(f"mlops-actions env manifest v1\n{key}\n{text}".encode()).hexdigest()


def write(venv: str, key: str, manifest: Path) -> None:
    text = listing(venv)
    for path, content in ((manifest, text), (Path(f"{manifest}.sha256"), seal(key, text) + "\n")):
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(content, encoding="utf-8")
        os.replace(tmp, path)  # the seal goes last: a manifest without it is no manifest


def check(venv: str, key: str, manifest: Path) -> str | None:
    """None when `venv` matches its sealed manifest, else why not."""
    sealed = Path(f"{manifest}.sha256")
    if not manifest.is_file() or not sealed.is_file():
        return "no sealed manifest (the environment was not built by this script, or not finished)"
    text = manifest.read_text(encoding="utf-8")
    if sealed.read_text(encoding="utf-8").strip() != seal(key, text):
        return "the manifest does not match its seal (edited, cut short, or from another key)"
    if not os.path.isdir(venv):
        return "the environment is missing"
    now = listing(venv)
    if now == text:
        return None
    old = {line.split("\t", 1)[0]: line for line in text.splitlines()}
    new = {line.split("\t", 1)[0]: line for line in now.splitlines()}
    changed = sorted(p for p in old.keys() & new.keys() if old[p] != new[p])
    extra = sorted(new.keys() - old.keys())
    missing = sorted(old.keys() - new.keys())
    parts = [
        f"{label} {len(paths)} ({', '.join(paths[:3])}{', …' if len(paths) > 3 else ''})"
        for label, paths in (("changed", changed), ("extra", extra), ("missing", missing))
        if paths
    ]
    return "files differ from the manifest: " + "; ".join(parts)


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[0] not in ("write", "check"):
        print(USAGE, file=sys.stderr)
        return 2
    command, venv, key, manifest = argv[0], argv[1], argv[2], Path(argv[3])
    if command == "write":
        write(venv, key, manifest)
        return 0
    problem = check(venv, key, manifest)
    if problem is None:
        return 0
    print(problem)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
