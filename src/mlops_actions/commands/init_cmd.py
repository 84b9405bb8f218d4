"""`mlops init [DIR]`: make a repository runnable, from the data it holds.

It reads the training and holdout data, infers what it can (target, task, metric, id column) and
writes everything the pipeline needs, so `mlops pipeline run` works with no edit: mlops.yaml, a
Great Expectations suite drafted from the training data, golden smoke cases drafted from holdout
rows, a starter train.py (only where there is none), .gitignore entries, and the caller workflows
pinned to a working commit of mlops-actions. Re-running it without --force changes nothing.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from mlops_actions.commands.base import Command, Context
from mlops_actions.errors import InputError
from mlops_actions.release import ACTION_REPOSITORY
from mlops_actions.results import StepResult
from mlops_actions.scaffold import template

WORKFLOWS = ("ml-pipeline.yml", "pr-evaluation.yml", "drift-monitor.yml")


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", nargs="?", type=Path, default=Path("."), help="Repository root.")
    parser.add_argument(
        "--train",
        type=Path,
        default=Path("data/train.csv"),
        help="Training data, relative to DIR (default: data/train.csv; CSV or Parquet).",
    )
    parser.add_argument(
        "--holdout",
        type=Path,
        default=Path("data/holdout.csv"),
        help="Holdout data on which models are compared, relative to DIR "
        "(default: data/holdout.csv).",
    )
    parser.add_argument(
        "--target",
        help="Name of the label column in the data (default: a column named target, label, y, "
        "class or outcome, else the last column).",
    )
    parser.add_argument(
        "--task",
        choices=["classification", "regression"],
        help="Default: inferred from the target (text, or at most 10 whole values: "
        "classification).",
    )
    parser.add_argument("--model-name", help="Registered model name (default: the folder name).")
    parser.add_argument(
        "--ref",
        help="Full commit SHA of mlops-actions to pin in the workflows (default: the commit this "
        "copy was installed from, else the release's pinned commit).",
    )
    parser.add_argument("--repository", default=ACTION_REPOSITORY, help=argparse.SUPPRESS)
    parser.add_argument(
        "--force",
        action="store_true",
        help="Write mlops.yaml, the suite, the smoke cases and the workflows anew "
        "(an existing train.py is never overwritten).",
    )


def _run(ctx: Context) -> StepResult:
    args = ctx.args
    root: Path = args.dir
    config = root / "mlops.yaml"
    if config.exists() and not args.force:
        return StepResult(
            "init",
            {"files": [], "changed": False},
            message=f"nothing changed: {config} exists, so this repository is set up already "
            "(pass --force to write its files anew from the data)",
        )
    name = _model_name(root, args.model_name)
    from dataclasses import replace

    from mlops_actions.release import pin_workflow, pinned_commit
    from mlops_actions.scaffold.files import Scaffold, plan

    pin = pinned_commit(args.ref)
    if args.repository != pin.repository:
        pin = replace(pin, repository=args.repository)
    scaffold: Scaffold = plan(
        root,
        train=args.train,
        holdout=args.holdout,
        target=args.target,
        task=args.task,
        model_name=name,
        workflows={n: pin_workflow(template(f"workflows/{n}"), pin) for n in WORKFLOWS},
    )
    written = scaffold.write(force=args.force)
    lines = [f"wrote {', '.join(str(p.relative_to(root)) for p in written)}"]
    lines += list(scaffold.notes)
    lines.append(f"workflows pin {pin.repository}@{pin.sha} # {pin.comment}")
    if pin.note:
        lines.append(f"note: {pin.note}")
    lines.append(
        "next: commit these files, then run `mlops pipeline run --approve` "
        "(`mlops config check` shows what the config resolves to)"
    )
    return StepResult(
        "init",
        {
            "files": [str(p) for p in written],
            "changed": True,
            "model-name": name,
            "task": scaffold.profile.task,
            "target": scaffold.profile.target,
            "primary-metric": scaffold.profile.primary_metric,
            "ref": pin.sha,
        },
        message="\n".join(lines),
    )


def _model_name(root: Path, given: str | None) -> str:
    name = given or re.sub(r"[^A-Za-z0-9_.-]+", "-", root.resolve().name).strip("-.")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}", name or ""):
        raise InputError(
            f"cannot use {name or root.resolve().name!r} as a model name;",
            hint="pass --model-name NAME (letters, digits, . _ -).",
        )
    return name


COMMAND = Command(
    "init",
    "Make a repository runnable: mlops.yaml, suite, smoke cases, train.py, workflows",
    _add_arguments,
    _run,
)
