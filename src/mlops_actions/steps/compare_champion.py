"""Step 4, compare-champion: score the challenger and the champion on one holdout and decide.

The rule, failing closed at every turn:
- the primary metric must improve by at least `evaluate.min_improvement` (absolute, or relative
  to the champion's value), in the metric's direction;
- each guardrail metric may get worse by at most its `max_regression`, on the whole holdout and on
  every slice of `evaluate.slices`;
- with `evaluate.confidence`, the paired-bootstrap interval of the primary improvement must lie
  above zero;
- a NaN or missing value of a metric that decides is a failure, never a pass.
Without a champion the challenger must meet the floors of `evaluate.min` and is reported as the
first model. The verdict is written on the candidate's MLflow run (`mlops.comparison.*` tags), where
`register` reads it.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlops_actions.errors import BackendError, InputError
from mlops_actions.labels import listing
from mlops_actions.metric_catalog import Task, metrics_for
from mlops_actions.scoring import ModelFailed, describe_exception

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlops_actions.config import EvaluateSettings, Settings
    from mlops_actions.metrics import BootstrapInterval, Metric, Scored
    from mlops_actions.registry import ModelRegistry

Role = Literal["primary", "guardrail", "floor", "info"]
MAX_SLICES_PER_COLUMN = 100
TOLERANCE = 1e-9
"""Bounds are compared with this slack, so 0.81 - 0.80 counts as the 0.01 it is."""
VERDICT_PREFIX = "mlops.comparison."
LINEAGE_TAGS = (
    ("mlops.git.commit", "commit"),
    ("mlops.git.branch", "branch"),
    ("mlops.data.version", "training data"),
    ("mlops.workflow.run_url", "workflow run"),
    ("mlops.lock.hash", "lock"),
)
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class ModelRef:
    """A model that was scored: what was loaded and where it came from."""

    uri: str
    run_id: str | None = None
    experiment_id: str | None = None
    version: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if self.version is not None:
            return f"v{self.version}"
        return self.uri


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
    first_model: bool
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
    def challenger_metrics(self) -> dict[str, float | None]:
        return {r.metric: _finite(r.challenger) for r in self.rows}

    @property
    def champion_metrics(self) -> dict[str, float | None]:
        if self.champion is None:
            return {}
        return {r.metric: _finite(r.champion) for r in self.rows}


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True)
class CompareOptions:
    """Values given on the command line that override mlops.yaml."""

    holdout: Path | None = None
    primary_metric: str | None = None
    min_improvement: float | None = None
    confidence: float | None = None
    bootstrap_resamples: int | None = None
    seed: int = 0
    record_verdict: bool = True


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
    options = options or CompareOptions()
    evaluate = _effective_settings(settings, options)
    task = settings.model.task
    metrics = _metrics(settings, evaluate)

    holdout_path = options.holdout or settings.data.holdout
    if holdout_path is None:
        raise InputError(
            "no holdout data to score on;",
            hint="set data.holdout in mlops.yaml or pass --holdout PATH.",
        )
    frame, data_text = _load_holdout(settings, holdout_path)

    if registry is None:
        from mlops_actions.registry import ModelRegistry

        registry = ModelRegistry.from_settings(settings)
    challenger_ref = resolve_candidate(registry, candidate)
    name = settings.model.name
    champion_version = registry.champion_version(name)
    champion_ref = (
        None if champion_version is None else _champion_ref(registry, name, champion_version)
    )
    target = settings.data.target
    truth = frame[target].to_numpy()
    try:
        challenger_model = _load_candidate(registry, challenger_ref)
        positive = _positive_class(task, truth, evaluate, challenger_model, target)
        challenger_scored = _score(
            challenger_model, frame, settings, task, positive, "challenger", challenger_ref
        )
    except ModelFailed as exc:
        # Fail closed: a challenger that cannot be loaded or scored is not better.
        reason = f"challenger is not better: {exc}"
        recorded = options.record_verdict and bool(challenger_ref.run_id)
        if recorded:
            record_verdict(
                registry,
                challenger_ref,
                is_better=False,
                reason=reason,
                primary=evaluate.primary_metric,
                champion_version=champion_version,
            )
        return ChampionComparison(
            is_better=False,
            reason=reason,
            task=task,
            primary_metric=evaluate.primary_metric,
            first_model=champion_ref is None,
            model_name=name,
            challenger=challenger_ref,
            champion=champion_ref,
            rows=(),
            slices=(),
            bootstrap=None,
            holdout=HoldoutInfo(str(holdout_path), len(frame), target, data_text, None),
            tracking_uri=registry.tracking_uri,
            verdict_recorded=recorded,
            seconds=time.perf_counter() - started,
        )

    def champion_failed(what: str, detail: str) -> BackendError:
        """The error naming the champion, after recording "no verdict" on the candidate's run."""
        assert registry is not None
        if options.record_verdict:
            _record_verdict_quietly(
                registry,
                challenger_ref,
                is_better=False,
                reason=f"champion v{champion_version} {what}; no verdict",
                primary=evaluate.primary_metric,
                champion_version=champion_version,
            )
        return BackendError(
            f"the champion of {name!r} (v{champion_version}) {what}: {detail}",
            hint="fix or re-promote the champion (`mlops register --promote VERSION`); "
            "no verdict, nothing was registered.",
        )

    champion_scored: Scored | None = None
    if champion_version is not None:
        try:
            champion_model = registry.load_model(name, champion_version)
        except BackendError as exc:
            raise champion_failed("failed to load", exc.message) from None
        try:
            champion_scored = _score(
                champion_model, frame, settings, task, positive, "champion", champion_ref
            )
        except ModelFailed as exc:
            # Never judge the challenger against the floors alone because the champion broke.
            raise champion_failed("could not be scored", f"{exc};") from None

    decision = decide(
        evaluate,
        metrics,
        challenger_scored,
        champion_scored,
        champion_label=None if champion_version is None else f"v{champion_version}",
        slice_values={c: frame[c].to_numpy() for c in evaluate.slices},
        seed=options.seed,
    )
    is_better, reason, rows = decision.is_better, decision.reason, decision.rows
    first = champion_ref is None

    recorded = False
    if options.record_verdict and challenger_ref.run_id:
        record_verdict(
            registry,
            challenger_ref,
            is_better=is_better,
            reason=reason,
            primary=evaluate.primary_metric,
            champion_version=champion_version,
            metrics={r.metric: _finite(r.challenger) for r in rows},
        )
        recorded = True

    return ChampionComparison(
        is_better=is_better,
        reason=reason,
        task=task,
        primary_metric=evaluate.primary_metric,
        first_model=first,
        model_name=name,
        challenger=challenger_ref,
        champion=champion_ref,
        rows=decision.rows,
        slices=decision.slices,
        bootstrap=decision.bootstrap,
        holdout=HoldoutInfo(
            path=str(holdout_path),
            rows=len(frame),
            target=target,
            version=data_text,
            positive_class=None if positive is None else str(positive),
        ),
        tracking_uri=registry.tracking_uri,
        verdict_recorded=recorded,
        seconds=time.perf_counter() - started,
    )


