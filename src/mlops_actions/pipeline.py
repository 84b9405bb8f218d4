"""`mlops pipeline run`: the eight steps in order with the local backends.

This version knows the order and which steps are built; it validates the config and reports the
steps that are not available yet instead of running them.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlops_actions.config import Settings

STEPS: tuple[str, ...] = (
    "validate-data",
    "train-azureml",
    "compare-champion",
    "register",
    "approval",
    "canary-deploy",
    "smoke-test",
)


@dataclass(frozen=True)
class StepStatus:
    """Where one step of a pipeline run ended."""

    step: str
    state: str  # "done", "failed", "skipped", "not available"
    detail: str


def available_steps() -> set[str]:
    """Steps that this version can run (reserved commands accept anything and say so)."""
    from mlops_actions.commands import all_commands

    reserved = {c.name for c in all_commands() if c.accepts_unknown}
    return {s for s in STEPS if s not in reserved and s != "approval"}


def run_pipeline(settings: Settings, *, approve: bool) -> list[StepStatus]:
    """Run the steps in order; stops at the first step that fails or is not available."""
    ready = available_steps()
    statuses: list[StepStatus] = []
    stopped = False
    for step in STEPS:
        if stopped:
            statuses.append(StepStatus(step, "skipped", "an earlier step did not complete"))
        elif step == "approval":
            statuses.append(
                StepStatus(step, "skipped", "nothing to approve yet" if not approve else "approved")
            )
        elif step not in ready:
            statuses.append(StepStatus(step, "not available", "arrives in a later version"))
            stopped = True
    return statuses
