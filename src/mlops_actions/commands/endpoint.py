"""`mlops endpoint up|down|status|invoke`: the local endpoint (a real HTTP server on 127.0.0.1).

`up` returns once every deployment it brings back is ready (exit 3 with the deployment's log
tail when one fails or is still starting after `--timeout`). `invoke` exits 0 for a 2xx answer,
2 for a 4xx (the request was wrong: the message says what the server said) and 3 for a 5xx or
an endpoint that cannot be reached.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_actions.commands.base import Command, Context
from mlops_actions.errors import InputError
from mlops_actions.results import StepResult

if TYPE_CHECKING:
    from mlops_actions.backends.endpoint import DeploymentFailed
    from mlops_actions.backends.local_endpoint import LocalEndpoint

DEFAULT_READY_TIMEOUT = 300.0


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"{value} is not ≥ 0")
    return number


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    from mlops_actions.commands.options import common_options

    sub = parser.add_subparsers(
        dest="endpoint_action", metavar="{up,down,status,invoke}", required=True
    )

    def child(name: str, help_text: str) -> argparse.ArgumentParser:
        new = sub.add_parser(
            name, parents=[common_options()], help=help_text, description=help_text
        )
        new.add_argument(
            "--state-dir",
            type=Path,
            metavar="DIR",
            help="Where the endpoint keeps its state (default: .mlops/endpoint next to "
            "mlops.yaml, or ./.mlops/endpoint without one).",
        )
        return new

    up = child("up", "Start the local endpoint in the background (no-op when it runs)")
    up.add_argument(
        "--port", type=int, help="Port on 127.0.0.1 (default: the previous one, or any)"
    )
    up.add_argument(
        "--durability",
        choices=("fsync", "write"),
        help="Prediction log: write each answer to the OS before sending it (default; survives a "
        "killed endpoint), or also fsync it (survives a machine crash; ~1 ms slower).",
    )
    up.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_READY_TIMEOUT,
        metavar="SECONDS",
        help="Wait at most this long for every deployment to be ready (the ones brought back "
        f"from the last run); exit 3 with its log tail after it (default {DEFAULT_READY_TIMEOUT:g}"
        "; 0: do not wait).",
    )
    child("down", "Stop the local endpoint and its deployments (state is kept)")
    child("status", "Show deployments, traffic, mirror and the scoring URL")
    invoke = child("invoke", "Send one scoring request and print the answer")
    invoke.add_argument("--deployment", help="Send it to this deployment (bypasses split, mirror).")
    source = invoke.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help='The JSON body ({"input_data": …} or MLflow\'s formats).')
    source.add_argument("--file", type=Path, help="A file holding the JSON body ('-': stdin).")
    invoke.add_argument("--request-id", help="Request id to log the prediction under.")


def _state_dir(ctx: Context) -> Path:
    given: Path | None = ctx.args.state_dir
    if given is not None:
        return given
    if ctx.config_explicit or ctx.config_path.exists():
        return ctx.settings().state_dir() / "endpoint"
    return Path(".mlops") / "endpoint"


def _run(ctx: Context) -> StepResult:
    action = ctx.args.endpoint_action
    if action == "up":
        return _up(ctx)
    if action == "down":
        return _down(ctx)
    if action == "status":
        return _status(ctx)
    return _invoke(ctx)


def _up(ctx: Context) -> StepResult:
    from mlops_actions.backends.local_endpoint import LocalEndpoint

    state_dir = _state_dir(ctx)
    tracking_uri = None
    name = "local"
    if ctx.config_explicit or ctx.config_path.exists():
        settings = ctx.settings()
        tracking_uri = settings.resolved_tracking_uri()
        name = settings.deploy.endpoint or settings.model.name
    if ctx.args.port is not None and not 0 <= ctx.args.port <= 65535:
        raise InputError(
            f"--port {ctx.args.port} is not a port;", hint="use 1–65535, or 0 for any."
        )
    from mlops_actions.backends.endpoint import DeploymentFailed

    endpoint = LocalEndpoint.up(
        state_dir,
        name=name,
        port=ctx.args.port,
        durability=ctx.args.durability,
        tracking_uri=tracking_uri,
    )
    waited: float | None = None
    if ctx.args.timeout > 0:
        try:
            waited = endpoint.wait_ready(ctx.args.timeout)
        except DeploymentFailed as exc:
            raise _with_log_tail(exc) from None
    status = endpoint.status()
    deployments = status.get("deployments") or []
    ready = [str(d.get("name")) for d in deployments if d.get("state") == "ready"]
    failed = [str(d.get("name")) for d in deployments if d.get("state") == "failed"]
    message = f"local endpoint {name} listening on {endpoint.url}"
    if waited is not None:
        message += f"; {len(ready)} deployment(s) ready after {waited:.2f} s"
    if failed:
        message += f"; failed earlier: {', '.join(failed)} (see `mlops endpoint status`)"
    return StepResult(
        "endpoint up",
        {
            "endpoint-url": endpoint.url,
            "pid": status.get("pid"),
            "state-dir": str(endpoint.paths.root),
            "durability": status.get("durability"),
            "ready-deployments": ready,
            "ready-seconds": round(waited, 3) if waited is not None else None,
        },
        message=message,
    )


def _with_log_tail(exc: DeploymentFailed) -> DeploymentFailed:
    """The error with the deployment's log tail in its message (the CLI prints only that)."""
    from mlops_actions.backends.endpoint import DeploymentFailed

    tail = exc.log_tail.strip()
    message = exc.message + (f"\nlast lines of its log:\n{tail}\n" if tail else "")
    return DeploymentFailed(message, hint=exc.hint, log_tail=exc.log_tail)


