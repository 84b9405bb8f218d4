"""Where the local endpoint keeps its files, and the state file that survives between CLI calls.

```
<config dir>/.mlops/endpoint/
├── state.json          router pid, port, deployments, traffic, mirror (atomically replaced)
├── admin.token         the admin API's bearer token, new at every start of the router
├── router.log          the router's own log
├── predictions.jsonl   every prediction, appended before the answer is sent
└── logs/<deployment>.log   each deployment's process output
```
These hold model inputs, environment variables and the admin token: the directories are 0700
and the files 0600 (`secure` tightens what an older version left wider).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_actions.processes import pid_alive

STATE_VERSION = 1


@dataclass(frozen=True)
class Paths:
    root: Path

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def admin_token(self) -> Path:
        return self.root / "admin.token"

    @property
    def router_log(self) -> Path:
        return self.root / "router.log"

    @property
    def predictions(self) -> Path:
        return self.root / "predictions.jsonl"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def lock(self) -> Path:
        return self.root / "up.lock"

    def deployment_log(self, name: str) -> Path:
        return self.logs / f"{name}.log"


DIR_MODE = 0o700
FILE_MODE = 0o600


def secure(paths: Paths) -> None:
    """Create the state directories 0700 and make them and every file in them private."""
    for directory in (paths.root, paths.logs):
        directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        _chmod(directory, DIR_MODE)
        for entry in os.scandir(directory):
            if entry.is_file(follow_symlinks=False):
                _chmod(Path(entry.path), FILE_MODE)


def _chmod(path: Path, mode: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        if stat.S_IMODE(path.lstat().st_mode) != mode:
            os.chmod(path, mode)


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_APPEND) -> int:
    """`os.open` of a file that only its owner may read, even when it existed before."""
    fd = os.open(path, flags, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return fd


def new_admin_token(paths: Paths) -> str:
    """A fresh random admin token, written 0600 (atomically) for this user's clients."""
    token = secrets.token_urlsafe(32)
    paths.root.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".token-", dir=paths.root)  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(token + "\n")
        os.replace(tmp, paths.admin_token)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return token


def read_admin_token(paths: Paths) -> str | None:
    try:
        return paths.admin_token.read_text(encoding="ascii").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def read_state(paths: Paths) -> dict[str, Any]:
    """The state file as a dict; empty when it does not exist or cannot be parsed."""
    try:
        data = json.loads(paths.state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_state(paths: Paths, state: dict[str, Any]) -> None:
    """Replace the state file atomically: readers see the old or the new file, never a mix."""
    paths.root.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    state = {"version": STATE_VERSION, **state}
    fd, tmp = tempfile.mkstemp(prefix=".state-", suffix=".json", dir=paths.root)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, paths.state)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def process_runs_module(pid: int, *names: str) -> bool:
    """True when process `pid`'s command line mentions one of `names` (guards a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return pid_alive(pid)  # no /proc (macOS): trust the pid
    return any(name.encode() in cmdline for name in names)


def tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log file ('' when missing)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 16_384))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
