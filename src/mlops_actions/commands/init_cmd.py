"""`mlops init [DIR]`: scaffold a consumer repository (mlops.yaml + a caller workflow)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from mlops_actions.commands.base import Command, Context
from mlops_actions.errors import InputError
from mlops_actions.results import StepResult

ACTION_REPOSITORY = "mlops-actions/mlops-actions"
_SHA = re.compile(r"^[0-9a-f]{40}$")


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", nargs="?", type=Path, default=Path("."), help="Repository root.")
    parser.add_argument("--model-name", help="Registered model name (default: the folder name).")
    parser.add_argument("--target", default="target", help="Label column (default: target).")
    parser.add_argument(
        "--task", choices=["classification", "regression"], default="classification"
    )
    parser.add_argument(
        "--ref",
        help="Full commit SHA of the mlops-actions release to pin in the caller workflow "
        "(default: the commit this copy of mlops-actions was installed from).",
    )
    parser.add_argument("--repository", default=ACTION_REPOSITORY, help=argparse.SUPPRESS)
    parser.add_argument("--force", action="store_true", help="Overwrite existing files.")


def _installed_commit() -> str | None:
    """The commit of the mlops-actions checkout this package runs from, if it is one."""
    import subprocess

    root = Path(__file__).resolve().parents[3]
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if _SHA.match(sha) else None


def _template(name: str) -> str:
    from importlib.resources import files

    return files("mlops_actions").joinpath("templates", name).read_text(encoding="utf-8")


def _run(ctx: Context) -> StepResult:
    from mlops_actions import __version__

    args = ctx.args
    root: Path = args.dir
    name = args.model_name or re.sub(r"[^A-Za-z0-9_.-]+", "-", root.resolve().name).strip("-.")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}", name or ""):
        raise InputError(
            f"cannot derive a model name from {root.resolve().name!r};",
            hint="pass --model-name NAME.",
        )
    ref = args.ref or _installed_commit()
    if not ref or not _SHA.match(ref):
        raise InputError(
            f"--ref {ref!r} is not a full commit SHA;"
            if ref
            else "no commit to pin the workflow to;",
            hint="pass --ref with the 40-character SHA of the mlops-actions release you adopt.",
        )
    primary = "roc_auc" if args.task == "classification" else "rmse"
    config_text = (
        _template("mlops.yaml")
        .replace("__MODEL_NAME__", name)
        .replace("__TARGET__", args.target)
        .replace("__PRIMARY_METRIC__", primary)
        .replace("task: classification ", f"task: {args.task} ")
    )
    workflow_text = (
        _template("caller-workflow.yml")
        .replace("__REPOSITORY__", args.repository)
        .replace("__REF__", ref)
        .replace("__VERSION__", f"v{__version__}")
    )
    targets = {
        root / "mlops.yaml": config_text,
        root / ".github" / "workflows" / "ml-pipeline.yml": workflow_text,
    }
    existing = [p for p in targets if p.exists()]
    if existing and not args.force:
        raise InputError(
            f"{', '.join(map(str, existing))} already exist{'s' if len(existing) == 1 else ''};",
            hint="pass --force to overwrite.",
        )
    for path, text in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    written = [str(p) for p in targets]
    return StepResult(
        "init",
        {"files": written, "model-name": name},
        message=f"wrote {', '.join(written)}; next: edit mlops.yaml, then `mlops config check`",
    )


COMMAND = Command(
    "init", "Write a starter mlops.yaml and caller workflow into a repository", _add_arguments, _run
)
