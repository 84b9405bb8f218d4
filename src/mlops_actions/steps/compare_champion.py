"""Step 4, compare-champion: score the challenger and the champion on one holdout and decide.

The rule is `comparison.decision` (failing closed: the primary must improve by
`evaluate.min_improvement`, guardrails may not regress beyond their bound on the holdout or any
slice, an optional bootstrap must agree, NaN never passes). Without a champion the challenger
must meet the floors of `evaluate.min` and is reported as the first model. The verdict is written
on the candidate's MLflow run (`mlops.comparison.*` tags), where `register` reads it.

This module runs the step: it finds the models (`comparison.candidates`), scores them
(`comparison.evaluation`), decides, and records the verdict (`comparison.verdict`).
"""

from __future__ import annotations

import math
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_actions.comparison.candidates import (
    ModelRef,
    champion_ref,
    load_candidate,
    resolve_candidate,
)
from mlops_actions.comparison.decision import MetricRow, SliceRow, decide
from mlops_actions.comparison.evaluation import (
    load_holdout,
    positive_class_of,
    score,
    select_metrics,
)
from mlops_actions.comparison.verdict import record_verdict
from mlops_actions.errors import BackendError, InputError
from mlops_actions.scoring import ModelFailed

if TYPE_CHECKING:
    import pandas as pd

    from mlops_actions.config import Settings
    from mlops_actions.metrics import BootstrapInterval, Scored
    from mlops_actions.registry import ModelRegistry


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class HoldoutInfo:
    """The data both models were scored on."""

    path: str
    rows: int
    target: str
    version: str
    positive_class: str | None


@dataclass(frozen=True)
class ChampionComparison:
    """The verdict of one comparison and everything its report shows."""

    is_better: bool
    reason: str
    task: str
    primary_metric: str
    model_name: str
    challenger: ModelRef
    champion: ModelRef | None
    rows: tuple[MetricRow, ...]
    slices: tuple[SliceRow, ...]
    bootstrap: BootstrapInterval | None
    holdout: HoldoutInfo
    tracking_uri: str
    verdict_recorded: bool
    seconds: float

    @property
    def first_model(self) -> bool:
        """True when there was no champion yet (the floors decided)."""
        return self.champion is None

    @property
    def challenger_metrics(self) -> dict[str, float | None]:
        """Each metric of the challenger; None where it is undefined."""
        return {r.metric: _finite(r.challenger) for r in self.rows}

    @property
    def champion_metrics(self) -> dict[str, float | None]:
        """Each metric of the champion ({} without one); None where it is undefined."""
        if self.champion is None:
            return {}
        return {r.metric: _finite(r.champion) for r in self.rows}


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True)
class CompareOptions:
    """How to run the comparison beyond mlops.yaml (which the flags of its keys override)."""

    seed: int = 0
    record_verdict: bool = True


@dataclass(frozen=True)
class _Setup:
    """What both models are scored on and how the outcome is reported."""

    settings: Settings
    options: CompareOptions
    registry: ModelRegistry
    frame: pd.DataFrame
    holdout_path: Path
    data_version: str
    challenger: ModelRef
    champion: ModelRef | None
    started: float

    def holdout(self, positive: object | None) -> HoldoutInfo:
        return HoldoutInfo(
            path=str(self.holdout_path),
            rows=len(self.frame),
            target=self.settings.data.target,
            version=self.data_version,
            positive_class=None if positive is None else str(positive),
        )


# ---------------------------------------------------------------- the step


def compare_champion(
    settings: Settings,
    candidate: str,
    options: CompareOptions | None = None,
    *,
    registry: ModelRegistry | None = None,
) -> ChampionComparison:
    """Score `candidate` and the current champion of `model.name` on the holdout; decide.

    Raises InputError for a bad holdout, an unknown candidate or metric, BackendError when the
    registry fails or the champion cannot be loaded or scored (after recording a negative verdict
    on the candidate's run, so `register` refuses it). A challenger that cannot be loaded or
    scored (predict raises, wrong number or shape of predictions) is not better: a verdict.
    """
    started = time.perf_counter()
    evaluate = settings.evaluate
    metrics = select_metrics(settings)  # names are checked before any data or model is read
    setup = _prepare(settings, candidate, options or CompareOptions(), registry, started)
    try:
        challenger_scored, positive = _score_challenger(setup)
    except ModelFailed as exc:
        # Fail closed: a challenger that cannot be loaded or scored is not better.
        return _challenger_failed(setup, f"challenger is not better: {exc}")

    champion_scored = _score_champion(setup, positive)
    champion_version = None if setup.champion is None else setup.champion.version
    decision = decide(
        evaluate,
        metrics,
        challenger_scored,
        champion_scored,
        champion_label=None if champion_version is None else f"v{champion_version}",
        slice_values={c: setup.frame[c].to_numpy() for c in evaluate.slices},
        seed=setup.options.seed,
    )
    recorded = _record(
        setup,
        decision.is_better,
        decision.reason,
        champion_version,
        metrics={r.metric: _finite(r.challenger) for r in decision.rows},
    )
    return _comparison(
        setup,
        decision.is_better,
        decision.reason,
        rows=decision.rows,
        slices=decision.slices,
        bootstrap=decision.bootstrap,
        holdout=setup.holdout(positive),
        recorded=recorded,
    )


