"""Offline predictions and their comparison with served ones, shared by the steps.

smoke-test's parity check, canary's shadow comparison, compare-champion's scoring and the drift
report's model-output drift all need the same pieces: the holdout rows a model is asked about, the
model's own predictions in this process, the predictions inside a deployment's answer, and how far
two predictions are apart. Nothing here talks to a backend.
"""

from __future__ import annotations

import contextlib
import json
import math
from typing import TYPE_CHECKING, Any

from mlops_actions.errors import InputError

if TYPE_CHECKING:
    from mlops_actions.backends.endpoint import Invocation
    from mlops_actions.config import Settings


def holdout_rows(settings: Settings, n: int) -> Any:
    """The first `n` holdout rows, features only (None when no holdout is configured)."""
    data = settings.data
    if data.holdout is None:
        return None
    from mlops_actions.data import load_table

    frame = load_table(data.holdout, rev=data.dvc_rev)
    drop = [c for c in (data.target, data.id_column) if c and c in frame.columns]
    if data.features:
        missing = [c for c in data.features if c not in frame.columns]
        if missing:
            raise InputError(
                f"data.features names column(s) the holdout lacks: {', '.join(missing)};",
                hint=f"fix data.features or the holdout file {data.holdout}.",
            )
        frame = frame[list(data.features)]
    else:
        frame = frame.drop(columns=drop)
    return frame.head(n).reset_index(drop=True)


def served_predictions(answer: Invocation) -> list[Any] | None:
    body = answer.body
    if isinstance(body, dict) and "predictions" in body:
        body = body["predictions"]
    return body if isinstance(body, list) else None


def scalar(value: Any) -> Any:
    """A one-column prediction record (`{"0": 1}` or `[1]`) as its value."""
    if isinstance(value, dict) and len(value) == 1:
        return next(iter(value.values()))
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def json_records(frame: Any) -> list[dict[str, Any]]:
    """DataFrame rows as JSON-able dicts (NaN → null)."""
    records: list[dict[str, Any]] = json.loads(frame.to_json(orient="records", date_format="iso"))
    return records


class ModelFailed(Exception):
    """The model itself failed: its predict raised or gave the wrong number of predictions."""


def describe_exception(exc: BaseException, limit: int = 300) -> str:
    """`ValueError: message` on one line, at most `limit` characters of message (cut at a word)."""
    detail = " ".join(str(exc).split())
    if len(detail) > limit:
        detail = detail[: detail.rfind(" ", 0, limit) if " " in detail[:limit] else limit] + " …"
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def offline_predictions(model: Any, rows: Any) -> list[Any]:
    """The model's predictions for `rows` in this process, one JSON-able value per row.

    Raises ModelFailed when predict raises or does not return one prediction per row.
    """
    from mlflow.utils.proto_json_utils import _get_jsonable_obj

    try:
        raw = model.predict(rows)
        values = _get_jsonable_obj(raw, pandas_orient="records")  # type: ignore[no-untyped-call]
        values = json.loads(json.dumps(values, default=_jsonable))
    except Exception as exc:  # noqa: BLE001 - whatever the model raises is the model's failure
        raise ModelFailed(
            f"the model's predict raised offline on {len(rows)} holdout rows: "
            f"{describe_exception(exc)}"
        ) from None
    if not isinstance(values, list):
        values = [values]
    if len(values) != len(rows):
        raise ModelFailed(
            f"the model returned {len(values)} predictions offline for {len(rows)} holdout rows "
            "(one per row expected)"
        )
    return [scalar(v) for v in values]


def _jsonable(value: Any) -> Any:
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    return str(value)


def difference(served: Any, offline: Any) -> float:
    """|served − offline| for numbers, 0/1 for anything else (equal or not)."""
    numeric = (int, float)
    if (
        isinstance(served, numeric)
        and isinstance(offline, numeric)
        and not isinstance(served, bool)
        and not isinstance(offline, bool)
    ):
        if math.isnan(float(served)) and math.isnan(float(offline)):
            return 0.0
        return abs(float(served) - float(offline))
    return 0.0 if served == offline or str(served) == str(offline) else 1.0


def probability_scorer(model: Any) -> Any:
    """A function rows → positive-class probabilities when the model has `predict_proba`."""
    raw = None
    for getter in ("get_raw_model", "unwrap_python_model"):
        with contextlib.suppress(Exception):
            raw = getattr(model, getter)()
            break
    proba = getattr(raw, "predict_proba", None)
    if not callable(proba):
        return None

    def score(rows: Any) -> list[float]:
        import numpy as np

        values = np.asarray(proba(rows), dtype=float)
        if values.ndim == 2:
            values = values[:, 1] if values.shape[1] == 2 else values.max(axis=1)
        return [float(v) for v in values.ravel()]

    return score
