"""The decision: two sets of predictions and the rule of `evaluate` in, a verdict out.

A function of numbers and settings only (no files, no registry), failing closed at every turn:
- the primary metric must improve by at least `evaluate.min_improvement` (absolute, or relative
  to the champion's value), in the metric's direction; a tie is never an improvement;
- each guardrail metric may get worse by at most its `max_regression`, on the whole holdout and on
  every slice of `evaluate.slices`;
- with `evaluate.confidence`, the paired-bootstrap interval of the primary improvement must lie
  above zero;
- a NaN or missing value of a metric that decides is a failure, never a pass.
Without a champion the challenger must meet the floors of `evaluate.min`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from mlops_actions.errors import InputError

if TYPE_CHECKING:
    import numpy as np

    from mlops_actions.config import EvaluateSettings, Guardrail
    from mlops_actions.metrics import BootstrapInterval, Metric, Scored

Role = Literal["primary", "guardrail", "floor", "info"]
MAX_SLICES_PER_COLUMN = 100
TOLERANCE = 1e-9
"""Bounds are compared with this slack, so 0.81 - 0.80 counts as the 0.01 it is."""
_ROLE_ORDER = ("primary", "floor", "guardrail", "info")


class _ChallengerVsChampion:
    """`delta` for a row that holds both models' values of one metric."""

    challenger: float
    champion: float | None

    @property
    def delta(self) -> float | None:
        """Challenger minus champion; None without a champion."""
        if self.champion is None:
            return None
        return self.challenger - self.champion


@dataclass(frozen=True)
class MetricRow(_ChallengerVsChampion):
    """One metric of both models and, when it decides, its bound and outcome."""

    metric: str
    greater_is_better: bool
    challenger: float
    champion: float | None
    role: Role
    bound: str = ""
    passed: bool | None = None


@dataclass(frozen=True)
class SliceRow(_ChallengerVsChampion):
    """One guardrail (or the primary, for information) on one slice of the holdout."""

    column: str
    value: str
    rows: int
    metric: str
    greater_is_better: bool
    challenger: float
    champion: float | None
    bound: str = ""
    passed: bool | None = None


@dataclass(frozen=True)
class Decision:
    """The verdict on two sets of predictions and the rows that explain it."""

    is_better: bool
    reason: str
    rows: tuple[MetricRow, ...]
    slices: tuple[SliceRow, ...]
    bootstrap: BootstrapInterval | None


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if math.isnan(value):
        return "NaN"
    return f"{value:.4g}"