# ---------------------------------------------------------------- settings and metrics


def _effective_settings(settings: Settings, options: CompareOptions) -> EvaluateSettings:
    evaluate = settings.evaluate
    updates: dict[str, Any] = {}
    if options.primary_metric is not None:
        updates["primary_metric"] = options.primary_metric
        if options.primary_metric != evaluate.primary_metric:
            updates["greater_is_better"] = None
    if options.min_improvement is not None:
        if options.min_improvement < 0:
            raise InputError(
                "--min-improvement must be 0 or more;", hint="give the required gain, e.g. 0.002."
            )
        updates["min_improvement"] = options.min_improvement
    if options.confidence is not None:
        if not 0 < options.confidence < 1:
            raise InputError(
                "--confidence must be between 0 and 1;", hint="e.g. 0.95 for a 95 % interval."
            )
        updates["confidence"] = options.confidence
    if options.bootstrap_resamples is not None:
        if options.bootstrap_resamples < 100:
            raise InputError("--bootstrap-resamples must be at least 100;", hint="e.g. 1000.")
        updates["bootstrap_resamples"] = options.bootstrap_resamples
    return evaluate.model_copy(update=updates) if updates else evaluate


def _metrics(settings: Settings, evaluate: EvaluateSettings) -> dict[str, Metric]:
    """Built-in metrics of the task plus the custom ones, with every name checked."""
    from mlops_actions.metrics import builtin_metrics, load_custom_metric

    task = settings.model.task
    found: dict[str, Metric] = dict(builtin_metrics(task))
    other: Task = "regression" if task == "classification" else "classification"
    for name, ref in evaluate.custom_metrics.items():
        direction = evaluate.greater_is_better if name == evaluate.primary_metric else None
        found[name] = load_custom_metric(
            name, ref, greater_is_better=direction, search_path=settings.base_dir
        )
    wanted = [
        ("evaluate.primary_metric", evaluate.primary_metric),
        *(
            (f"evaluate.guardrails[{i}].metric", g.metric)
            for i, g in enumerate(evaluate.guardrails)
        ),
        *((f"evaluate.min.{m}", m) for m in evaluate.min),
    ]
    for where, name in wanted:
        if name not in found:
            if name in metrics_for(other):
                why = f"'{name}' is a {other} metric, not defined for {task};"
            else:
                why = f"'{name}' is not a {task} metric;"
            raise InputError(f"{where}: {why}", hint=f"use one of: {', '.join(sorted(found))}.")
    primary = found[evaluate.primary_metric]
    if (
        not primary.custom
        and evaluate.greater_is_better is not None
        and evaluate.greater_is_better != primary.greater_is_better
    ):
        better = "greater" if primary.greater_is_better else "lower"
        raise InputError(
            f"evaluate.greater_is_better: {str(evaluate.greater_is_better).lower()} contradicts "
            f"{primary.name}, for which {better} is better;",
            hint="remove greater_is_better (it is only needed for custom metrics).",
        )
    return found


