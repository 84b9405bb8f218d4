"""What every step returns: outputs named like the action's outputs, a report, a verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Annotation:
    """One `::error`/`::warning`/`::notice` to attach to a file and line."""

    level: Literal["error", "warning", "notice"]
    message: str
    file: str | None = None
    line: int | None = None
    col: int | None = None
    title: str | None = None


@dataclass
class StepResult:
    """The typed result of one step.

    `outputs` keys are the action's output names (kebab-case); `passed` False means the gate said
    no (exit 1); `summary` is Markdown for the job summary and the report folder.
    """

    step: str
    outputs: dict[str, object]
    passed: bool = True
    message: str = ""
    summary: str = ""
    annotations: list[Annotation] = field(default_factory=list)
    raw_stdout: str | None = None
    """When set, printed as is instead of the report (e.g. a schema written to stdout)."""
