"""The `mlops` subcommands, in pipeline order, then the tools."""

from __future__ import annotations

from mlops_actions.commands.base import Command


def all_commands() -> list[Command]:
    """Every subcommand; imports only light modules."""
    from mlops_actions.commands import config_cmd, init_cmd, pipeline_cmd
    from mlops_actions.commands.pending import PENDING

    return [*PENDING, pipeline_cmd.COMMAND, init_cmd.COMMAND, config_cmd.COMMAND]
