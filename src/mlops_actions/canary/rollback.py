"""The endings of a rollout: traffic back on the champion (verified), or the new one alone.

Either way the deployment that lost is removed after `deploy.rollback_grace_seconds`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from mlops_actions.backends.endpoint import MirrorTraffic, TrafficSplit
from mlops_actions.errors import BackendError, MlopsError

if TYPE_CHECKING:
    from mlops_actions.canary.rollout import Rollout


def roll_back(rollout: Rollout, reason: str) -> TrafficSplit:
    """Champion back to 100 % and no mirror, read back until it matches; the split set.

    Retries with backoff for `rollout.rollback_verify_seconds`, then raises BackendError (exit 3)
    naming what was last read and `reason`. Afterwards removes the failed deployment after the
    grace (a failure to remove it is a note, not an error).
    """
    started = time.monotonic()
    target = rollout.rollback_target()
    endpoint = rollout.endpoint
    give_up = started + rollout.rollback_verify_seconds
    attempt = 0
    last = "nothing read back yet"
    while True:
        attempt += 1
        try:
            if endpoint.get_mirror() != MirrorTraffic():
                endpoint.set_mirror(MirrorTraffic())
            endpoint.set_traffic(target)
            now, mirror = endpoint.get_traffic(), endpoint.get_mirror()
            if now == target and mirror == MirrorTraffic():
                break
            last = f"traffic {now}, mirror {mirror}"
        except MlopsError as exc:
            last = str(exc)
        if time.monotonic() >= give_up:
            raise BackendError(
                f"ROLLBACK NOT VERIFIED after {attempt} attempts in "
                f"{time.monotonic() - started:.0f} s: wanted {target} and no mirror, "
                f"last read: {last}. The rollout failed because: {reason};",
                hint=f"the endpoint is in an unknown state: check "
                f"{endpoint.inspect_hint} and set traffic by hand.",
            )
        time.sleep(min(2.0, 0.1 * 2**attempt))
    rollout.record("rollback", "passed", f"verified after {attempt} attempt(s)", started, target)
    remove(rollout, rollout.name, keep=rollout.champion)
    return target


def finish(rollout: Rollout) -> TrafficSplit:
    """After promotion: the new deployment alone, verified; the old one removed.

    Raises RolloutFailed when the endpoint does not apply the split.
    """
    split = TrafficSplit.only(rollout.name)
    rollout.route(split)
    if rollout.champion is not None:
        remove(rollout, rollout.champion, keep=rollout.name)
    return split


def remove(rollout: Rollout, name: str, *, keep: str | None) -> None:
    """Delete deployment `name` (unless it is `keep`) after the grace; failures become notes."""
    if name == keep or name is None:
        return
    grace = rollout.deploy.rollback_grace_seconds
    if grace > 0:
        time.sleep(grace)
    try:
        if rollout.endpoint.get_deployment(name) is not None:
            rollout.endpoint.delete_deployment(name)
            rollout.notes.append(f"removed deployment {name}")
    except MlopsError as exc:
        rollout.notes.append(f"could not remove deployment {name}: {exc}")
