"""The retraining trigger that drift-report and performance-report share: its flags, the GitHub
run (dispatch the training workflow, keep the model's tracking issue) and its summary lines."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mlops_actions.commands.options import one_of, setting_flag, text
from mlops_actions.errors import InputError

if TYPE_CHECKING:
    from mlops_actions.config import Settings
    from mlops_actions.github.tracking import RetrainTrigger, Signal

ON_PROBLEM = ("none", "issue", "dispatch")
OUTPUTS = (
    ("retrain-dispatched", "true when the training workflow was dispatched"),
    ("tracking-issue", "URL of the model's tracking issue, when one is open or was closed"),
)
"""The outputs a trigger adds to the command's."""


def add_retraining(group: argparse._ArgumentGroup, *, problem: str, fail_help: str) -> None:
    """`--fail-on-<problem>`, `--on-<problem>` and `--retrain-workflow`: the gate and the trigger.

    `--retrain-workflow` overrides monitor.retrain_workflow.
    """
    group.add_argument(f"--fail-on-{problem}", action="store_true", help=fail_help)
    group.add_argument(
        f"--on-{problem}",
        type=one_of(ON_PROBLEM),
        metavar="{none,issue,dispatch}",
        help="On GitHub: 'dispatch' the training workflow and update the model's tracking "
        "issue, or only the 'issue' (default: none).",
    )
    setting_flag(
        group,
        "--retrain-workflow",
        "monitor.retrain_workflow",
        type=text,
        metavar="FILE",
        help="Workflow to dispatch.",
    )


def retrain_trigger(
    settings: Settings | None,
    *,
    signal: Signal,
    problem: bool,
    reason: str,
    section: str,
    dispatch: bool,
) -> RetrainTrigger:
    """Run the GitHub retraining trigger for one signal (see github.tracking).

    Raises InputError without mlops.yaml (it names the model and its training workflow).
    """
    from mlops_actions.github.tracking import report_signal

    if settings is None:
        raise InputError(
            "the retraining trigger needs mlops.yaml (the model name and its training workflow);",
            hint="pass --config, or drop --on-drift/--on-degradation.",
        )
    return report_signal(
        model=settings.model.name,
        signal=signal,
        problem=problem,
        reason=reason,
        section=section,
        workflow=settings.monitor.retrain_workflow,
        dispatch=dispatch,
    )


def trigger_summary(trigger: RetrainTrigger) -> str:
    """Markdown lines that say what the trigger did ("" when it did nothing to tell)."""
    from mlops_actions.reports.markdown import escape

    lines = []
    if trigger.skipped:
        lines.append(f"Retraining trigger skipped: {escape(trigger.skipped)}.")
    if trigger.dispatch is not None:
        lines.append(
            f"Retraining dispatched: `{escape(trigger.dispatch.workflow)}` on "
            f"`{escape(trigger.dispatch.ref)}`."
        )
    if trigger.issue is not None:
        lines.append(
            f"Tracking issue #{trigger.issue.number} {trigger.issue.action}: {trigger.issue.url}"
        )
    for note in trigger.notes:
        lines.append(f"Note: {escape(note)}.")
    return ("\n" + "\n\n".join(lines) + "\n") if lines else ""
