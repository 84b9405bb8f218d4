"""The Markdown summary of `mlops train-azureml`: what was trained, where, and how it ended.

The prose is `templates/summaries/train.md`; this module computes its values: the facts of the
run (model, job, parameters, code and data versions, time), the metrics, the reproduction
verdict and, when the job did not complete, its message and the end of its log. Every value that
comes from the user or the service is escaped (`reports.markdown`) and redacted.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from mlops_actions import lineage
from mlops_actions.redact import redact_text, redact_uri
from mlops_actions.reports.markdown import escape, table
from mlops_actions.reports.templates import render

if TYPE_CHECKING:
    from mlops_actions.reproduction import Reproduction
    from mlops_actions.steps.train import TrainingResult

_VERBS = {
    "completed": "Trained",
    "failed": "Training failed for",
    "canceled": "Training canceled for",
    "timed-out": "Training timed out for",
}


def summary(result: TrainingResult, model: str) -> str:
    """The step summary of one training (or reproduction) of `model`; never raises."""
    metrics = ""
    if result.metrics:
        metrics = table(
            ["metric", "value"], [(k, f"{v:.6g}") for k, v in sorted(result.metrics.items())]
        )
    return render(
        "train",
        icon="✅" if result.passed else "❌",
        verb=_VERBS[result.status],
        model=escape(model),
        backend=escape(result.backend),
        facts=table(["", ""], _facts(result)),
        metrics=metrics,
        reproduction=_reproduction(result.reproduction) if result.reproduction else "",
        failure=_failure(result) if result.status != "completed" else "",
    )


def _facts(result: TrainingResult) -> list[tuple[str, str]]:
    """The rows of the run's table (cells are escaped by `table`)."""
    tags = result.tags
    code = tags.get(lineage.TAG_COMMIT, "not a git checkout")[:12]
    if tags.get(lineage.TAG_DIRTY) == "true":
        code += " (uncommitted changes)"
    return [
        ("run", f"{result.run_id} in {result.experiment}"),
        ("model", result.model_uri or "none"),
        ("job", f"{result.job_name} {redact_uri(result.job_url)}".strip()),
        ("params", ", ".join(f"{k}={v}" for k, v in result.params.items()) or "none"),
        ("code", code),
        ("data", tags.get(lineage.TAG_DATA_VERSION, "not recorded")),
        (
            "time",
            f"{result.duration_seconds:.1f} s, of which mlops {result.overhead_seconds:.1f} s",
        ),
    ]


def _reproduction(repro: Reproduction) -> str:
    """The verdict of `--reproduce` and each metric against the original run."""
    verdict = "reproduced" if repro.passed else "did not reproduce"
    rows = [
        (
            m.name,
            f"{m.original:.6g}",
            "missing" if m.reproduced is None else f"{m.reproduced:.6g}",
            f"{m.difference:+.3g}",
        )
        for m in repro.metrics
    ]
    return (
        f"**Reproduction of {escape(repro.original_run_id)}: {verdict}** "
        f"(tolerance ±{repro.tolerance:g})\n\n"
        + table(["metric", "original", "reproduced", "difference"], rows)
    )


def _failure(result: TrainingResult) -> str:
    """Why the job did not complete, and the last lines of its log when there are any."""
    text = escape(redact_text(result.message), max_len=1000) + "\n"
    if result.log_tail:
        text += (
            "\n<details open><summary>Last lines of the log</summary>\n\n"
            + _code_block(redact_text(result.log_tail))
            + "\n</details>\n"
        )
    return text


def _code_block(text: str) -> str:
    """`text` as a fenced code block that nothing inside can close (inert in Markdown)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text.rstrip()}\n{fence}\n"
