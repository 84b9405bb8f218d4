"""Step 5, register: the compared candidate becomes a version with alias `challenger`; later a
promotion moves `champion` to it (and a rollback moves it back).

Registration is gated by the verdict `compare-champion` wrote on the candidate's run: it refuses a
candidate whose latest comparison said no, was never compared, or was compared against a champion
that has changed since, unless forced; a forced registration records who forced it and why.
The version carries the run's lineage tags (`mlops.*`), the run id, the verdict and the metrics.
Registering the same candidate again returns the same version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mlops_actions.errors import InputError

if TYPE_CHECKING:
    from mlops_actions.comparison.verdict import Verdict
    from mlops_actions.config import Settings
    from mlops_actions.registry import ModelRegistry

Action = Literal["registered", "refused", "promoted", "rolled back"]


@dataclass(frozen=True)
class RegisterResult:
    """What `register` did; `refusal` says why nothing was registered."""

    action: Action
    model_name: str
    version: str | None
    previous_champion: str | None
    champion: str | None
    candidate: str | None = None
    run_id: str | None = None
    created: bool = False
    changed: bool = True
    forced: bool = False
    verdict: Verdict | None = None
    refusal: str | None = None


def _registry(settings: Settings, registry: ModelRegistry | None) -> ModelRegistry:
    if registry is not None:
        return registry
    from mlops_actions.registry import ModelRegistry

    return ModelRegistry.from_settings(settings)


def register_candidate(
    settings: Settings,
    candidate: str,
    *,
    force: bool = False,
    force_reason: str | None = None,
    registry: ModelRegistry | None = None,
) -> RegisterResult:
    """Register `candidate` as a version of `model.name` with alias `challenger`, if allowed.

    Raises InputError for an unknown candidate or `force` without a reason; BackendError when the
    registry fails. A refusal is a result with `action == "refused"`.
    """
    from mlops_actions.comparison.candidates import resolve_candidate
    from mlops_actions.comparison.verdict import read_verdict
    from mlops_actions.registry import CHALLENGER

    reason_text = (force_reason or "").strip()
    if force and not reason_text:
        raise InputError(
            "--force needs --force-reason;",
            hint='say why, e.g. --force-reason "hotfix approved by the risk team".',
        )
    registry = _registry(settings, registry)
    name = settings.model.name
    ref = resolve_candidate(registry, candidate)
    if not ref.run_id:
        raise InputError(
            f"candidate {ref.uri} has no MLflow run, so it has no lineage or verdict to register;",
            hint="pass the run id or models:/m-… URI that training logged.",
        )
    verdict = read_verdict(ref.tags)
    champion = registry.champion_version(name)
    refusal = _refusal(verdict, ref.uri, champion)
    if refusal and not force:
        return RegisterResult(
            "refused",
            name,
            None,
            None,
            champion,
            ref.uri,
            ref.run_id,
            verdict=verdict,
            refusal=refusal,
        )

    tags = _version_tags(ref.run_id, ref.tags, verdict, refusal, reason_text)
    registration = registry.register(name, ref.uri, run_id=ref.run_id, tags=tags, alias=CHALLENGER)
    return RegisterResult(
        "registered",
        name,
        registration.version,
        None,
        champion,
        ref.uri,
        ref.run_id,
        created=registration.created,
        changed=registration.created,
        forced=bool(refusal),
        verdict=verdict,
        refusal=refusal,
    )


def _version_tags(
    run_id: str,
    run_tags: Mapping[str, str],
    verdict: Verdict | None,
    refusal: str | None,
    force_reason: str,
) -> dict[str, object]:
    """The tags of the new version: the run's lineage, the run id, the verdict, a forcing."""
    from mlops_actions.comparison.verdict import VERDICT_PREFIX, version_tags
    from mlops_actions.registry import actor

    # The run's own verdict tags are replaced by the verdict as read (or left out without one).
    tags: dict[str, object] = {
        key: value
        for key, value in run_tags.items()
        if key.startswith("mlops.") and not key.startswith(VERDICT_PREFIX)
    }
    tags["mlops.run_id"] = run_id
    if verdict is not None:
        tags.update(version_tags(verdict))
    if refusal:
        tags.update(
            {
                "mlops.register.forced": "true",
                "mlops.register.forced_by": actor(),
                "mlops.register.force_reason": force_reason,
                "mlops.register.forced_over": refusal,
            }
        )
    return tags


def _refusal(verdict: Verdict | None, uri: str, champion: str | None) -> str | None:
    """Why the verdict does not allow registration, or None when it does."""
    if verdict is None:
        return "no comparison is recorded for this candidate (run `mlops compare-champion` first)"
    if verdict.candidate and verdict.candidate != uri:
        return f"the latest comparison on its run was for another model ({verdict.candidate})"
    if not verdict.is_better:
        return f"the latest comparison said no: {verdict.reason}"
    if (verdict.champion_version or None) != champion:
        compared = f"v{verdict.champion_version}" if verdict.champion_version else "no champion"
        now = f"v{champion}" if champion else "none"
        return f"it was compared against {compared}, but the champion is now {now}; compare again"
    return None


def promote_version(
    settings: Settings, version: str, *, registry: ModelRegistry | None = None
) -> RegisterResult:
    """Move alias `champion` of `model.name` to `version`, recording the previous champion."""
    text = str(version).strip()
    if not text.isdigit():
        raise InputError(
            f"--promote {version!r} is not a version number;", hint="e.g. --promote 3."
        )
    registry = _registry(settings, registry)
    promotion = registry.promotion(settings.model.name, text)
    return RegisterResult(
        "promoted",
        settings.model.name,
        promotion.version,
        promotion.previous,
        promotion.version,
        changed=promotion.changed,
    )


def rollback_champion(
    settings: Settings, *, registry: ModelRegistry | None = None
) -> RegisterResult:
    """Move alias `champion` back to the version the current champion replaced."""
    registry = _registry(settings, registry)
    rollback = registry.rollback(settings.model.name)
    return RegisterResult(
        "rolled back",
        settings.model.name,
        rollback.to_version,
        rollback.from_version,
        rollback.to_version,
    )