# ---------------------------------------------------------------- models


def resolve_candidate(registry: ModelRegistry, text: str) -> ModelRef:
    """What `--candidate` names: a run id, `runs:/…`, `models:/m-…`, `models:/name/version`,
    `models:/name@alias`, or a local model folder. InputError when it does not exist."""
    text = text.strip()
    if not text:
        raise InputError("--candidate is empty;", hint="pass a model URI or an MLflow run id.")
    if _RUN_ID.match(text):
        return _from_run(registry, text, "model")
    if text.startswith("runs:/"):
        run_id, _, artifact = text[len("runs:/") :].partition("/")
        return _from_run(registry, run_id, artifact.strip("/") or "model")
    if text.startswith("models:/"):
        rest = text[len("models:/") :]
        if rest.startswith("m-") and "/" not in rest and "@" not in rest:
            return _from_logged_model(registry, rest)
        return _from_registry_uri(registry, text, rest)
    path = Path(text[len("file://") :] if text.startswith("file://") else text)
    if "://" not in text or text.startswith("file://"):
        if not (path / "MLmodel").is_file():
            raise InputError(
                f"candidate {text!r} does not exist (no MLmodel file there);",
                hint="pass a models:/ URI, runs:/RUN_ID/model, or an MLflow run id.",
            )
        return ModelRef(uri=str(path.resolve()))
    return ModelRef(uri=text)


def _mlflow_missing(exc: BaseException) -> bool:
    from mlops_actions.registry import error_code

    return error_code(exc) in {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "INVALID_PARAMETER_VALUE"}


