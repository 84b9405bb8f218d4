"""The whole rollout: the phases of `deploy.strategy` in order, then promotion or a rollback.

`run_rollout` is the one place that decides what happens after a failure: whatever stops a
phase (a failed check, SIGTERM/SIGINT, a backend error, a bug) ends in `rollback.roll_back`, with
signals deferred, so traffic is never left split (see `canary.rollout.Rollout`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_actions.canary import phases, shadow
from mlops_actions.canary.results import Aborted, CanaryResult, RolloutFailed
from mlops_actions.canary.rollback import finish, roll_back
from mlops_actions.canary.signals import abort_on_sigterm, signals_deferred
from mlops_actions.errors import MlopsError

if TYPE_CHECKING:
    from mlops_actions.canary.rollout import Rollout


def run_rollout(rollout: Rollout) -> CanaryResult:
    """Every phase, then promotion; on any failure a verified rollback (see the class)."""
    try:
        with abort_on_sigterm():
            previous = _advance(rollout)
    except RolloutFailed as failure:
        reason = failure.reason
    except (Aborted, KeyboardInterrupt) as stop:
        reason = f"aborted by {stop or 'SIGINT'} during the rollout"
    except MlopsError as exc:
        reason = f"the rollout failed: {exc}"
    except Exception as exc:
        with signals_deferred():
            roll_back(rollout, f"internal error: {exc!r}")
        raise
    else:
        return _promoted(rollout, previous)
    with signals_deferred():
        final = roll_back(rollout, reason)
    return rollout.result("rolled-back", reason, final)


def _advance(rollout: Rollout) -> str | None:
    """The phases of `deploy.strategy`, then promotion; the previous champion version."""
    phases.create(rollout)
    phases.smoke_test(rollout)
    strategy = rollout.deploy.strategy
    if strategy == "shadow":
        shadow.shadow_phase(rollout)
        phases.traffic_steps(rollout)
    elif strategy == "canary":
        phases.traffic_steps(rollout)
    elif strategy == "blue-green":
        phases.all_at_once(rollout, analyse=True)
    else:
        phases.all_at_once(rollout, analyse=False)
    return phases.promote(rollout)


def _promoted(rollout: Rollout, previous: str | None) -> CanaryResult:
    who = f" (was v{previous})" if previous else ""
    try:
        final = finish(rollout)
    except (RolloutFailed, MlopsError) as exc:
        # The registry already names the new version and it already had all traffic:
        # report what the endpoint routes by now rather than undo a promotion.
        rollout.notes.append(f"after promotion: {exc}")
        final = rollout.endpoint.get_traffic()
    return rollout.result("promoted", f"version {rollout.version} is champion{who}", final)
