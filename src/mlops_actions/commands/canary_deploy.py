"""`mlops canary-deploy --model-version N`: deploy by `deploy.strategy`, promote or roll back.

Exit 0 when the version was promoted, 1 when the rollout was rolled back (traffic verified back on
the champion), 2 for bad input or config, 3 when a rollback could not be verified. Outputs
`outcome` (promoted|rolled-back), `reason`, `final-traffic`, `endpoint-url`.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mlops_actions.commands.base import Command, Context
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
    parser.add_argument(
        "--strategy",
        choices=("canary", "shadow", "blue-green", "direct"),
        help="Override deploy.strategy.",
    )
    parser.add_argument(
        "--ready-timeout",
        type=float,
        metavar="SECONDS",
        help="How long the new deployment may take to become healthy "
        "(default: deploy.ready_timeout_seconds, 300).",
    )
    parser.add_argument(
        "--min-agreement",
        type=float,
        metavar="SHARE",
        help="Shadow strategy: fail when shadow and live predictions agree on less than this "
        "share (0–1) of holdout rows (default: deploy.shadow_min_agreement).",
    )


def _run(ctx: Context) -> StepResult:
    from mlops_actions.steps.canary_deploy import canary_deploy

    args = ctx.args
    if args.ready_timeout is not None and args.ready_timeout <= 0:
        raise InputError(f"--ready-timeout must be > 0, got {args.ready_timeout:g};")
    if args.min_agreement is not None and not 0 <= args.min_agreement <= 1:
        raise InputError(f"--min-agreement must be between 0 and 1, got {args.min_agreement:g};")
    settings = ctx.settings()
    if args.recover:
        return _recover(settings)
    if not args.model_version:
        raise InputError(
            "--model-version is required;",
            hint="pass the registered version to deploy, or --recover to clean up after an "
            "interrupted rollout.",
        )
    if args.strategy:
        settings = settings.model_copy(
            update={"deploy": settings.deploy.model_copy(update={"strategy": args.strategy})}
        )
    result = canary_deploy(
        settings,
        model_version=args.model_version,
        ready_timeout_seconds=args.ready_timeout or settings.deploy.ready_timeout_seconds,
        min_agreement=(
            args.min_agreement
            if args.min_agreement is not None
            else settings.deploy.shadow_min_agreement
        ),
        rollback_verify_seconds=settings.deploy.rollback_verify_seconds,
    )
    return to_step_result(result)


def _recover(settings: Settings) -> StepResult:
    from mlops_actions.backends.factory import open_endpoint
    from mlops_actions.registry import ModelRegistry
    from mlops_actions.reports.markdown import escape
    from mlops_actions.steps.canary_recovery import recover

    endpoint = open_endpoint(settings)
    found = recover(endpoint, ModelRegistry.from_settings(settings), settings.model.name)
    text = found.describe()
    notes = "".join(f"\n- {escape(n)}" for n in found.notes)
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
        summary=f"### canary-deploy --recover · {escape(settings.model.name)}\n\n"
        f"{escape(text, max_len=1000)}{notes}\n",
    )


def to_step_result(result: CanaryResult) -> StepResult:
    from mlops_actions.commands.smoke_test import summary as smoke_summary
    from mlops_actions.reports.markdown import escape, table

    promoted = result.promoted
    icon = "✅" if promoted else "↩️"
    traffic = ", ".join(f"{k} {v} %" for k, v in sorted(result.final_traffic.items()))
    lines = [
        f"### {icon} canary-deploy · {escape(result.model_name)} v{escape(result.model_version)}: "
        f"{result.outcome}",
        "",
        f"**{'Reason' if not promoted else 'Result'}:** {escape(result.reason, max_len=1000)}",
        "",
        f"Strategy `{escape(result.strategy)}`, deployment {escape(result.deployment)}, "
        f"previous {escape(result.previous_deployment or 'none')}, final traffic: "
        f"{escape(traffic or 'no live traffic')}, {result.seconds:.1f} s.",
        "",
        table(
            ["phase", "outcome", "traffic", "seconds", "detail"],
            [
                (
                    p.name,
                    p.outcome,
                    ", ".join(f"{k} {v} %" for k, v in sorted(p.traffic.items())),
                    f"{p.seconds:.1f}",
                    p.detail,
                )
                for p in result.phases
            ],
        ),
    ]
    if result.shadow is not None:
        s = result.shadow

        def pct(x: float | None) -> str:
            return f"{x:.1%}" if x is not None else "n/a"

        def ms(x: float | None) -> str:
            return f"{x:.1f} ms" if x is not None else "n/a"

        lines += [
            "",
            "**Shadow vs live**",
            "",
            table(
                ["", "live", "shadow"],
                [
                    ("deployment", s.live, s.shadow),
                    ("requests", s.live_requests, s.shadow_requests),
                    ("error rate", pct(s.live_error_rate), pct(s.shadow_error_rate)),
                    ("p95 latency", ms(s.live_p95_ms), ms(s.shadow_p95_ms)),
                    ("agreement", f"{pct(s.agreement)} of {s.agreement_rows} rows", ""),
                ],
            ),
        ]
    failed_checks = [c for c in result.checks if c.verdict in ("failed", "metrics-unavailable")]
    if failed_checks:
        lines += [
            "",
            "**Failed checks**",
            "",
            table(
                ["at", "phase", "deployment", "verdict", "detail"],
                [
                    (f"{c.at_seconds:.1f} s", c.phase, c.deployment, c.verdict, c.detail)
                    for c in failed_checks[-20:]
                ],
            ),
        ]
    if result.smoke is not None:
        lines += ["", smoke_summary(result.smoke, heading="####")]
    if result.notes:
        lines += ["", *[f"- {escape(n, max_len=500)}" for n in result.notes]]
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
        if promoted
        else f"rolled back: {result.reason}"
    )
    return StepResult(
        "canary-deploy",
        outputs,
        passed=promoted,
        message=message,
        summary="\n".join(lines) + "\n",
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