def _run_tags(registry: ModelRegistry, run_id: str) -> tuple[str, dict[str, str]]:
    try:
        run = registry.client.get_run(run_id)
    except Exception as exc:  # noqa: BLE001
        if _mlflow_missing(exc):
            raise InputError(
                f"candidate run {run_id} does not exist in {registry.tracking_uri};",
                hint="check the run id and that MLFLOW_TRACKING_URI / tracking_uri point at "
                "the store the model was trained into.",
            ) from None
        raise registry._backend(f"read run {run_id}", exc) from None
    return str(run.info.experiment_id), dict(run.data.tags)


def _from_run(registry: ModelRegistry, run_id: str, artifact_path: str) -> ModelRef:
    experiment_id, tags = _run_tags(registry, run_id)
    try:
        logged = list(
            registry.client.search_logged_models(
                experiment_ids=[experiment_id], filter_string=f"source_run_id = '{run_id}'"
            )
        )
    except Exception:  # noqa: BLE001 - servers without LoggedModels: use the run's artifacts
        logged = []
    named = [m for m in logged if m.name == artifact_path]
    if named:
        chosen = max(named, key=lambda m: m.creation_timestamp or 0)
        return ModelRef(f"models:/{chosen.model_id}", run_id, experiment_id, tags=tags)
    try:
        files = registry.client.list_artifacts(run_id, artifact_path)
    except Exception:  # noqa: BLE001
        files = []
    if not any(f.path.endswith("MLmodel") for f in files):
        raise InputError(
            f"run {run_id} has no model at artifact path {artifact_path!r};",
            hint="the training script must log its model with name='model' "
            "(mlflow.<flavor>.log_model(..., name='model')).",
        )
    return ModelRef(f"runs:/{run_id}/{artifact_path}", run_id, experiment_id, tags=tags)


def _from_logged_model(registry: ModelRegistry, model_id: str) -> ModelRef:
    try:
        logged = registry.client.get_logged_model(model_id)
    except Exception as exc:  # noqa: BLE001
        if _mlflow_missing(exc):
            raise InputError(
                f"candidate models:/{model_id} does not exist in {registry.tracking_uri};",
                hint="check the URI (the training step prints it) and the tracking URI.",
            ) from None
        raise registry._backend(f"read logged model {model_id}", exc) from None
    run_id = logged.source_run_id or None
    experiment_id, tags = _run_tags(registry, run_id) if run_id else (str(logged.experiment_id), {})
    return ModelRef(f"models:/{model_id}", run_id, experiment_id, tags=tags)


def _from_registry_uri(registry: ModelRegistry, text: str, rest: str) -> ModelRef:
    if "@" in rest:
        name, _, alias = rest.partition("@")
        version = registry.alias_version(name, alias)
        if version is None:
            raise InputError(
                f"candidate {text!r} does not exist (no alias {alias!r} on model {name!r});",
                hint="check the model name and alias.",
            )
    else:
        name, _, version = rest.partition("/")
        if not version:
            raise InputError(
                f"candidate {text!r} names no version;", hint="use models:/NAME/VERSION."
            )
    mv = registry.get_version(name, version)
    run_id = mv.run_id or None
    experiment_id, tags = _run_tags(registry, run_id) if run_id else (None, {})
    source = str(mv.source or "")
    uri = source if source.startswith("models:/m-") else f"models:/{name}/{mv.version}"
    return ModelRef(uri, run_id, experiment_id, version=str(mv.version), tags=tags)


def _champion_ref(registry: ModelRegistry, name: str, version: str) -> ModelRef:
    try:
        mv = registry.client.get_model_version(name, version)
    except Exception as exc:  # noqa: BLE001
        raise registry._backend(f"read champion v{version} of {name!r}", exc) from None
    run_id = mv.run_id or None
    tags: dict[str, str] = {}
    experiment_id = None
    if run_id:
        try:
            run = registry.client.get_run(run_id)
            tags, experiment_id = dict(run.data.tags), str(run.info.experiment_id)
        except Exception:  # noqa: BLE001, S110 - lineage is optional for the champion
            pass
    return ModelRef(f"models:/{name}/{version}", run_id, experiment_id, str(version), tags)


