"""`mlops pipeline run`: the steps in order, each through its own command, with the local backends.

Each step is run exactly as `mlops <step> …` would run it (same flags, same translation from
mlops.yaml), so the demo exercises the code the actions run. The pipeline stops at the first gate
that says no (invalid data, a challenger that is not better, a rolled-back canary) or when the
approval is refused. A promoted model keeps serving on the local endpoint; an endpoint the run
started for a rollout that did not promote is stopped (`endpoint_after_run`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlops_actions.commands.base import Context, Subcommands
from mlops_actions.config import Settings
from mlops_actions.results import StepResult

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
    state: str  # "done", "failed", "skipped"
    detail: str
    outputs: dict[str, object] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class PipelineOptions:
    """What `mlops pipeline run` was asked to do."""

    config: Path
    report_dir: Path | None
    approve: Callable[[dict[str, object]], bool]
    params: Sequence[str] = ()
    subcommands: Subcommands | None = None
    """The CLI's table of subcommands, which runs each step (given by `pipeline run`)."""


def run_step(name: str, argv: list[str], options: PipelineOptions) -> StepResult:
    """Run `mlops <name> <argv>` in-process, exactly as the CLI would."""
    assert options.subcommands is not None, "PipelineOptions.subcommands runs the steps"
    command, parser = options.subcommands()[name]
    args = parser.parse_args(argv)
    ctx = Context.from_args(args, config=options.config, report_dir=options.report_dir)
    return command.run(ctx)


def run_pipeline(
    options: PipelineOptions, progress: Callable[[StepStatus], None] | None = None
) -> list[StepStatus]:
    """Run the steps in order; every step after a stop is reported as skipped."""
    statuses: list[StepStatus] = []
    context: dict[str, object] = {}

    def record(status: StepStatus) -> None:
        statuses.append(status)
        if progress is not None:
            progress(status)

    stopped = False
    for step in STEPS:
        if stopped:
            record(StepStatus(step, "skipped", "an earlier step stopped the pipeline"))
            continue
        if step == "approval":
            if options.approve(context):
                record(StepStatus(step, "done", "approved"))
            else:
                record(StepStatus(step, "failed", "deployment not approved"))
                stopped = True
            continue
        started = time.perf_counter()
        result = run_step(step, _argv_for(step, context, options), options)
        seconds = round(time.perf_counter() - started, 2)
        context.update({f"{step}.{k}": v for k, v in result.outputs.items()})
        if options.report_dir is not None and result.summary:
            from mlops_actions.github.runtime import report_dir_file

            report_dir_file(options.report_dir, f"{step}.md", result.summary)
        state = "done" if result.passed else "failed"
        record(StepStatus(step, state, result.message, dict(result.outputs), seconds))
        stopped = not result.passed
    return statuses


def local_endpoint_running(settings: Settings) -> bool:
    """Whether the local endpoint of this configuration is up (False for other backends)."""
    if settings.deploy.backend != "local":
        return False
    from mlops_actions.backends.endpoint import EndpointError
    from mlops_actions.backends.local_endpoint import LocalEndpoint

    try:
        LocalEndpoint.connect(settings.state_dir() / "endpoint")
    except EndpointError:
        return False
    return True


def stop_local_endpoint(settings: Settings) -> bool:
    """Stop the local endpoint; True when one was running."""
    if settings.deploy.backend != "local":
        return False
    from mlops_actions.backends.local_endpoint import LocalEndpoint

    return LocalEndpoint.down(settings.state_dir() / "endpoint")


def endpoint_after_run(
    settings: Settings, *, was_running: bool, promoted: bool, keep: bool, stop: bool
) -> str:
    """Leave the local endpoint as a user expects after a run; returns what was done.

    A promoted model keeps serving until the user stops it; an endpoint that was up before the
    run is never stopped by it; one the run started for a rollout that did not promote is.
    `keep` and `stop` force either.
    """
    if not local_endpoint_running(settings):
        return "not running"
    if stop or not (keep or promoted or was_running):
        stop_local_endpoint(settings)
        return "stopped"
    return "running"


def _argv_for(step: str, context: dict[str, object], options: PipelineOptions) -> list[str]:
    """The flags of one step, from the outputs of the steps before it."""
    if step == "train-azureml":
        return [f"--param={p}" for p in options.params]
    if step in ("compare-champion", "register"):
        return ["--candidate", str(context.get("train-azureml.model-uri", ""))]
    if step == "canary-deploy":
        return ["--model-version", str(context.get("register.model-version", ""))]
    if step == "smoke-test":
        return ["--deployment", str(context.get("canary-deploy.deployment", ""))]
    return []
