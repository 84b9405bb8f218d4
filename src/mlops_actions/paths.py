"""Paths as a reader sees them, and report files written all or with one clear error."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from mlops_actions.errors import InputError


def shown_path(path: Path) -> str:
    """`path` relative to the working directory when inside it (as a workflow sees it)."""
    try:
        relative = Path(os.path.relpath(path.resolve(), Path.cwd())).as_posix()
    except ValueError:  # another drive on Windows
        return str(path)
    return str(path) if relative.startswith("..") else relative


def write_files(folder: Path, files: Mapping[str, str], *, hint: str) -> dict[str, Path]:
    """Write each `name: text` of `files` into `folder` (created), as UTF-8; their paths.

    Overwrites files of the same names. Raises InputError naming the file that could not be
    written, with `hint` (which flag chooses the folder).
    """
    written: dict[str, Path] = {}
    target = folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            target = folder / name
            target.write_text(text, encoding="utf-8")
            written[name] = target
    except OSError as exc:
        raise InputError(f"cannot write {target}: {exc.strerror};", hint=hint) from None
    return written
