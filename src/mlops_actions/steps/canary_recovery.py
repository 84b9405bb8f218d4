"""Finding a rollout that was killed midway, and putting the endpoint back in a safe state.

A `kill -9` (a cancelled runner, a lost machine) leaves whatever the rollout had reached: a
50/50 split on a deployment nobody analyses any more, a mirror, a new deployment at 0 %, or an
old one that was never retired. The registry's champion alias says which side won: the alias
moves only after the new version passed every traffic step, so

- traffic goes to 100 % on the champion's deployment (back to the old champion when the alias had
  not moved, or on to the new one when it had: the promotion is finished),
- the mirror is switched off,
- every other deployment of the endpoint is removed (failed, half-rolled-out or retired ones).

`canary-deploy` runs this before every rollout, and `canary-deploy --recover` runs it alone.
Idempotent: on a clean endpoint it changes nothing and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlops_actions.backends.endpoint import MirrorTraffic, TrafficSplit
from mlops_actions.errors import BackendError

if TYPE_CHECKING:
    from mlops_actions.backends.endpoint import Endpoint
    from mlops_actions.registry import ModelRegistry


@dataclass(frozen=True)
class Recovery:
    """What an interrupted rollout left, and what was done about it."""

    champion_version: str | None
    champion_deployment: str | None
    traffic_before: dict[str, int]
    traffic_after: dict[str, int]
    removed: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def changed(self) -> bool:
        return (
            bool(self.removed)
            or self.traffic_before != self.traffic_after
            or any(n.startswith("mirror") for n in self.notes)
        )

    def describe(self) -> str:
        if not self.changed:
            return "no interrupted rollout: the endpoint serves the champion only"
        parts = []
        if self.traffic_before != self.traffic_after:
            parts.append(f"traffic {_split(self.traffic_before)} → {_split(self.traffic_after)}")
        parts += [n for n in self.notes if n.startswith("mirror")]
        if self.removed:
            parts.append(f"removed {', '.join(self.removed)}")
        return "recovered an interrupted rollout: " + "; ".join(parts)


def recover(endpoint: Endpoint, registry: ModelRegistry, model: str) -> Recovery:
    """Restore a safe state after an interrupted rollout of `model` (see the module docstring).

    Blocking; reads traffic back after changing it. Without a champion (an interrupted first
    rollout) only the mirror and deployments without traffic are cleaned up. Raises BackendError
    when the endpoint does not apply the restored traffic.
    """
    from mlops_actions.backends.endpoint import deployment_name

    version = registry.champion_version(model)
    before = endpoint.get_traffic()
    notes: list[str] = []
    if endpoint.get_mirror() != MirrorTraffic():
        endpoint.set_mirror(MirrorTraffic())
        notes.append("mirror switched off")
    names = [d.name for d in endpoint.list_deployments()]
    champion = deployment_name(model, version) if version is not None else None
    if champion is not None and champion not in names:
        notes.append(f"the champion's deployment {champion} is missing: traffic left as it is")
        champion = None
    after = before
    if champion is not None:
        target = TrafficSplit.only(champion)
        if before != target:
            endpoint.set_traffic(target)
            after = endpoint.get_traffic()
            if after != target:
                raise BackendError(
                    f"recovering the endpoint: it routes {after} after being told {target};",
                    hint=f"check {endpoint.inspect_hint} and set traffic by hand.",
                )
        keep = {champion}
    else:
        keep = {name for name, percent in before.weights.items() if percent > 0}
    removed = []
    for name in names:
        if name not in keep:
            endpoint.delete_deployment(name)
            removed.append(name)
    return Recovery(
        champion_version=version,
        champion_deployment=champion,
        traffic_before=before.as_dict(),
        traffic_after=after.as_dict(),
        removed=tuple(removed),
        notes=tuple(notes),
    )


def _split(traffic: dict[str, int]) -> str:
    return ", ".join(f"{k} {v} %" for k, v in sorted(traffic.items())) or "none"