def _prepare(
    settings: Settings,
    candidate: str,
    options: CompareOptions,
    registry: ModelRegistry | None,
    started: float,
) -> _Setup:
    """Load the holdout and resolve both models; InputError or BackendError as the step says."""
    holdout_path = settings.data.holdout
    if holdout_path is None:
        raise InputError(
            "no holdout data to score on;",
            hint="set data.holdout in mlops.yaml or pass --holdout PATH.",
        )
    frame, data_text = load_holdout(settings, holdout_path)
    if registry is None:
        from mlops_actions.registry import ModelRegistry

        registry = ModelRegistry.from_settings(settings)
    challenger = resolve_candidate(registry, candidate)
    name = settings.model.name
    champion_version = registry.champion_version(name)
    champion = None if champion_version is None else champion_ref(registry, name, champion_version)
    return _Setup(
        settings,
        options,
        registry,
        frame,
        holdout_path,
        data_text,
        challenger,
        champion,
        started,
    )


def _score_challenger(setup: _Setup) -> tuple[Scored, object | None]:
    """The challenger's predictions and the positive class (None for regression).

    ModelFailed when the challenger cannot be loaded or scored; InputError for a target that
    does not fit the task or a missing feature.
    """
    settings = setup.settings
    target = settings.data.target
    model = load_candidate(setup.registry, setup.challenger)
    positive = positive_class_of(
        settings.model.task, setup.frame[target].to_numpy(), settings.evaluate, model, target
    )
    scored = score(model, setup.frame, settings, positive, "challenger", setup.challenger)
    return scored, positive


def _record(
    setup: _Setup,
    is_better: bool,
    reason: str,
    champion_version: str | None,
    *,
    metrics: dict[str, float | None] | None = None,
) -> bool:
    """Record the verdict on the challenger's run unless told not to; whether it was recorded.

    BackendError when the tracking server fails."""
    if not (setup.options.record_verdict and setup.challenger.run_id):
        return False
    record_verdict(
        setup.registry,
        setup.challenger,
        is_better=is_better,
        reason=reason,
        primary=setup.settings.evaluate.primary_metric,
        champion_version=champion_version,
        metrics=metrics,
    )
    return True


def _challenger_failed(setup: _Setup, reason: str) -> ChampionComparison:
    """The negative verdict for a challenger that could not be loaded or scored."""
    champion = None if setup.champion is None else setup.champion.version
    recorded = _record(setup, False, reason, champion)
    return _comparison(
        setup,
        False,
        reason,
        rows=(),
        slices=(),
        bootstrap=None,
        holdout=setup.holdout(None),
        recorded=recorded,
    )


def _score_champion(setup: _Setup, positive: object | None) -> Scored | None:
    """The champion's predictions (None without a champion).

    BackendError when it cannot be loaded or scored: the challenger is never judged against the
    floors alone because the champion broke. A "no verdict" is recorded on the candidate first.
    """
    if setup.champion is None:
        return None
    name = setup.settings.model.name
    version = setup.champion.version
    assert version is not None
    try:
        model: Any = setup.registry.load_model(name, version)
    except BackendError as exc:
        raise _champion_failed(setup, "failed to load", exc.message) from None
    try:
        return score(model, setup.frame, setup.settings, positive, "champion", setup.champion)
    except ModelFailed as exc:
        raise _champion_failed(setup, "could not be scored", f"{exc};") from None


def _champion_failed(setup: _Setup, what: str, detail: str) -> BackendError:
    """The error naming the champion, after recording "no verdict" on the candidate's run."""
    assert setup.champion is not None
    version = setup.champion.version
    with suppress(BackendError):  # the champion's failure is the error to report
        _record(setup, False, f"champion v{version} {what}; no verdict", version)
    return BackendError(
        f"the champion of {setup.settings.model.name!r} (v{version}) {what}: {detail}",
        hint="fix or re-promote the champion (`mlops register --promote VERSION`); "
        "no verdict, nothing was registered.",
    )


def _comparison(
    setup: _Setup,
    is_better: bool,
    reason: str,
    *,
    rows: tuple[MetricRow, ...],
    slices: tuple[SliceRow, ...],
    bootstrap: BootstrapInterval | None,
    holdout: HoldoutInfo,
    recorded: bool,
) -> ChampionComparison:
    settings = setup.settings
    return ChampionComparison(
        is_better=is_better,
        reason=reason,
        task=settings.model.task,
        primary_metric=settings.evaluate.primary_metric,
        model_name=settings.model.name,
        challenger=setup.challenger,
        champion=setup.champion,
        rows=rows,
        slices=slices,
        bootstrap=bootstrap,
        holdout=holdout,
        tracking_uri=setup.registry.tracking_uri,
        verdict_recorded=recorded,
        seconds=time.perf_counter() - setup.started,
    )
