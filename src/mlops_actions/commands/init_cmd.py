"""`mlops init [DIR]`: scaffold a consumer repository (mlops.yaml + a caller workflow)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from mlops_actions.commands.base import Command, Context
from mlops_actions.errors import InputError
from mlops_actions.release import ACTION_REPOSITORY, PINNED_REF
from mlops_actions.results import StepResult

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
        help="Full commit SHA of mlops-actions to pin in the workflows (default: the commit this "
        "copy was installed from, else the release's pinned commit).",
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


WORKFLOWS = ("ml-pipeline.yml", "pr-evaluation.yml", "drift-monitor.yml")


def render_workflow(name: str, *, repository: str, ref: str, version: str) -> str:
    """A consumer workflow template with mlops-actions pinned to `ref`."""
    return (
        _template(f"workflows/{name}")
        .replace("__REPOSITORY__", repository)
        .replace("__REF__", ref)
        .replace("__VERSION__", f"v{version}")
    )


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
    ref = args.ref or _installed_commit() or PINNED_REF
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
    targets = {root / "mlops.yaml": config_text}
    for name in WORKFLOWS:
        targets[root / ".github" / "workflows" / name] = render_workflow(
            name, repository=args.repository, ref=ref, version=__version__
        )
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
