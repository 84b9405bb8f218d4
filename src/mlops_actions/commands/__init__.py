"""The `mlops` subcommands, in pipeline order, then the tools."""

from __future__ import annotations

from mlops_actions.commands.base import Command


def all_commands() -> list[Command]:
    """Every subcommand; imports only light modules."""
    from mlops_actions.commands import (
        canary_deploy,
        compare_champion,
        config_cmd,
        drift_report,
        endpoint,
        init_cmd,
        lineage,
        performance_report,
        pipeline_cmd,
        register,
        smoke_test,
        train,
        validate_data,
    )

    return [
        validate_data.COMMAND,
        train.COMMAND,
        compare_champion.COMMAND,
        register.COMMAND,
        canary_deploy.COMMAND,
        smoke_test.COMMAND,
        drift_report.COMMAND,
        performance_report.COMMAND,
        pipeline_cmd.COMMAND,
        init_cmd.COMMAND,
        endpoint.COMMAND,
        lineage.COMMAND,
        config_cmd.COMMAND,
    ]
