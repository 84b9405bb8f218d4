"""`mlops lineage RUN_ID|MODEL_VERSION`: the chain behind a model, in one screen."""

from __future__ import annotations

import argparse
import os

from mlops_actions.commands.base import Command, Context
from mlops_actions.results import StepResult


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "ref",
        metavar="RUN_ID|MODEL_VERSION",
        help="A run id, models:/m-…, NAME/VERSION, NAME@ALIAS, or VERSION / @ALIAS of the "
        "configured model.",
    )
    parser.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="MLflow tracking URI (default: from mlops.yaml, else $MLFLOW_TRACKING_URI).",
    )


def _run(ctx: Context) -> StepResult:
    from mlops_actions.errors import InputError
    from mlops_actions.lineage import lineage_of, lineage_outputs, render_markdown

    uri = ctx.args.tracking_uri
    model = None
    if ctx.config_explicit or ctx.config_path.exists():
        settings = ctx.settings()
        uri = uri or settings.resolved_tracking_uri()
        model = settings.model.name
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise InputError(
            "no tracking store to read: no mlops.yaml here and no --tracking-uri;",
            hint="run it in the repository (or pass --config) or give --tracking-uri.",
        )
    chain = lineage_of(uri, ctx.args.ref, default_model=model)
    return StepResult(
        "lineage",
        lineage_outputs(chain),
        message=f"lineage of {chain.resolved_from}",
        summary=render_markdown(chain),
    )


COMMAND = Command(
    "lineage",
    "Print the lineage of a run or model version",
    _add_arguments,
    _run,
    description="Follow a run or model version back to its code, data, environment, params and "
    "metrics, and forward to the registered versions and aliases that point at it.",
)