def _load_candidate(registry: ModelRegistry, ref: ModelRef) -> Any:
    with registry.using_uris():
        import mlflow.pyfunc

        try:
            return mlflow.pyfunc.load_model(ref.uri)
        except Exception as exc:  # noqa: BLE001
            raise ModelFailed(
                f"the candidate {ref.uri} exists but failed to load ({describe_exception(exc)}); "
                "check that its artifacts are reachable and its flavor is installed"
            ) from None


# ---------------------------------------------------------------- data and predictions


def _load_holdout(settings: Settings, path: Path) -> tuple[pd.DataFrame, str]:
    from mlops_actions.data import data_version, load_table

    frame = load_table(path, rev=settings.data.dvc_rev)
    target = settings.data.target
    if target not in frame.columns:
        raise InputError(
            f"holdout {path} has no target column {target!r} (columns: {listing(frame.columns)});",
            hint="fix data.target in mlops.yaml or the holdout export.",
        )
    missing = int(frame[target].isna().sum())
    if missing:
        raise InputError(
            f"holdout {path}: {missing} row(s) have no value in target {target!r};",
            hint="drop or label those rows: both models must be scored on labelled rows.",
        )
    for column in settings.evaluate.slices:
        if column not in frame.columns:
            raise InputError(
                f"evaluate.slices: holdout {path} has no column {column!r};",
                hint=f"use one of: {listing(frame.columns)}.",
            )
    try:
        version = data_version(path, rev=settings.data.dvc_rev).text
    except InputError:
        version = "unknown"
    return frame, version


def _feature_frame(
    model: Any, frame: pd.DataFrame, settings: Settings, which: str, ref: ModelRef | None
) -> pd.DataFrame:
    """The columns the model reads: its signature's inputs, else data.features, else the rest."""
    names: list[str] | None = None
    try:
        schema = model.metadata.get_input_schema()
        if schema is not None and schema.has_input_names():
            names = [str(n) for n in schema.input_names()]
    except Exception:  # noqa: BLE001 - models without a readable signature
        names = None
    if names is None:
        data = settings.data
        if data.features:
            names = list(data.features)
        else:
            drop = {data.target, data.id_column}
            names = [str(c) for c in frame.columns if c not in drop]
    missing = [n for n in names if n not in frame.columns]
    if missing:
        label = which if ref is None else f"{which} ({ref.label})"
        raise InputError(
            f"the holdout lacks feature(s) the {label} needs: {listing(missing)};",
            hint="score on a holdout exported with the training columns (data.holdout).",
        )
    return frame[names]


def _positive_class(
    task: str, truth: np.ndarray, evaluate: EvaluateSettings, model: Any, target: str
) -> object | None:
    import numpy as np

    if task != "classification":
        if truth.dtype.kind not in "biuf":
            raise InputError(
                f"target {target!r} is not numeric (e.g. {truth[0]!r}), but model.task is "
                "regression;",
                hint="set model.task: classification, or point data.target at a numeric column.",
            )
        return None
    values = np.unique(truth)
    if truth.dtype.kind == "f" and len(values) > 50:
        raise InputError(
            f"target {target!r} has {len(values)} distinct float values, which looks like "
            "regression, but model.task is classification;",
            hint="set model.task: regression, or point data.target at the label column.",
        )
    from mlops_actions.labels import positive_class

    return positive_class(
        values,
        configured=evaluate.positive_class,
        model_classes=_classes(model),
        where=f"target {target!r}",
    )


def _raw_model(model: Any) -> Any:
    """The flavor's own model (sklearn API: predict_proba, classes_), or None.

    A custom PythonModel is not one: its predict takes a context, so it goes through pyfunc.
    """
    from mlflow.pyfunc.model import PythonModel

    try:
        raw = model.get_raw_model()
    except Exception:  # noqa: BLE001 - flavors without a raw model
        return None
    return None if isinstance(raw, PythonModel) else raw


def _classes(model: Any) -> list[object] | None:
    raw = _raw_model(model)
    classes = getattr(raw, "classes_", None)
    return None if classes is None else list(classes)


