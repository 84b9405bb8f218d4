"""Commands whose steps are not part of this version yet: they say so and exit 2."""

from __future__ import annotations

import argparse

from mlops_actions.commands.base import Command, Context
from mlops_actions.errors import NotAvailableError
from mlops_actions.results import StepResult


def pending(name: str, help_text: str, aliases: tuple[str, ...] = ()) -> Command:
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("rest", nargs="*", help=argparse.SUPPRESS)

    def run(ctx: Context) -> StepResult:
        from mlops_actions import __version__

        raise NotAvailableError(
            f"`mlops {name}` is not available yet in mlops-actions {__version__};",
            hint="the command is reserved and arrives in a later version: "
            "see the README for the steps that work today.",
        )

    return Command(
        name, f"{help_text} (not available yet)", add_arguments, run, aliases, accepts_unknown=True
    )
