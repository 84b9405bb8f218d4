"""The files `mlops init` writes, planned from the data before anything is written."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_actions.errors import InputError
from mlops_actions.scaffold import template

if TYPE_CHECKING:
    from mlops_actions.scaffold.profile import DataProfile, Task

SUITE = Path("expectations/suite.json")
CASES = Path("smoke/cases.jsonl")
TRAIN_SCRIPT = Path("train.py")
GITIGNORE = Path(".gitignore")
IGNORED = (".mlops/", "mlops-reports/", "mlruns/", "__pycache__/", "*.pyc")
"""What the pipeline writes into a repository and must never be committed."""

# Starting margins a retrain must beat the champion by: a tie is never an improvement, and a
# difference within noise should not replace a deployed model.
_IMPROVEMENT = {
    "roc_auc": "  min_improvement: 0.002         # absolute gain the challenger must show",
    "accuracy": "  min_improvement: 0.005         # absolute gain the challenger must show",
    "rmse": "  min_improvement: 0.01          # 1 % lower error than the champion\n"
    "  improvement: relative",
}
_GUARDRAIL = {"classification": ("recall", "0.02"), "regression": ("mae", "0.05")}


@dataclass
class Scaffold:
    """Every file of a new repository, as text, with what was inferred to write them."""

    root: Path
    profile: DataProfile
    files: dict[Path, str]
    keep_existing: frozenset[Path] = frozenset()
    """Never overwritten (the user's code)."""
    merged: frozenset[Path] = frozenset()
    """Written whenever they differ: their text keeps what the file had (.gitignore)."""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def write(self, *, force: bool) -> list[Path]:
        """Write the files; returns those written. Never overwrites `keep_existing` ones."""
        written = []
        for relative, text in self.files.items():
            path = self.root / relative
            if path.exists():
                if relative in self.keep_existing:
                    continue
                if not force and relative not in self.merged:
                    continue
                if path.read_text(encoding="utf-8") == text:
                    continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
        return written


def plan(
    root: Path,
    *,
    train: Path,
    holdout: Path,
    target: str | None,
    task: Task | None,
    model_name: str,
    workflows: dict[str, str],
) -> Scaffold:
    """Read the data and render every file; raises InputError when the data cannot serve."""
    from mlops_actions.data import load_table
    from mlops_actions.scaffold.profile import profile
    from mlops_actions.scaffold.smoke_cases import draft_cases, to_jsonl
    from mlops_actions.validation.suite import draft_suite

    train_path = _data_file(root, train, "--train")
    holdout_path = _data_file(root, holdout, "--holdout")
    train_frame, holdout_frame = load_table(root / train_path), load_table(root / holdout_path)
    data = profile(
        train_frame,
        holdout_frame,
        target=target,
        task=task,
        train_name=train_path.as_posix(),
        holdout_name=holdout_path.as_posix(),
    )
    suite = draft_suite(train_frame, name=f"{model_name}-data", source=train_path.as_posix())
    cases = draft_cases(train_frame, holdout_frame, data)
    labelled = sum(1 for c in cases if c.get("expected") != "any")
    files = {
        Path("mlops.yaml"): _config(data, model_name, train_path, holdout_path),
        SUITE: suite.to_json(),
        CASES: to_jsonl(cases),
        TRAIN_SCRIPT: _train_script(data, model_name, train_path),
        GITIGNORE: _gitignore(root / GITIGNORE),
    }
    files.update({Path(".github/workflows") / name: text for name, text in workflows.items()})
    notes = list(data.notes)
    notes.append(
        f"suite: {suite.expectation_count} expectations drafted from {train_path.as_posix()}"
    )
    notes.append(f"smoke cases: {len(cases)} from holdout rows, {labelled} with an expected value")
    if (root / TRAIN_SCRIPT).exists():
        notes.append("train.py exists and was kept: it must log its model at artifact path `model`")
    return Scaffold(
        root,
        data,
        files,
        keep_existing=frozenset({TRAIN_SCRIPT}),
        merged=frozenset({GITIGNORE}),
        notes=tuple(notes),
    )


def _data_file(root: Path, path: Path, flag: str) -> Path:
    """`path` relative to the repository root, checked to exist."""
    full = path if path.is_absolute() else root / path
    if not full.exists():
        raise InputError(
            f"{flag}: no data at {full};",
            hint=f"put the data there, or pass {flag} PATH (relative to {root}); "
            "CSV and Parquet work.",
        )
    try:
        return full.resolve().relative_to(root.resolve())
    except ValueError:
        raise InputError(
            f"{flag}: {full} is outside the repository {root};",
            hint="copy the data into the repository (track large files with DVC).",
        ) from None


def _config(data: DataProfile, model_name: str, train: Path, holdout: Path) -> str:
    guardrail, bound = _GUARDRAIL[data.task]
    positive = (
        f"  positive_class: {json.dumps(data.positive_class)}\n"
        if data.positive_class is not None
        else ""
    )
    return (
        template("mlops.yaml")
        .replace("__MODEL_NAME__", model_name)
        .replace("__TASK__", data.task)
        .replace("__TRAIN__", _yaml_text(train.as_posix()))
        .replace("__HOLDOUT__", _yaml_text(holdout.as_posix()))
        .replace("__TARGET__", _yaml_text(data.target))
        .replace(
            "__ID_COLUMN__\n",
            f"  id_column: {_yaml_text(data.id_column)}\n" if data.id_column else "",
        )
        .replace("__PRIMARY_METRIC__", data.primary_metric)
        .replace("__IMPROVEMENT__", _IMPROVEMENT[data.primary_metric])
        .replace("__GUARDRAIL__", guardrail)
        .replace("__GUARDRAIL_BOUND__", bound)
        .replace("__POSITIVE_CLASS__\n", positive)
    )


def _train_script(data: DataProfile, model_name: str, train: Path) -> str:
    drop = [data.target] + ([data.id_column] if data.id_column else [])
    return (
        template("train.py.tmpl")
        .replace("__MODEL_NAME__", model_name)
        .replace("__TARGET__", repr(data.target))
        .replace("__DROP__", repr(drop))
        .replace("__TASK__", data.task)
        .replace("__TRAIN__", repr(train.as_posix()))
    )


def _gitignore(existing: Path) -> str:
    """The repository's .gitignore with the pipeline's folders added where missing."""
    text = existing.read_text(encoding="utf-8") if existing.exists() else ""
    present = {line.strip() for line in text.splitlines()}
    missing = [entry for entry in IGNORED if entry not in present]
    if not missing:
        return text
    if text and not text.endswith("\n"):
        text += "\n"
    block = "# mlops-actions: local MLflow store, endpoint state, reports\n" + "".join(
        f"{entry}\n" for entry in missing
    )
    return text + ("\n" if text else "") + block


def _yaml_text(value: str) -> str:
    """A YAML scalar that reads back as exactly `value` (quoted only where it must be)."""
    import yaml

    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_./-]*", value) and yaml.safe_load(value) == value:
        return value
    return json.dumps(value, ensure_ascii=False)
