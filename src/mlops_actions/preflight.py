"""What a pipeline run will need, checked before any work starts.

`mlops config check` and `mlops pipeline run` call `problems()`: a missing training script, suite,
smoke-case file or data file, or a target column the data lacks, is bad configuration (exit 2)
found in a second, not after training. Every problem names its key in mlops.yaml and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_actions.errors import InputError

if TYPE_CHECKING:
    from mlops_actions.config import Settings


@dataclass(frozen=True)
class Problem:
    """One thing a run would stumble on: where (key path), what, how to fix it."""

    key: str
    message: str
    hint: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message} ({self.hint.rstrip('.')})"


def problems(settings: Settings, *, read_data: bool = True) -> list[Problem]:
    """Everything missing for a pipeline run; `read_data` also reads the data files' columns.

    Reads only file metadata and table headers (first rows). DVC-tracked paths and data at a
    `data.dvc_rev` are not opened (they need a DVC pull; the steps check them).
    """
    found: list[Problem] = []
    found += _training(settings)
    found += _file(settings.validation.suite, "validation.suite", _SUITE_HINT, required=True)
    if settings.smoke.cases is not None:
        found += _smoke_cases(settings.smoke.cases)
    tables = _data_files(settings, found)
    if read_data:
        for key, path in tables:
            found += _columns(settings, key, path)
    return found


def raise_for(settings: Settings, source: Path, *, read_data: bool = True) -> None:
    """Raise one InputError listing every problem of `problems()`; nothing when there is none."""
    found = problems(settings, read_data=read_data)
    if not found:
        return
    if len(found) == 1:
        raise InputError(f"{source}: {found[0].key}: {found[0].message};", hint=found[0].hint)
    listed = "; ".join(f"({i}) {p}" for i, p in enumerate(found, 1))
    raise InputError(
        f"{source}: {len(found)} things a run needs are missing or wrong: {listed};",
        hint="fix them, then `mlops config check` again.",
    )


_SUITE_HINT = (
    "draft one with `mlops validate-data --data DATA --draft-suite expectations/suite.json`, "
    "or run `mlops init --force`"
)


def _training(settings: Settings) -> list[Problem]:
    if settings.train.backend != "local":
        return []
    from mlops_actions.backends.compute import TrainingJob
    from mlops_actions.backends.factory import open_compute

    job = TrainingJob(
        command=settings.train.command,
        working_dir=settings.train.working_dir,
        params={},
        tracking_uri="",
        experiment="",
        timeout_seconds=1.0,
    )
    try:
        open_compute(settings).check(job)
    except InputError as exc:
        key, _, message = exc.message.partition(": ")
        return [
            Problem(
                key if message else "train.command", (message or key).rstrip(";"), exc.hint or ""
            )
        ]
    return []


def _file(path: Path | None, key: str, hint: str, *, required: bool = False) -> list[Problem]:
    if path is None:
        return [Problem(key, "is not set", hint)] if required else []
    if not path.exists():
        return [Problem(key, f"{path} does not exist", hint)]
    return []


def _smoke_cases(path: Path) -> list[Problem]:
    from mlops_actions.steps.smoke_test import load_cases

    try:
        load_cases(path)
    except InputError as exc:
        message = exc.message.removeprefix("smoke.cases: ").rstrip(";")
        hint = exc.hint or "fix the file (one JSON case per line)"
        return [Problem("smoke.cases", message, hint)]
    return []


def _data_files(settings: Settings, found: list[Problem]) -> list[tuple[str, Path]]:
    """(key, path) of the tables to read; problems for the ones that are not there."""
    from mlops_actions.data import is_dvc_tracked

    tables = []
    needed = {"train", "holdout"} | set(settings.validation.datasets)
    for name in ("train", "holdout", "current"):
        path: Path | None = getattr(settings.data, name)
        key = f"data.{name}"
        if path is None:
            if name in needed:
                found.append(Problem(key, "is not set", f"set {key} to the {name} data's path"))
            continue
        if settings.data.dvc_rev is not None or is_dvc_tracked(path):
            continue
        if not path.exists():
            if name in needed:
                found.append(
                    Problem(key, f"{path} does not exist", "put the data there (or `dvc pull`)")
                )
            continue
        tables.append((key, path))
    return tables


def _columns(settings: Settings, key: str, path: Path) -> list[Problem]:
    from mlops_actions.data import load_table

    try:
        head = load_table(path).head(1000)
    except InputError as exc:
        return [Problem(key, exc.message.rstrip(";"), exc.hint or "fix the file")]
    columns = {str(c) for c in head.columns}
    data = settings.data
    out = []
    wanted = [("data.target", data.target)]
    if data.id_column:
        wanted.append(("data.id_column", data.id_column))
    wanted += [("data.features", f) for f in data.features or []]
    for where, column in wanted:
        if column not in columns and not (key == "data.current" and where == "data.target"):
            import difflib

            close = difflib.get_close_matches(column, sorted(columns), n=1, cutoff=0.6)
            shown = ", ".join(sorted(columns)[:8]) + (" …" if len(columns) > 8 else "")
            guess = f"did you mean {close[0]!r}? " if close else ""
            out.append(
                Problem(
                    where,
                    f"{path.name} ({key}) has no column {column!r}",
                    f"{guess}its columns are {shown}; fix {where} or the file",
                )
            )
    if data.target in columns and key != "data.current" and head[data.target].isna().all():
        out.append(
            Problem(
                "data.target",
                f"the column {data.target!r} of {path.name} ({key}) has no values",
                "fill in the labels, or point data.target at the label column",
            )
        )
    return out
