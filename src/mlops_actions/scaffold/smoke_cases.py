"""Golden smoke cases drafted from holdout rows, before any model exists.

A golden case must hold for every reasonable model, or the first rollout of a good model is
rolled back. So a case is a holdout row that sits deep inside its own kind in the training data:
all of its nearest training neighbours agree on the label (classification), or their targets lie
close together (regression: the expected range is their mean with a wide margin). Such a case
fails only a model that is broken (constant output, shuffled columns, wrong scale), which is what a
smoke test is for. One more case, a plain holdout row with `"expected": "any"`, checks that a
request of real shape gets a valid answer.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlops_actions.scaffold.profile import DataProfile

NEIGHBOURS = 15
SAMPLE_ROWS = 5000
CASES_PER_CLASS = 2
REGRESSION_CASES = 3


def draft_cases(
    train: pd.DataFrame, holdout: pd.DataFrame, data: DataProfile
) -> list[dict[str, Any]]:
    """JSON-ready smoke cases (`name`, `input`, `expected`) for smoke.cases."""
    train = _sample(train.dropna(subset=[data.target]))
    holdout = _sample(holdout.dropna(subset=[data.target]))
    cases: list[dict[str, Any]] = []
    if len(train) >= NEIGHBOURS and len(holdout):
        distance, index = _neighbours(train, holdout, data)
        labels = train[data.target].to_numpy()[index]
        if data.task == "classification":
            cases += _class_cases(holdout, data, labels, distance)
        else:
            cases += _range_cases(holdout, data, labels, distance, train[data.target])
    if len(holdout):
        row = holdout.iloc[0]
        cases.append({"name": "a holdout row", "input": _inputs(row, data), "expected": "any"})
    return cases


def to_jsonl(cases: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(case, ensure_ascii=False, allow_nan=False) + "\n" for case in cases)


def _sample(frame: pd.DataFrame) -> pd.DataFrame:
    return frame if len(frame) <= SAMPLE_ROWS else frame.sample(SAMPLE_ROWS, random_state=0)


def _neighbours(
    train: pd.DataFrame, holdout: pd.DataFrame, data: DataProfile
) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices of each holdout row's nearest training rows, on scaled features."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.neighbors import NearestNeighbors
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    features = list(data.features)
    numeric = [c for c in features if _is_numeric(train[c])]
    other = [c for c in features if c not in numeric]
    encode = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="(missing)"),
                    OneHotEncoder(handle_unknown="ignore", max_categories=20),
                ),
                other,
            ),
        ],
        sparse_threshold=0.0,
    )
    fitted = encode.fit_transform(train[features].astype({c: str for c in other}))
    search = NearestNeighbors(n_neighbors=NEIGHBOURS).fit(fitted)
    query = encode.transform(holdout[features].astype({c: str for c in other}))
    distance, index = search.kneighbors(query)
    return distance, index


def _class_cases(
    holdout: pd.DataFrame, data: DataProfile, labels: np.ndarray, distance: np.ndarray
) -> list[dict[str, Any]]:
    import numpy as np

    own = holdout[data.target].to_numpy()
    unanimous = (labels == own[:, None]).all(axis=1)
    closeness = distance.mean(axis=1)
    cases = []
    for value in data.classes:
        rows = np.flatnonzero(unanimous & (own == value))
        for i in rows[np.argsort(closeness[rows], kind="stable")][:CASES_PER_CLASS]:
            cases.append(
                {
                    "name": f"typical {data.target}={_plain(value)} (holdout row {i})",
                    "input": _inputs(holdout.iloc[i], data),
                    "expected": _plain(value),
                }
            )
    return cases


def _range_cases(
    holdout: pd.DataFrame,
    data: DataProfile,
    targets: np.ndarray,
    distance: np.ndarray,
    all_targets: pd.Series,
) -> list[dict[str, Any]]:
    import numpy as np

    values = targets.astype(float)
    spread = values.std(axis=1)
    overall = float(all_targets.std()) or 1.0
    cases = []
    for i in np.argsort(spread + 0.01 * distance.mean(axis=1), kind="stable")[:REGRESSION_CASES]:
        centre = float(values[i].mean())
        margin = max(3 * float(spread[i]), 0.5 * overall)
        cases.append(
            {
                "name": f"typical {data.target}≈{centre:.4g} (holdout row {i})",
                "input": _inputs(holdout.iloc[i], data),
                "expected": {"min": _round(centre - margin), "max": _round(centre + margin)},
            }
        )
    return cases


def _inputs(row: pd.Series, data: DataProfile) -> dict[str, Any]:
    return {c: _plain(row[c]) for c in data.features}


def _plain(value: Any) -> Any:
    """A JSON value: numpy scalars as Python ones, NaN and NaT as null."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _round(value: float) -> float:
    return float(f"{value:.6g}")


def _is_numeric(series: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(series.dtype)) and not pd.api.types.is_bool_dtype(
        series.dtype
    )
