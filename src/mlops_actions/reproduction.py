"""`mlops train --reproduce`: is this tree what the run was made from, and did it come out the same?

`original_run` reads the recorded run, `check_reproducible` compares its lineage tags (commit,
uncommitted changes, data hash) with the working tree and raises InputError naming every
difference, and `compare_metrics` sets the re-run's metrics against the original's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_actions import lineage
from mlops_actions.errors import InputError
from mlops_actions.mlflow_errors import mlflow_failure

if TYPE_CHECKING:
    from mlops_actions.config import Settings


@dataclass(frozen=True)
class MetricDifference:
    """One metric of a reproduction against the original run."""

    name: str
    original: float
    reproduced: float | None

    @property
    def difference(self) -> float:
        return math.inf if self.reproduced is None else self.reproduced - self.original


@dataclass(frozen=True)
class Reproduction:
    """The verdict of `--reproduce`: every metric within `tolerance` of the original."""

    original_run_id: str
    tolerance: float
    metrics: tuple[MetricDifference, ...]

    @property
    def beyond_tolerance(self) -> tuple[MetricDifference, ...]:
        return tuple(m for m in self.metrics if not abs(m.difference) <= self.tolerance)

    @property
    def passed(self) -> bool:
        return not self.beyond_tolerance


def original_run(client: Any, run_id: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException as exc:
        if getattr(exc, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise InputError(
                f"--reproduce: run {run_id} is not in the tracking store;",
                hint="pass the run-id output of the training you want to reproduce.",
            ) from None
        raise mlflow_failure(exc, f"read run {run_id}") from None


def check_reproducible(original: Any, settings: Settings, data: lineage.DataRecord | None) -> None:
    """Raise InputError listing what differs between the run's record and this tree."""
    tags = original.data.tags
    run_id = original.info.run_id
    differences: list[str] = []
    recorded_commit = tags.get(lineage.TAG_COMMIT)
    code = lineage.code_version(settings.train.working_dir)
    if not recorded_commit:
        differences.append("the run recorded no git commit")
    elif code.commit is None:
        differences.append("the training folder is not a git checkout")
    elif code.commit != recorded_commit:
        differences.append(
            f"commit: the run used {recorded_commit[:12]}, the working tree is at "
            f"{code.commit[:12]}"
        )
    if code.dirty and tags.get(lineage.TAG_DIRTY) != "true":
        differences.append("the working tree has uncommitted changes to tracked files")
    recorded_hash = tags.get(lineage.TAG_DATA_HASH)
    if recorded_hash or data is not None:
        if data is None:
            differences.append("the run recorded training data but data.train is not set")
        elif recorded_hash != data.hash:
            differences.append(
                f"data: the run used {tags.get(lineage.TAG_DATA_VERSION, '?')}, "
                f"{data.path} is now {data.version}"
            )
    if differences:
        checkout = f"git checkout {recorded_commit[:12]}" if recorded_commit else "git checkout"
        raise InputError(
            f"cannot reproduce run {run_id}: {'; '.join(differences)};",
            hint=f"restore what it was made from ({checkout}, and `dvc checkout` for DVC data) "
            "and run again.",
        )


def compare_metrics(original: Any, metrics: dict[str, float], tolerance: float) -> Reproduction:
    rows = tuple(
        MetricDifference(name, float(value), metrics.get(name))
        for name, value in sorted(original.data.metrics.items())
    )
    return Reproduction(original.info.run_id, tolerance, rows)
