"""Where local state and reports live, and how the local MLflow store is kept private."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_actions.config.schema import Settings

STATE_DIR_MODE = 0o700
STORE_FILE_MODE = 0o600


def secure_sqlite_store(uri: str) -> None:
    """Before MLflow opens a local sqlite store: its folder 0700 and the database file 0600.

    MLflow (through SQLite) would create both with the umask (0755/0644), readable by every user
    of the machine, and the store holds params, tags and inputs. A missing folder is made 0700
    and a missing database file 0600 (SQLite gives its journals the file's mode); our own state
    folder `.mlops/` and its database are tightened when they exist. Other URIs: nothing.
    """
    if not uri.startswith("sqlite:///"):
        return
    database = Path(uri[len("sqlite:///") :].split("?", 1)[0])
    if not database.name or str(database) == ":memory:":
        return
    ours = database.parent.name == ".mlops"
    try:
        database.parent.mkdir(mode=STATE_DIR_MODE, parents=True, exist_ok=True)
        if ours:
            database.parent.chmod(STATE_DIR_MODE)
        if not database.exists():
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
            os.close(os.open(database, flags, STORE_FILE_MODE))
        elif ours:
            database.chmod(STORE_FILE_MODE)
    except FileExistsError:
        pass  # created meanwhile by another process: it chose the mode
    except OSError:
        pass  # not ours to change (read-only or another user's): MLflow reports what fails


def default_report_dir(settings: Settings | None) -> Path:
    """Where every step writes its reports unless --report-dir says otherwise."""
    state = settings.state_dir() if settings is not None else Path.cwd() / ".mlops"
    return state / "reports"
