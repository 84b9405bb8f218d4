"""Whether a process still lives: for lock owners, routers and workers. Standard library only."""

from __future__ import annotations

import os
from pathlib import Path


def pid_alive(pid: int | None) -> bool:
    """True when a process with this id exists on this host and is not a zombie.

    Another user's process counts as alive (signal 0 is refused, not unknown); without /proc, a
    process that answers signal 0 counts as alive.
    """
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]
