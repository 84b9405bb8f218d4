"""The register step's job summary: what happened to the version and the champion pointer.

A refusal says why and how to force it (`templates/summaries/register_refused.md`); a
registration, promotion or rollback is a heading and a table (`templates/summaries/register.md`).
Every user-controlled value (model name, URIs, reasons) is escaped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_actions.reports.markdown import escape, table
from mlops_actions.reports.templates import render

if TYPE_CHECKING:
    from mlops_actions.steps.register import RegisterResult


def render_register(result: RegisterResult) -> str:
    """The Markdown summary of one `register` result."""
    model = escape(result.model_name)
    if result.action == "refused":
        return render("register_refused", model=model, refusal=escape(result.refusal, max_len=1500))
    if result.action == "registered":
        icon = "⚠️" if result.forced else "✅"
    elif result.action == "promoted":
        icon = "✅"
    else:
        icon = "↩️"
    return render(
        "register",
        icon=icon,
        model=model,
        action=result.action,
        table=table(["", "value"], _rows(result)),
    )


def registered_state(result: RegisterResult) -> str:
    """Whether a registration made a new version or found the candidate registered already."""
    return "new version" if result.created else "already registered, unchanged"


def _rows(result: RegisterResult) -> list[tuple[str, str]]:
    if result.action == "registered":
        rows = [
            ("version", f"{result.version} ({registered_state(result)})"),
            ("alias", "challenger"),
            ("candidate", result.candidate or ""),
            ("run", result.run_id or ""),
            ("champion now", result.champion or "none"),
        ]
        if result.forced:
            rows.append(("forced over", result.refusal or ""))
        return rows
    if result.action == "promoted":
        return [
            ("champion", result.version or ""),
            ("previous champion", result.previous_champion or "none"),
            ("changed", "yes" if result.changed else "no, already champion"),
        ]
    return [
        ("champion", result.version or ""),
        ("rolled back from", result.previous_champion or ""),
    ]
