"""`mlops register`: register the compared candidate (alias `challenger`), or move `champion`.

`--candidate X` registers X as a new version of `model.name` when its latest comparison said yes
(exit 1 when it refuses; `--force --force-reason WHY` overrides and is recorded). `--promote
VERSION` moves `champion` to VERSION and records the previous champion; `--rollback` moves it back.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mlops_actions.commands.base import Command, Context
from mlops_actions.errors import InputError
from mlops_actions.results import StepResult

if TYPE_CHECKING:
    from mlops_actions.steps.register import RegisterResult


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_mutually_exclusive_group()
    what.add_argument(
        "--candidate",
        metavar="MODEL_URI|RUN_ID",
        help="Register this compared candidate as a new version with alias challenger.",
    )
    what.add_argument(
        "--promote",
        metavar="VERSION",
        help="Move alias champion to VERSION (records the previous champion).",
    )
    what.add_argument(
        "--rollback",
        action="store_true",
        help="Move alias champion back to the version the current champion replaced.",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="Register even though the comparison said no (needs --force-reason; recorded).",
    )
    parser.add_argument("--force-reason", metavar="TEXT", help="Why --force is used (recorded).")


def _run(ctx: Context) -> StepResult:
    from mlops_actions.steps.register import (
        promote_version,
        register_candidate,
        rollback_champion,
    )

    args = ctx.args
    if args.force and not args.candidate:
        raise InputError("--force only applies to --candidate;", hint="drop --force.")
    settings = ctx.settings()
    if args.candidate:
        result = register_candidate(
            settings, args.candidate, force=args.force, force_reason=args.force_reason
        )
    elif args.promote:
        result = promote_version(settings, args.promote)
    elif args.rollback:
        result = rollback_champion(settings)
    else:
        raise InputError(
            "nothing to do;",
            hint="pass --candidate MODEL_URI|RUN_ID, --promote VERSION or --rollback.",
        )
    return _result(result)


def _result(result: RegisterResult) -> StepResult:
    from mlops_actions.reports.register import render_register

    outputs: dict[str, object] = {
        "model-version": result.version or "",
        "previous-champion": result.previous_champion or "",
        "champion-version": result.champion or "",
        "model-uri": f"models:/{result.model_name}/{result.version}" if result.version else "",
        "action": result.action,
        "forced": result.forced,
    }
    return StepResult(
        "register",
        outputs,
        passed=result.action != "refused",
        message=_message(result),
        summary=render_register(result),
    )


def _message(result: RegisterResult) -> str:
    """One line saying what `register` did (or why it refused)."""
    from mlops_actions.reports.register import registered_state

    if result.action == "refused":
        return f"register refused {result.candidate}: {result.refusal}"
    if result.action == "registered":
        return (
            f"{result.model_name} v{result.version}: {registered_state(result)}, alias challenger"
            + (" (forced)" if result.forced else "")
        )
    if result.action == "promoted":
        return f"{result.model_name}: champion is v{result.version}" + (
            f" (was v{result.previous_champion})" if result.previous_champion else ""
        )
    return (
        f"{result.model_name}: champion rolled back from v{result.previous_champion} "
        f"to v{result.version}"
    )


COMMAND = Command(
    "register",
    "Register the candidate with alias challenger",
    _add_arguments,
    _run,
    outputs=(
        ("model-version", "the registered (or promoted) version"),
        ("previous-champion", "the version that held alias champion before, if any"),
        ("champion-version", "the version holding alias champion afterwards"),
        ("model-uri", "models:/NAME/VERSION of the version"),
        ("action", "registered, refused, promoted or rolled back"),
        ("forced", "true when --force overrode a negative comparison"),
    ),
    description="Register the compared candidate as a new version with alias challenger "
    "(refused when its comparison said no, unless --force), or move alias champion with "
    "--promote VERSION / --rollback.",
)