def _score(
    model: Any,
    frame: pd.DataFrame,
    settings: Settings,
    task: str,
    positive: object | None,
    which: str,
    ref: ModelRef | None,
) -> Scored:
    import numpy as np

    from mlops_actions.metrics import classification_scored, label_is, regression_scored

    features = _feature_frame(model, frame, settings, which, ref)
    truth = frame[settings.data.target].to_numpy()
    raw = _raw_model(model)
    label = which if ref is None else f"{which} ({ref.label})"
    try:
        if task == "regression":
            return regression_scored(truth, _as_vector(model.predict(features), len(truth)))
        proba = None
        if raw is not None and hasattr(raw, "predict_proba") and hasattr(raw, "classes_"):
            labels = _as_vector(raw.predict(features), len(truth))
            classes = np.asarray(list(raw.classes_))
            column = np.flatnonzero(label_is(classes, positive))
            if len(column):
                proba = np.asarray(raw.predict_proba(features))[:, column[0]]
        else:
            labels = _as_vector(model.predict(features), len(truth))
        return classification_scored(truth, labels, positive, proba)
    except ModelFailed as exc:
        raise ModelFailed(f"the {label} {exc}") from None
    except Exception as exc:  # noqa: BLE001 - the model rejected the data or failed on it
        raise ModelFailed(
            f"the {label} could not score the holdout ({describe_exception(exc)})"
            + _empty_columns(features)
        ) from None


def _empty_columns(features: Any) -> str:
    """A note naming the holdout's feature columns that hold no value at all (a likely cause)."""
    empty = [str(c) for c in getattr(features, "columns", []) if features[c].isna().all()]
    if not empty:
        return ""
    names = ", ".join(repr(c) for c in empty[:5]) + (" …" if len(empty) > 5 else "")
    if len(empty) == 1:
        return f"; the holdout column {names} is empty (every value missing)"
    return f"; the holdout columns {names} are empty (every value missing)"


def _as_vector(predicted: Any, rows: int) -> np.ndarray:
    """One prediction per row as a vector; ModelFailed for any other shape."""
    import numpy as np

    if hasattr(predicted, "to_numpy"):
        predicted = predicted.to_numpy()
    out = np.asarray(predicted)
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.ndim != 1 or len(out) != rows:
        raise ModelFailed(
            f"returned predictions of shape {out.shape} for {rows} holdout rows "
            "(one label or value per row expected)"
        )
    return out


# ---------------------------------------------------------------- the decision


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