def _down(ctx: Context) -> StepResult:
    from mlops_actions.backends.local_endpoint import LocalEndpoint

    state_dir = _state_dir(ctx)
    stopped = LocalEndpoint.down(state_dir)
    return StepResult(
        "endpoint down",
        {"stopped": stopped, "state-dir": str(state_dir.resolve())},
        message="local endpoint stopped" if stopped else "local endpoint was not running",
    )


def _status(ctx: Context) -> StepResult:
    from mlops_actions.backends.endpoint import EndpointError
    from mlops_actions.backends.local_endpoint import LocalEndpoint
    from mlops_actions.backends.local_endpoint.state import Paths, read_state
    from mlops_actions.reports.endpoint import status_summary

    state_dir = _state_dir(ctx).resolve()
    try:
        endpoint: LocalEndpoint | None = LocalEndpoint.connect(state_dir)
    except EndpointError:  # not running: report the saved state instead
        endpoint = None
    status: dict[str, Any] = endpoint.status() if endpoint else read_state(Paths(state_dir))
    deployments = status.get("deployments") or []
    if isinstance(deployments, dict):  # the saved state keeps them by name
        deployments = list(deployments.values())
    traffic = status.get("traffic") or {}
    mirror = status.get("mirror") or {}
    url = endpoint.url if endpoint else ""
    summary = status_summary(
        status.get("name") or "", url if endpoint else None, deployments, traffic, mirror
    )
    return StepResult(
        "endpoint status",
        {
            "running": endpoint is not None,
            "endpoint-url": url,
            "deployments": [
                {k: d.get(k) for k in ("name", "model_name", "model_version", "state", "error")}
                for d in deployments
            ],
            "traffic": traffic,
            "mirror": mirror,
            "state-dir": str(state_dir),
        },
        summary=summary,
    )


def _invoke(ctx: Context) -> StepResult:
    import json

    from mlops_actions.backends.local_endpoint import LocalEndpoint

    if ctx.args.data is not None:
        text, where = ctx.args.data, "--data"
    elif str(ctx.args.file) == "-":
        text, where = sys.stdin.read(), "stdin"
    else:
        try:
            text, where = ctx.args.file.read_text(encoding="utf-8"), str(ctx.args.file)
        except OSError as exc:
            raise InputError(
                f"cannot read {ctx.args.file}: {exc.strerror};", hint="pass an existing file."
            ) from None
    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise InputError(
            f"{where} is not valid JSON ({exc});",
            hint='pass e.g. {"input_data": {"columns": [...], "data": [[...]]}}.',
        ) from None
    if not isinstance(payload, dict):
        raise InputError(f"{where} must be a JSON object;", hint='e.g. {"input_data": {…}}.')
    from mlops_actions.backends.endpoint import EndpointError

    endpoint = LocalEndpoint.connect(_state_dir(ctx))
    answer = endpoint.invoke(
        payload, deployment=ctx.args.deployment, request_id=ctx.args.request_id
    )
    outputs = {
        "status": answer.status,
        "request-id": answer.request_id,
        "deployment": answer.deployment,
        "latency-ms": round(answer.latency_ms, 3),
        "body": answer.body,
    }
    body = json.dumps(answer.body, sort_keys=True, default=str)
    if not 200 <= answer.status < 300:
        said = answer.body.get("error") if isinstance(answer.body, dict) else None
        said = str(said) if said is not None else body
        where = f" (deployment {answer.deployment})" if answer.deployment else ""
        text = f"the endpoint answered {answer.status}{where}: {said[:500]};"
        if 400 <= answer.status < 500:
            raise InputError(text, hint="fix the request body or the flags, then re-send it.")
        raise EndpointError(text, hint="see `mlops endpoint status` and the deployment's log.")
    if ctx.json:
        return StepResult("endpoint invoke", outputs)
    return StepResult("endpoint invoke", outputs, raw_stdout=body + "\n")


COMMAND = Command(
    "endpoint",
    "Local endpoint: up, down, status, invoke",
    _add_arguments,
    _run,
    description="Run the local endpoint: a real HTTP server on 127.0.0.1 with one process per "
    "deployment, weighted routing, mirroring, metrics and a durable prediction log.",
)