def _signed(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "−∞" if value < 0 else "+∞"
    return f"{value:+.4g}"


def _gain(metric: Metric, challenger: float, champion: float) -> float:
    """Improvement in the metric's direction (positive = challenger better)."""
    diff = challenger - champion
    return diff if metric.greater_is_better else -diff


def decide(
    evaluate: EvaluateSettings,
    metrics: Mapping[str, Metric],
    challenger: Scored,
    champion: Scored | None,
    *,
    champion_label: str | None = None,
    slice_values: Mapping[str, Sequence[object] | np.ndarray] | None = None,
    seed: int = 0,
) -> Decision:
    """Apply the rule of `evaluate` to the challenger's and champion's predictions.

    `champion` None means there is no champion: the floors of `evaluate.min` decide.
    `slice_values` maps each slice column to its value per row. Fails closed: a NaN metric that
    decides is a failure. InputError when a slice column has more than `MAX_SLICES_PER_COLUMN`
    values; ValueError when a slice column's length differs from the predictions'.
    """
    judged = _Judged(metrics, challenger, champion)
    if champion is None:
        _floors(evaluate, judged)
    else:
        _primary(evaluate, judged)
        _guardrails(evaluate, judged)
    bootstrap = None
    if champion is not None and evaluate.confidence is not None:
        bootstrap = _bootstrap(evaluate, metrics, challenger, champion, seed, judged)
    slices = _slices(slice_values or {}, evaluate, metrics, challenger, champion, judged.failures)
    is_better = not judged.failures
    if champion is None:
        head = "first model (no champion yet)" + (
            "" if not evaluate.min else (" meets the floors" if is_better else " misses the floors")
        )
    else:
        label = f"champion {champion_label}" if champion_label else "the champion"
        head = (
            f"challenger beats {label}" if is_better else f"challenger is not better than {label}"
        )
    details = judged.passes if is_better else judged.failures
    reason = f"{head}: {'; '.join(details)}" if details else head
    return Decision(is_better, reason, judged.ordered_rows(), tuple(slices), bootstrap)


class _Judged:
    """The metric values of both models and, as the rules run, the rows, passes and failures."""

    def __init__(
        self, metrics: Mapping[str, Metric], challenger: Scored, champion: Scored | None
    ) -> None:
        self.metrics = metrics
        self.values = {name: m.value(challenger) for name, m in metrics.items()}
        self.base = (
            None if champion is None else {name: m.value(champion) for name, m in metrics.items()}
        )
        self.rows: dict[str, MetricRow] = {}
        self.failures: list[str] = []
        self.passes: list[str] = []

    def row(self, name: str, role: Role, bound: str = "", passed: bool | None = None) -> MetricRow:
        """The row of metric `name` with both models' values."""
        return MetricRow(
            name,
            self.metrics[name].greater_is_better,
            self.values[name],
            None if self.base is None else self.base[name],
            role,
            bound,
            passed,
        )

    def ordered_rows(self) -> tuple[MetricRow, ...]:
        """Deciding rows first (primary, floors, guardrails), then every other metric."""
        ordered = list(self.rows.values())
        ordered += [self.row(n, "info") for n in self.metrics if n not in self.rows]
        ordered.sort(key=lambda r: _ROLE_ORDER.index(r.role))
        return tuple(ordered)


def _floors(evaluate: EvaluateSettings, judged: _Judged) -> None:
    """A first model: each metric of `evaluate.min` must reach its floor."""
    for name, floor in evaluate.min.items():
        m = judged.metrics[name]
        value = judged.values[name]
        sign = "≥" if m.greater_is_better else "≤"
        ok = math.isfinite(value) and (
            value >= floor - TOLERANCE if m.greater_is_better else value <= floor + TOLERANCE
        )
        judged.rows[name] = judged.row(name, "floor", f"{sign} {floor:g}", ok)
        text = f"{name} {_fmt(value)} {sign} {floor:g}"
        (judged.passes if ok else judged.failures).append(text if ok else f"{text} does not hold")
    if not evaluate.min:
        judged.passes.append("no floors to meet (evaluate.min is empty)")


def _primary(evaluate: EvaluateSettings, judged: _Judged) -> None:
    """The primary metric must improve by `min_improvement` (absolute or relative)."""
    assert judged.base is not None
    primary = judged.metrics[evaluate.primary_metric]
    name = primary.name
    new, old = judged.values[name], judged.base[name]
    need = evaluate.min_improvement
    if evaluate.improvement == "relative":
        bound = f"≥ {need:+.2%} relative" if need > 0 else "> 0 relative"
        ok, shown = _relative_check(primary, new, old, need)
    else:
        bound = f"≥ {need:+g}" if need > 0 else "> 0"
        gain = _gain(primary, new, old) if math.isfinite(new) and math.isfinite(old) else math.nan
        # A tie is never an improvement, whatever min_improvement allows.
        ok = math.isfinite(gain) and gain > TOLERANCE and gain >= need - TOLERANCE
        shown = _signed(gain)
    judged.rows[name] = judged.row(name, "primary", bound, ok)
    if not (math.isfinite(new) and math.isfinite(old)):
        which = "challenger" if not math.isfinite(new) else "champion"
        judged.failures.append(f"{name} is undefined (NaN) for the {which}")
    else:
        text = f"{name} {_fmt(old)} → {_fmt(new)} (improvement {shown}, {bound} required)"
        (judged.passes if ok else judged.failures).append(text)


def _relative_check(metric: Metric, new: float, old: float, need: float) -> tuple[bool, str]:
    if not (math.isfinite(new) and math.isfinite(old)):
        return False, "NaN"
    if old == 0:
        return False, "undefined (champion is 0)"
    relative = _gain(metric, new, old) / abs(old)
    return relative > TOLERANCE and relative >= need - TOLERANCE, f"{relative:+.2%}"


def _guardrails(evaluate: EvaluateSettings, judged: _Judged) -> None:
    """Each guardrail may get worse by at most its `max_regression` on the whole holdout."""
    for guard in evaluate.guardrails:
        ok = _guardrail_holds(guard, judged)
        bound = f"≤ {guard.max_regression:g} worse"
        previous = judged.rows.get(guard.metric)
        if previous is not None and previous.passed is not None:
            # The primary (or an earlier guardrail) on the same metric: both bounds must hold.
            judged.rows[guard.metric] = replace(
                previous, bound=f"{previous.bound}; {bound}", passed=bool(previous.passed) and ok
            )
        else:
            judged.rows[guard.metric] = judged.row(guard.metric, "guardrail", bound, ok)
    if evaluate.guardrails and not any(f.startswith("guardrail") for f in judged.failures):
        judged.passes.append(f"{len(evaluate.guardrails)} guardrail(s) held")


def _guardrail_holds(guard: Guardrail, judged: _Judged) -> bool:
    assert judged.base is not None
    new, old = judged.values[guard.metric], judged.base[guard.metric]
    if not (math.isfinite(new) and math.isfinite(old)):
        judged.failures.append(f"guardrail {guard.metric} is undefined (NaN)")
        return False
    worse = -_gain(judged.metrics[guard.metric], new, old)
    if worse <= guard.max_regression + TOLERANCE:
        return True
    judged.failures.append(
        f"guardrail {guard.metric} got worse by {worse:.4g} "
        f"(at most {guard.max_regression:g} allowed)"
    )
    return False


def _bootstrap(
    evaluate: EvaluateSettings,
    metrics: Mapping[str, Metric],
    challenger: Scored,
    champion: Scored,
    seed: int,
    judged: _Judged,
) -> BootstrapInterval:
    """The paired-bootstrap interval of the primary improvement, which must lie above zero."""
    from mlops_actions.metrics import paired_bootstrap

    assert evaluate.confidence is not None
    primary = metrics[evaluate.primary_metric]
    bootstrap = paired_bootstrap(
        primary,
        challenger,
        champion,
        resamples=evaluate.bootstrap_resamples,
        confidence=evaluate.confidence,
        seed=seed,
    )
    percent = f"{evaluate.confidence:.0%}"
    interval = f"[{_signed(bootstrap.low)}, {_signed(bootstrap.high)}]"
    if bootstrap.excludes_zero:
        judged.passes.append(f"{percent} bootstrap interval {interval} lies above 0")
    else:
        judged.failures.append(
            f"{percent} bootstrap interval of the {primary.name} improvement {interval} "
            "does not lie above 0"
        )
    return bootstrap


def _slices(
    slice_values: Mapping[str, Sequence[object] | np.ndarray],
    evaluate: EvaluateSettings,
    metrics: Mapping[str, Metric],
    challenger: Scored,
    champion: Scored | None,
    failures: list[str],
) -> list[SliceRow]:
    """Rows per slice value, largest slice first; guardrail failures are added to `failures`."""
    import numpy as np

    out: list[SliceRow] = []
    gated = [(metrics[g.metric], g.max_regression) for g in evaluate.guardrails]
    shown: list[tuple[Metric, float | None]] = (
        list(gated)
        if gated and champion is not None
        else [(metrics[evaluate.primary_metric], None)]
    )
    for column, raw in slice_values.items():
        keys = _slice_keys(raw)
        if len(keys) != challenger.rows:
            raise ValueError(
                f"slice column {column!r} has {len(keys)} values for {challenger.rows}"
            )
        values, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        if len(values) > MAX_SLICES_PER_COLUMN:
            raise InputError(
                f"evaluate.slices: column {column!r} has {len(values)} distinct values;",
                hint=f"slice on a column with at most {MAX_SLICES_PER_COLUMN} values "
                "(bucket it first).",
            )
        for i in np.argsort(-counts, kind="stable"):
            rows_idx = np.flatnonzero(inverse == i)
            part_new = challenger.take(rows_idx)
            part_old = None if champion is None else champion.take(rows_idx)
            for metric, allowed in shown:
                new = metric.value(part_new)
                old = None if part_old is None else metric.value(part_old)
                where = f"{column}={values[i]}"
                bound, passed = _slice_check(metric, new, old, allowed, where, failures)
                out.append(
                    SliceRow(
                        column,
                        str(values[i]),
                        int(counts[i]),
                        metric.name,
                        metric.greater_is_better,
                        new,
                        old,
                        bound,
                        passed,
                    )
                )
    return out


def _slice_check(
    metric: Metric,
    new: float,
    old: float | None,
    allowed: float | None,
    where: str,
    failures: list[str],
) -> tuple[str, bool | None]:
    """The bound and outcome of a guardrail on one slice ("", None when it does not decide)."""
    if allowed is None or old is None:
        return "", None
    bound = f"≤ {allowed:g} worse"
    if not (math.isfinite(new) and math.isfinite(old)):
        failures.append(f"guardrail {metric.name} is undefined (NaN) on slice {where}")
        return bound, False
    worse = -_gain(metric, new, old)
    if worse <= allowed + TOLERANCE:
        return bound, True
    failures.append(
        f"guardrail {metric.name} on slice {where} got "
        f"worse by {worse:.4g} (at most {allowed:g} allowed)"
    )
    return bound, False


def _slice_keys(raw: Sequence[object] | np.ndarray) -> np.ndarray:
    """Slice values as text; missing values (None, NaN) are one slice, "(missing)"."""
    import numpy as np
    import pandas as pd

    series = pd.Series(np.asarray(raw, dtype=object))
    return np.asarray(series.where(series.notna(), "(missing)").astype(str), dtype=str)