@dataclass(frozen=True)
class Decision:
    """The verdict on two sets of predictions and the rows that explain it."""

    is_better: bool
    reason: str
    rows: tuple[MetricRow, ...]
    slices: tuple[SliceRow, ...]
    bootstrap: BootstrapInterval | None


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
    decides is a failure.
    """
    rows, failures, passes = _decide(metrics, evaluate, challenger, champion)
    primary = metrics[evaluate.primary_metric]
    bootstrap = None
    if champion is not None and evaluate.confidence is not None:
        from mlops_actions.metrics import paired_bootstrap

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
            passes.append(f"{percent} bootstrap interval {interval} lies above 0")
        else:
            failures.append(
                f"{percent} bootstrap interval of the {primary.name} improvement {interval} "
                "does not lie above 0"
            )
    slices = _slices(slice_values or {}, evaluate, metrics, challenger, champion, failures)
    is_better = not failures
    if champion is None:
        head = "first model (no champion yet)" + (
            "" if not evaluate.min else (" meets the floors" if is_better else " misses the floors")
        )
    else:
        label = f"champion {champion_label}" if champion_label else "the champion"
        head = (
            f"challenger beats {label}" if is_better else f"challenger is not better than {label}"
        )
    details = passes if is_better else failures
    reason = f"{head}: {'; '.join(details)}" if details else head
    return Decision(is_better, reason, tuple(rows), tuple(slices), bootstrap)


def _decide(
    metrics: Mapping[str, Metric],
    evaluate: EvaluateSettings,
    challenger: Scored,
    champion: Scored | None,
) -> tuple[list[MetricRow], list[str], list[str]]:
    values = {name: m.value(challenger) for name, m in metrics.items()}
    base = None if champion is None else {name: m.value(champion) for name, m in metrics.items()}
    failures: list[str] = []
    passes: list[str] = []
    rows: dict[str, MetricRow] = {}
    primary = metrics[evaluate.primary_metric]

    def row(name: str, role: Role, bound: str = "", passed: bool | None = None) -> MetricRow:
        m = metrics[name]
        return MetricRow(
            name,
            m.greater_is_better,
            values[name],
            None if base is None else base[name],
            role,
            bound,
            passed,
        )

    if base is None:
        for name, floor in evaluate.min.items():
            m = metrics[name]
            value = values[name]
            sign = "≥" if m.greater_is_better else "≤"
            ok = math.isfinite(value) and (
                value >= floor - TOLERANCE if m.greater_is_better else value <= floor + TOLERANCE
            )
            rows[name] = row(name, "floor", f"{sign} {floor:g}", ok)
            text = f"{name} {_fmt(value)} {sign} {floor:g}"
            (passes if ok else failures).append(text if ok else f"{text} does not hold")
        if not evaluate.min:
            passes.append("no floors to meet (evaluate.min is empty)")
    else:
        name = primary.name
        new, old = values[name], base[name]
        need = evaluate.min_improvement
        if evaluate.improvement == "relative":
            bound = f"≥ {need:+.2%} relative" if need > 0 else "> 0 relative"
            ok, shown = _relative_check(primary, new, old, need)
        else:
            bound = f"≥ {need:+g}" if need > 0 else "> 0"
            gain = (
                _gain(primary, new, old) if math.isfinite(new) and math.isfinite(old) else math.nan
            )
            # A tie is never an improvement, whatever min_improvement allows.
            ok = math.isfinite(gain) and gain > TOLERANCE and gain >= need - TOLERANCE
            shown = _signed(gain)
        rows[name] = row(name, "primary", bound, ok)
        text = f"{name} {_fmt(old)} → {_fmt(new)} (improvement {shown}, {bound} required)"
        if not (math.isfinite(new) and math.isfinite(old)):
            which = "challenger" if not math.isfinite(new) else "champion"
            failures.append(f"{name} is undefined (NaN) for the {which}")
        else:
            (passes if ok else failures).append(text)
        for guard in evaluate.guardrails:
            m = metrics[guard.metric]
            new, old = values[guard.metric], base[guard.metric]
            bound = f"≤ {guard.max_regression:g} worse"
            if not (math.isfinite(new) and math.isfinite(old)):
                ok = False
                failures.append(f"guardrail {guard.metric} is undefined (NaN)")
            else:
                worse = -_gain(m, new, old)
                ok = worse <= guard.max_regression + TOLERANCE
                if not ok:
                    failures.append(
                        f"guardrail {guard.metric} got worse by {worse:.4g} "
                        f"(at most {guard.max_regression:g} allowed)"
                    )
            if guard.metric in rows and rows[guard.metric].passed is not None:
                previous = rows[guard.metric]
                rows[guard.metric] = replace(
                    previous,
                    bound=f"{previous.bound}; {bound}",
                    passed=bool(previous.passed) and ok,
                )
            else:
                rows[guard.metric] = row(guard.metric, "guardrail", bound, ok)
        if evaluate.guardrails and not any(f.startswith("guardrail") for f in failures):
            passes.append(f"{len(evaluate.guardrails)} guardrail(s) held")
    ordered = [rows[n] for n in rows]
    ordered += [row(n, "info") for n in metrics if n not in rows]
    ordered.sort(key=lambda r: ("primary", "floor", "guardrail", "info").index(r.role))
    return ordered, failures, passes


def _relative_check(metric: Metric, new: float, old: float, need: float) -> tuple[bool, str]:
    if not (math.isfinite(new) and math.isfinite(old)):
        return False, "NaN"
    if old == 0:
        return False, "undefined (champion is 0)"
    relative = _gain(metric, new, old) / abs(old)
    return relative > TOLERANCE and relative >= need - TOLERANCE, f"{relative:+.2%}"


def _slices(
    slice_values: Mapping[str, Sequence[object] | np.ndarray],
    evaluate: EvaluateSettings,
    metrics: Mapping[str, Metric],
    challenger: Scored,
    champion: Scored | None,
    failures: list[str],
) -> list[SliceRow]:
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
                passed: bool | None = None
                bound = ""
                if allowed is not None and old is not None:
                    bound = f"≤ {allowed:g} worse"
                    if math.isfinite(new) and math.isfinite(old):
                        worse = -_gain(metric, new, old)
                        passed = worse <= allowed + TOLERANCE
                        if not passed:
                            failures.append(
                                f"guardrail {metric.name} on slice {column}={values[i]} got "
                                f"worse by {worse:.4g} (at most {allowed:g} allowed)"
                            )
                    else:
                        passed = False
                        failures.append(
                            f"guardrail {metric.name} is undefined (NaN) on slice "
                            f"{column}={values[i]}"
                        )
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


def _slice_keys(raw: Sequence[object] | np.ndarray) -> np.ndarray:
    """Slice values as text; missing values (None, NaN) are one slice, "(missing)"."""
    import numpy as np
    import pandas as pd

    series = pd.Series(np.asarray(raw, dtype=object))
    return np.asarray(series.where(series.notna(), "(missing)").astype(str), dtype=str)


# ---------------------------------------------------------------- the verdict on the run


def record_verdict(
    registry: ModelRegistry,
    candidate: ModelRef,
    *,
    is_better: bool,
    reason: str,
    primary: str,
    champion_version: str | None,
    metrics: Mapping[str, float | None] | None = None,
) -> None:
    """Write the verdict on the candidate's run, where `register` reads it."""
    from mlops_actions.registry import tag_value

    if not candidate.run_id:
        return
    tags = {
        "is_better": "true" if is_better else "false",
        "reason": reason,
        "primary_metric": primary,
        "champion_version": champion_version or "",
        "candidate": candidate.uri,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if metrics is not None:
        tags["metrics"] = json.dumps(metrics, sort_keys=True)
    try:
        for key, value in tags.items():
            registry.client.set_tag(candidate.run_id, VERDICT_PREFIX + key, tag_value(value))
    except Exception as exc:  # noqa: BLE001
        raise registry._backend(f"record the verdict on run {candidate.run_id}", exc) from None


def _record_verdict_quietly(registry: ModelRegistry, candidate: ModelRef, **kwargs: Any) -> None:
    with suppress(BackendError):  # the registry is failing already; the caller reports that
        record_verdict(registry, candidate, **kwargs)


@dataclass(frozen=True)
class Verdict:
    """The latest comparison recorded on a run."""

    is_better: bool
    reason: str
    candidate: str
    champion_version: str | None
    primary_metric: str
    metrics: dict[str, float | None]


def read_verdict(tags: Mapping[str, str]) -> Verdict | None:
    """The verdict among a run's tags, or None when the run was never compared."""
    flag = tags.get(VERDICT_PREFIX + "is_better")
    if flag not in ("true", "false"):
        return None
    try:
        metrics = json.loads(tags.get(VERDICT_PREFIX + "metrics", "{}"))
    except ValueError:
        metrics = {}
    return Verdict(
        is_better=flag == "true",
        reason=tags.get(VERDICT_PREFIX + "reason", ""),
        candidate=tags.get(VERDICT_PREFIX + "candidate", ""),
        champion_version=tags.get(VERDICT_PREFIX + "champion_version") or None,
        primary_metric=tags.get(VERDICT_PREFIX + "primary_metric", ""),
        metrics=metrics if isinstance(metrics, dict) else {},
    )
