"""`mlops canary-deploy --model-version N`: deploy by `deploy.strategy`, promote or roll back.

Exit 0 when the version was promoted, 1 when the rollout was rolled back (traffic verified back on
the champion), 2 for bad input or config, 3 when a rollback could not be verified. Outputs
`outcome` (promoted|rolled-back), `reason`, `final-traffic`, `endpoint-url`.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mlops_actions.commands.base import Command, Context
from mlops_actions.commands.options import setting_flag
from mlops_actions.errors import InputError
from mlops_actions.results import StepResult

if TYPE_CHECKING:
    from mlops_actions.config import Settings
    from mlops_actions.steps.canary_deploy import CanaryResult


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model-version",
        metavar="N",
        help="Registered version of model.name to deploy (required unless --recover).",
    )
    parser.add_argument(
        "--recover",
        action="store_true",
        help="Only restore a safe state after a rollout that was killed midway: traffic 100 %% "
        "on the champion's deployment (finishing a promotion whose alias already moved), no "
        "mirror, other deployments removed. Every rollout does this first.",
    )
    setting_flag(
        parser,
        "--strategy",
        "deploy.strategy",
        metavar="STRATEGY",
        help="How to roll out: canary, shadow, blue-green or direct.",
    )
    setting_flag(
        parser,
        "--ready-timeout",
        "deploy.ready_timeout_seconds",
        type=float,
        metavar="SECONDS",
        help="How long the new deployment may take to become healthy.",
    )
    setting_flag(
        parser,
        "--min-agreement",
        "deploy.shadow_min_agreement",
        type=float,
        metavar="SHARE",
        help="Shadow strategy: fail when shadow and live predictions agree on less than this "
        "share (0–1) of holdout rows.",
    )


def _run(ctx: Context) -> StepResult:
    from mlops_actions.steps.canary_deploy import canary_deploy

    settings = ctx.settings()
    if ctx.args.recover:
        return _recover(settings)
    if not ctx.args.model_version:
        raise InputError(
            "--model-version is required;",
            hint="pass the registered version to deploy, or --recover to clean up after an "
            "interrupted rollout.",
        )
    return to_step_result(canary_deploy(settings, model_version=ctx.args.model_version))


def _recover(settings: Settings) -> StepResult:
    from mlops_actions.backends.factory import open_endpoint
    from mlops_actions.registry import ModelRegistry
    from mlops_actions.reports.canary import recovery_summary
    from mlops_actions.steps.canary_recovery import recover

    endpoint = open_endpoint(settings)
    found = recover(endpoint, ModelRegistry.from_settings(settings), settings.model.name)
    text = found.describe()
    return StepResult(
        "canary-deploy",
        {
            "outcome": "recovered" if found.changed else "nothing-to-recover",
            "reason": text,
            "final-traffic": found.traffic_after,
            "endpoint-url": endpoint.url,
            "deployment": found.champion_deployment or "",
            "model-version": found.champion_version or "",
            "removed": list(found.removed),
        },
        message=text,
        summary=recovery_summary(settings.model.name, found),
    )


def to_step_result(result: CanaryResult) -> StepResult:
    """The rollout's outputs, message and summary; passed when it was promoted."""
    from mlops_actions.reports.canary import summary

    outputs: dict[str, object] = {
        "outcome": result.outcome,
        "reason": result.reason,
        "final-traffic": result.final_traffic,
        "endpoint-url": result.endpoint_url,
        "deployment": result.deployment,
        "model-version": result.model_version,
        "previous-deployment": result.previous_deployment or "",
    }
    message = (
        f"{result.model_name} v{result.model_version} promoted"
        if result.promoted
        else f"rolled back: {result.reason}"
    )
    return StepResult(
        "canary-deploy",
        outputs,
        passed=result.promoted,
        message=message,
        summary=summary(result),
    )


COMMAND = Command(
    "canary-deploy",
    "Deploy with smoke, shadow and canary phases",
    _add_arguments,
    _run,
    outputs=(
        ("outcome", "promoted or rolled-back"),
        ("reason", "one sentence: why"),
        ("final-traffic", "the live split read back from the endpoint, JSON {deployment: percent}"),
        ("endpoint-url", "the endpoint's scoring URL"),
        ("deployment", "the new deployment (e.g. model-v3)"),
        ("model-version", "the deployed version"),
        ("previous-deployment", "the deployment that served before (the rollback target)"),
    ),
    description="Create the new deployment at 0 %, smoke-test it, then roll it out by "
    "deploy.strategy (shadow, canary steps, blue-green, direct) with automatic, verified "
    "rollback; on success move the registry alias champion to the new version.",
)
