"""The vectorised drift engine: verdict agreement with Evidently 0.7.23, and bad input.

The `slow` tests run Evidently itself: its full `Report([DataDriftPreset(...)])` on 100k + 100k
rows × 25 columns for each method, and its stattest functions directly on many small random
samples. Everything else is fast and needs neither Evidently nor the network.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_actions.monitoring.drift_stats import (
    DEFAULT_THRESHOLDS,
    METHOD_DISPLAY_NAMES,
    SUPPORTED_METHODS,
    DriftInputError,
    DriftSummary,
    detect_drift,
)

# Importing Evidently warns: its source has invalid escape sequences (reported when compiled
# without a .pyc: DeprecationWarning on Python 3.11, SyntaxWarning from 3.12), and its UI imports
# deprecated litestar names.
pytestmark = [
    pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:invalid escape sequence:SyntaxWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:litestar.*"),
]

AGREEMENT_ROWS = 100_000
CATEGORIES = np.array(["red", "green", "blue", "black", "white", "grey"], dtype=object)


# --------------------------------------------------------------------------------------------
# Data for the agreement tests


def drift_frames(rows: int, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """20 numeric + 5 categorical columns; drift injected in some, some near the thresholds."""
    rng = np.random.default_rng(seed)
    ref: dict[str, Any] = {}
    cur: dict[str, Any] = {}

    def normal(name: str, shift: float = 0.0, scale: float = 1.0) -> None:
        ref[name] = rng.normal(0.0, 1.0, rows)
        cur[name] = rng.normal(shift, scale, rows)

    normal("n00")
    normal("n01")
    normal("n02")
    normal("n03")
    normal("n04", shift=0.02)  # KS notices at 100k rows, Wasserstein does not
    normal("n05", shift=0.015)  # near the KS threshold
    normal("n06", shift=0.1)  # near the Wasserstein threshold
    normal("n07", shift=0.095)
    normal("n08", shift=0.3)
    normal("n09", scale=1.3)
    normal("n10", scale=1.05)
    ref["n11"] = rng.lognormal(3.0, 1.0, rows)
    cur["n11"] = rng.lognormal(3.1, 1.0, rows)
    ref["n12"] = rng.integers(18, 91, rows)  # int, many values → numeric
    cur["n12"] = rng.integers(18, 94, rows)
    ref["n13"] = rng.integers(0, 16, rows)  # int, 16 values → numeric, binned by value
    cur["n13"] = rng.integers(0, 16, rows)
    ref["n14"] = rng.choice([0.0, 1.0, 2.0], rows, p=[0.5, 0.3, 0.2])  # few float values
    cur["n14"] = rng.choice([0.0, 1.0, 2.0], rows, p=[0.45, 0.33, 0.22])
    ref["n15"] = (rng.random(rows) < 0.30).astype(float)  # binary float
    cur["n15"] = (rng.random(rows) < 0.33).astype(float)
    normal("n16")
    ref["n16"][rng.random(rows) < 0.05] = np.nan  # nulls on both sides
    cur["n16"][rng.random(rows) < 0.05] = np.nan
    normal("n17", shift=0.05)
    cur["n17"][rng.random(rows) < 0.10] = np.nan  # nulls in current only
    ref["n18"] = rng.uniform(0, 100, rows)
    cur["n18"] = rng.uniform(0, 100, rows)
    ref["n19"] = rng.standard_t(3, rows)
    cur["n19"] = rng.standard_t(3, rows) * 1.1

    uniform = np.full(6, 1 / 6)
    ref["c0"] = rng.choice(CATEGORIES, rows, p=uniform)
    cur["c0"] = rng.choice(CATEGORIES, rows, p=uniform)
    ref["c1"] = rng.choice(CATEGORIES, rows, p=uniform)
    cur["c1"] = rng.choice(CATEGORIES, rows, p=[0.3, 0.2, 0.15, 0.15, 0.1, 0.1])
    ref["c2"] = rng.choice(CATEGORIES, rows, p=uniform)
    cur["c2"] = rng.choice(CATEGORIES, rows, p=[0.19, 0.17, 0.16, 0.16, 0.16, 0.16])
    ref["c2"][rng.random(rows) < 0.02] = None
    cur["c2"][rng.random(rows) < 0.02] = None
    ref["c3"] = rng.random(rows) < 0.40  # bool
    cur["c3"] = rng.random(rows) < 0.42
    ref["c4"] = rng.choice([1, 2, 3, 4], rows, p=[0.4, 0.3, 0.2, 0.1])  # int, 4 values → cat
    cur["c4"] = rng.choice([1, 2, 3, 4], rows, p=[0.35, 0.3, 0.2, 0.15])
    return pd.DataFrame(ref), pd.DataFrame(cur)


def run_evidently(
    reference: pd.DataFrame, current: pd.DataFrame, **preset: Any
) -> tuple[dict[str, dict[str, Any]], float, bool]:
    """Evidently's per-column results and dataset verdict, from its own report."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    snapshot = Report([DataDriftPreset(**preset)], include_tests=True).run(current, reference)
    data = snapshot.dict()
    by_id: dict[str, dict[str, Any]] = {}
    share = math.nan
    for metric in data["metrics"]:
        config = metric["config"]
        if config["type"].endswith(":ValueDrift"):
            by_id[metric["id"]] = {
                "column": config["column"],
                "score": metric["value"],
                "method": config["method"],
                "threshold": config["threshold"],
            }
        elif config["type"].endswith(":DriftedColumnsCount"):
            share = metric["value"]["share"]
    columns: dict[str, dict[str, Any]] = {}
    dataset_drift = None
    for test in data["tests"]:
        metric_id = test["metric_config"]["metric_id"]
        if metric_id in by_id:
            entry = by_id[metric_id]
            columns[entry["column"]] = {**entry, "drifted": test["status"] == "FAIL"}
        elif test["id"] == "lt":
            dataset_drift = test["status"] == "FAIL"
    assert dataset_drift is not None
    return columns, share, dataset_drift


def assert_agrees(ours: DriftSummary, theirs: dict[str, dict[str, Any]]) -> None:
    assert {c.column for c in ours.columns} == set(theirs)
    for col in ours.columns:
        them = theirs[col.column]
        assert col.method is not None and col.score is not None, col
        # Evidently records the method's name when configured, its display name when defaulted
        assert them["method"] in (col.method, METHOD_DISPLAY_NAMES[col.method]), col
        assert them["threshold"] == pytest.approx(col.threshold), col
        assert col.drifted == them["drifted"], (col, them)
        assert math.isclose(col.score, them["score"], rel_tol=1e-9, abs_tol=1e-12), (col, them)


@pytest.fixture(scope="module")
def frames_100k() -> tuple[pd.DataFrame, pd.DataFrame]:
    return drift_frames(AGREEMENT_ROWS)


AGREEMENT_CONFIGS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "ks+chisquare": {"num_method": "ks", "cat_method": "chisquare"},
    "wasserstein+psi, thresholds": {
        "num_method": "wasserstein",
        "cat_method": "psi",
        "num_threshold": 0.05,
        "cat_threshold": 0.01,
    },
    "jensenshannon for all": {"method": "jensenshannon", "threshold": 0.02},
    "psi+z, per column": {
        "num_method": "psi",
        "cat_method": "z",
        "per_column_method": {"n00": "ks", "n06": "wasserstein", "c0": "chisquare"},
        "per_column_threshold": {"n06": 0.099, "n14": 0.001, "c1": 0.2},
        "drift_share": 0.3,
    },
}


@pytest.mark.slow
@pytest.mark.parametrize("config", list(AGREEMENT_CONFIGS), ids=list(AGREEMENT_CONFIGS))
def test_verdicts_agree_with_evidently_column_by_column(
    frames_100k: tuple[pd.DataFrame, pd.DataFrame], config: str
) -> None:
    reference, current = frames_100k
    options = AGREEMENT_CONFIGS[config]
    theirs, share, dataset_drift = run_evidently(reference, current, **options)
    ours = detect_drift(reference, current, **options)

    assert_agrees(ours, theirs)
    assert ours.drifted_share == pytest.approx(share, abs=1e-12)
    assert ours.dataset_drift == dataset_drift
    # the data must exercise both verdicts
    assert 0 < ours.number_of_drifted_columns < len(ours.columns)


@pytest.mark.slow
def test_default_methods_follow_evidently_at_both_sizes(
    frames_100k: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """≤ 1000 reference rows: ks / chisquare / z, including numeric columns with few values."""
    reference, current = drift_frames(800, seed=3)
    theirs, share, dataset_drift = run_evidently(reference, current)
    ours = detect_drift(reference, current)
    assert_agrees(ours, theirs)
    assert ours.drifted_share == pytest.approx(share, abs=1e-12)
    assert ours.dataset_drift == dataset_drift
    methods = {c.column: c.method for c in ours.columns}
    assert methods["n00"] == "ks"
    assert methods["n14"] == "chisquare"  # numeric, 3 values
    assert methods["n15"] == "z"  # numeric, 2 values
    assert methods["c0"] == "chisquare"
    assert methods["c3"] == "z"

    big = {c.column: c.method for c in detect_drift(*frames_100k).columns}
    assert big["n00"] == "wasserstein"
    assert big["n13"] == "wasserstein"  # 16 values
    assert big["n14"] == "jensenshannon"  # ≤ 5 values
    assert big["c0"] == big["c3"] == big["c4"] == "jensenshannon"


def _evidently_stattest(
    reference: pd.Series, current: pd.Series, kind: str, method: str | None, threshold: float | None
) -> tuple[str, float, bool]:
    from evidently.legacy.calculations.stattests import get_stattest
    from evidently.legacy.core import ColumnType

    column_type = ColumnType.Numerical if kind == "num" else ColumnType.Categorical
    ref = reference.replace([-np.inf, np.inf], np.nan).dropna()
    cur = current.replace([-np.inf, np.inf], np.nan).dropna()
    test = get_stattest(ref, cur, column_type, method)
    with warnings.catch_warnings():
        # what scipy says (and our engine does not) in Evidently's calls: an exact KS p-value
        # out of reach (→ asymptotic), and a category unseen in the reference (→ chi² = inf)
        warnings.filterwarnings(
            "ignore", "ks_2samp: Exact calculation unsuccessful", RuntimeWarning
        )
        warnings.filterwarnings("ignore", "divide by zero encountered in divide", RuntimeWarning)
        result = test(ref, cur, column_type, threshold)
    return test.name, float(result.drift_score), bool(result.drifted)


def _random_column(rng: np.random.Generator, size: int, shift: float) -> pd.Series:
    shape = rng.integers(0, 6)
    if shape == 0:  # continuous float64 with nulls and infinities
        x = rng.normal(shift, 1.0, size)
        x[rng.random(size) < 0.05] = np.nan
        x[rng.random(size) < 0.01] = np.inf
        return pd.Series(x)
    if shape == 1:  # float32 (binning uses float32 edges)
        return pd.Series(rng.normal(shift, 1.0, size).astype(np.float32))
    if shape == 2:  # integers with ties, sometimes < 1 bin width
        return pd.Series(rng.integers(0, rng.integers(12, 60), size) + int(shift * 3))
    if shape == 3:  # few rounded values: ties everywhere
        return pd.Series(np.round(rng.normal(shift, 1.0, size), 1))
    if shape == 4:  # a handful of float values
        return pd.Series(rng.choice([0.0, 0.5, 1.0, 4.0][: rng.integers(1, 5)], size))
    return pd.Series(rng.exponential(1.0 + shift, size) - 1.0)  # skewed, negative and positive


@pytest.mark.slow
def test_scores_match_evidently_stattests_on_random_samples() -> None:
    """Evidently's own stattest functions as the oracle, on many sizes, dtypes, ties and bins."""
    rng = np.random.default_rng(11)
    methods: list[str | None] = [None, "ks", "wasserstein", "jensenshannon", "psi"]
    checked = 0
    for case in range(160):
        size_ref = int(rng.choice([5, 30, 200, 1000, 1001, 3000, 12_000]))
        size_cur = int(rng.choice([5, 30, 200, 1000, 1001, 3000, 12_000]))
        shift = float(rng.choice([0.0, 0.05, 0.3]))
        ref = _random_column(np.random.default_rng(case), size_ref, 0.0)
        cur = _random_column(np.random.default_rng(case), size_cur, shift)
        method = methods[case % len(methods)]
        threshold = None if case % 3 else float(rng.choice([0.01, 0.05, 0.2]))
        frame_ref, frame_cur = pd.DataFrame({"x": ref}), pd.DataFrame({"x": cur})
        ours = detect_drift(frame_ref, frame_cur, num_method=method, num_threshold=threshold)
        col = ours.columns[0]
        if col.kind != "num" or col.score is None:
            continue
        name, score, drifted = _evidently_stattest(ref, cur, "num", method, threshold)
        assert col.method == name, (case, col)
        assert math.isclose(col.score, score, rel_tol=1e-9, abs_tol=1e-12), (case, col, score)
        assert col.drifted == drifted, (case, col, score)
        checked += 1
    assert checked > 100


@pytest.mark.slow
def test_categorical_scores_match_evidently_stattests() -> None:
    rng = np.random.default_rng(5)
    labels = np.array(["a", "b", "c", "d", "e", "f"], dtype=object)
    checked = 0
    for case in range(60):
        k_ref, k_cur = int(rng.integers(1, 7)), int(rng.integers(1, 7))
        size_ref = int(rng.choice([10, 300, 1000, 1001, 5000]))
        size_cur = int(rng.choice([10, 300, 1000, 1001, 5000]))
        ref = pd.Series(rng.choice(labels[:k_ref], size_ref), dtype=object)
        cur = pd.Series(rng.choice(labels[:k_cur], size_cur), dtype=object)
        method = [None, "chisquare", "z", "jensenshannon", "psi"][case % 5]
        ours = detect_drift(
            pd.DataFrame({"x": ref}), pd.DataFrame({"x": cur}), cat_method=method
        ).columns[0]
        if ours.kind != "cat":
            continue  # a tiny sample of strings can look like free text
        name, score, drifted = _evidently_stattest(ref, cur, "cat", method, None)
        assert ours.method == name, (case, ours)
        assert math.isclose(ours.score or 0.0, score, rel_tol=1e-9, abs_tol=1e-12), (case, ours)
        assert ours.drifted == drifted, (case, ours, score)
        checked += 1
    assert checked > 40


@pytest.mark.slow
def test_column_kinds_follow_evidently_inference() -> None:
    from evidently.core.datasets import infer_column_type
    from evidently.legacy.core import ColumnType

    rng = np.random.default_rng(0)
    expected = {ColumnType.Numerical: "num", ColumnType.Categorical: "cat", ColumnType.Text: "text"}
    samples = {
        "float": pd.Series(rng.normal(size=100)),
        "float few values": pd.Series([0.0, 1.0] * 50),
        "int 10 values": pd.Series(np.arange(100) % 10),
        "int 11 values": pd.Series(np.arange(100) % 11),
        "strings, repeats": pd.Series(["a", "b", "c"] * 40, dtype=object),
        "strings, unique": pd.Series([f"id-{i}" for i in range(100)], dtype=object),
        "string dtype": pd.Series(["a", "b"] * 50, dtype="string"),
        "bool": pd.Series([True, False] * 50),
        "category": pd.Series(["x", "y"] * 50, dtype="category"),
    }
    for label, series in samples.items():
        other = pd.DataFrame({"x": series.iloc[::-1].reset_index(drop=True)})
        ours = detect_drift(other, pd.DataFrame({"x": series})).columns[0].kind
        assert ours == expected[infer_column_type(series)], label


def test_chisquare_unseen_category_gives_p_zero_without_warnings() -> None:
    ref = pd.DataFrame({"c": ["a", "b"] * 500})
    cur = pd.DataFrame({"c": ["a", "b", "new"] * 400})
    col = detect_drift(ref, cur, cat_method="chisquare").columns[0]
    assert col.score == pytest.approx(0.0, abs=1e-12)
    assert col.drifted
    assert col.note is not None and "1 categories unseen in reference ('new')" in col.note


# --------------------------------------------------------------------------------------------
# Bad and unusual input


@pytest.fixture
def small() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(1)
    n = 5000
    ref = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "y": rng.normal(size=n),
            "age": rng.integers(18, 90, n),
            "colour": rng.choice(CATEGORIES, n),
        }
    )
    cur = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "y": rng.normal(1.0, 1.0, n),
            "age": rng.integers(18, 90, n),
            "colour": rng.choice(CATEGORIES, n),
        }
    )
    return ref, cur


def test_clean_frames_give_a_verdict_per_column(small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    summary = detect_drift(*small)
    assert [c.column for c in summary.columns] == ["x", "y", "age", "colour"]
    assert [c.kind for c in summary.columns] == ["num", "num", "num", "cat"]
    assert summary.drifted_columns == ("y",)
    assert summary.drifted_share == pytest.approx(0.25)
    assert not summary.dataset_drift
    assert all(c.note is None for c in summary.columns)
    assert summary.column("y").method == "wasserstein"
    assert summary.column("y").threshold == DEFAULT_THRESHOLDS["wasserstein"] == 0.1
    assert summary.as_dict()["number_of_drifted_columns"] == 1


def test_missing_and_extra_columns_are_reported_not_counted(
    small: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    ref, cur = small
    cur = cur.drop(columns=["x"]).assign(extra=1.0)
    summary = detect_drift(ref, cur)
    x, extra = summary.column("x"), summary.column("extra")
    assert (x.note, x.score, x.drifted, x.counted) == ("missing in current", None, False, False)
    assert (extra.note, extra.score, extra.counted) == ("missing in reference", None, False)
    assert summary.number_of_columns == 3
    assert summary.drifted_share == pytest.approx(1 / 3)


def test_dtype_change_to_strings_is_drift_with_a_note(
    small: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    ref, cur = small
    cur = cur.assign(age=cur["age"].astype(str).astype(object))
    col = detect_drift(ref, cur).column("age")
    assert col.note == "dtype changed int64 → object"
    assert col.drifted and col.score is None and col.counted


def test_int_to_float_is_compatible_and_noted(small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, cur = small
    cur = cur.assign(age=cur["age"].astype(float))
    cur.loc[:9, "age"] = np.nan
    col = detect_drift(ref, cur).column("age")
    assert col.note == "dtype changed int64 → float64"
    assert col.score is not None and not col.drifted
    assert col.current_count == len(cur) - 10


def test_all_null_columns(small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, cur = small
    ref = ref.assign(gone=np.nan, later=np.nan, colour_ref=None)
    cur = cur.assign(gone=np.nan, later=np.arange(len(cur), dtype=float), x=np.nan)
    summary = detect_drift(ref, cur)
    x, gone, later = summary.column("x"), summary.column("gone"), summary.column("later")
    assert (x.note, x.drifted, x.score, x.counted) == ("all null in current", True, None, True)
    assert (later.note, later.drifted) == ("all null in reference", True)
    assert (gone.note, gone.drifted, gone.counted) == (
        "all null in reference and current",
        False,
        False,
    )
    assert summary.column("colour_ref").note == "missing in current"


def test_infinities_are_dropped_like_nulls() -> None:
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"x": rng.normal(size=2000), "inf": np.full(2000, np.inf)})
    x = rng.normal(size=2000)
    x[:100] = np.inf
    x[100:200] = -np.inf
    cur = pd.DataFrame({"x": x, "inf": rng.normal(size=2000)})
    summary = detect_drift(ref, cur)
    assert summary.column("x").current_count == 1800
    assert not summary.column("x").drifted
    assert summary.column("inf").note == "no finite values in reference"
    assert summary.column("inf").drifted


def test_constant_columns() -> None:
    ref = pd.DataFrame({"same": np.full(3000, 2.5), "moved": np.full(3000, 2.5), "cat": "a"})
    cur = pd.DataFrame({"same": np.full(3000, 2.5), "moved": np.full(3000, 3.5), "cat": "a"})
    summary = detect_drift(ref, cur, num_method="wasserstein")
    same, moved, cat = summary.column("same"), summary.column("moved"), summary.column("cat")
    assert (same.score, same.drifted) == (0.0, False)
    assert same.note == "constant in reference and current"
    # Evidently floors the reference std at 0.001: a 1.0 move is a normed distance of 1000
    assert moved.score == pytest.approx(1000.0)
    assert moved.drifted
    assert (cat.kind, cat.score, cat.drifted) == ("cat", 0.0, False)
    # the default for ≤ 5 distinct values at > 1000 rows is Jensen-Shannon
    assert detect_drift(ref, cur).column("moved").method == "jensenshannon"


def test_unseen_categories_are_noted() -> None:
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"c": rng.choice(CATEGORIES[:4], 4000)})
    cur = pd.DataFrame({"c": rng.choice(CATEGORIES, 4000)})
    col = detect_drift(ref, cur).columns[0]
    assert col.method == "jensenshannon"
    assert col.drifted
    assert col.note == "2 categories unseen in reference ('white', 'grey')" or col.note == (
        "2 categories unseen in reference ('grey', 'white')"
    )


def test_high_cardinality_text_is_skipped_with_a_note() -> None:
    n = 6000
    ref = pd.DataFrame({"comment": [f"text number {i}" for i in range(n)], "x": np.arange(n) * 1.0})
    cur = pd.DataFrame(
        {"comment": [f"other {i % 5000}" for i in range(n)], "x": np.arange(n) * 1.0}
    )
    summary = detect_drift(ref, cur)
    col = summary.column("comment")
    assert col.kind == "text"
    assert col.note == "skipped: text column (5000 distinct values in 6000 rows)"
    assert not col.counted
    assert summary.number_of_columns == 1


def test_categorical_columns_above_the_limit_are_skipped() -> None:
    ref = pd.DataFrame({"code": [f"c{i % 300}" for i in range(3000)]})
    cur = pd.DataFrame({"code": [f"c{i % 320}" for i in range(3000)]})
    col = detect_drift(ref, cur, cat_max_unique=100).columns[0]
    assert col.note == "skipped: 320 distinct values (cat_max_unique=100)"
    assert col.score is None and not col.counted
    assert detect_drift(ref, cur).columns[0].score is not None


def test_datetime_columns_are_not_analysed() -> None:
    when = pd.Series(pd.date_range("2024-01-01", periods=100, freq="h"))
    summary = detect_drift(pd.DataFrame({"t": when}), pd.DataFrame({"t": when}))
    assert summary.columns[0].kind == "other"
    assert summary.columns[0].note == "skipped: datetime64[ns] column is not analysed"
    assert summary.drifted_share == pytest.approx(0.0) and not summary.dataset_drift


def test_nullable_dtypes_are_analysed() -> None:
    rng = np.random.default_rng(4)
    n = 3000
    ints = pd.array(rng.integers(0, 50, n), dtype="Int64")
    ints[:10] = pd.NA
    ref = pd.DataFrame({"i": ints, "f": pd.array(rng.normal(size=n), dtype="Float64")})
    cur = pd.DataFrame(
        {
            "i": pd.array(rng.integers(0, 50, n), dtype="Int64"),
            "f": pd.array(rng.normal(size=n), dtype="Float64"),
        }
    )
    summary = detect_drift(ref, cur, num_method="ks")
    assert [c.kind for c in summary.columns] == ["num", "num"]
    assert summary.column("i").reference_count == n - 10
    plain = detect_drift(ref.astype({"i": float, "f": float}), cur.astype(float), num_method="ks")
    assert summary.column("f").score == pytest.approx(plain.column("f").score, rel=1e-12)
    assert summary.column("i").score == pytest.approx(plain.column("i").score, rel=1e-12)


def test_dataset_drift_at_exactly_the_share() -> None:
    rng = np.random.default_rng(6)
    n = 4000
    ref = pd.DataFrame({k: rng.normal(size=n) for k in "abcd"})
    cur = pd.DataFrame({k: rng.normal(1.0 if k in "ab" else 0.0, 1.0, n) for k in "abcd"})
    summary = detect_drift(ref, cur, drift_share=0.5)
    assert summary.drifted_columns == ("a", "b")
    assert (
        summary.drifted_share == pytest.approx(0.5) and summary.dataset_drift
    )  # share ≥ drift_share
    assert not detect_drift(ref, cur, drift_share=0.51).dataset_drift


def test_columns_selects_and_orders(small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    summary = detect_drift(*small, columns=["colour", "y"])
    assert [c.column for c in summary.columns] == ["colour", "y"]
    with pytest.raises(DriftInputError, match="columns not found in reference or current data: z"):
        detect_drift(*small, columns=["y", "z"])


def test_threads_do_not_change_results(small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    assert detect_drift(*small, workers=1) == detect_drift(*small, workers=2)


@pytest.mark.parametrize("empty", ["reference", "current"])
def test_empty_frame_raises_a_clear_value_error(
    small: tuple[pd.DataFrame, pd.DataFrame], empty: str
) -> None:
    ref, cur = small
    if empty == "reference":
        ref = ref.iloc[:0]
    else:
        cur = cur.iloc[:0]
    with pytest.raises(ValueError, match=f"{empty} data has no rows"):
        detect_drift(ref, cur)


def test_bad_configuration_raises(small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    with pytest.raises(ValueError, match="unknown drift method 'anderson'"):
        detect_drift(*small, num_method="anderson")
    with pytest.raises(ValueError, match="num_method 'chisquare' cannot test numerical"):
        detect_drift(*small, num_method="chisquare")
    with pytest.raises(ValueError, match="drift method 'ks' cannot test categorical column"):
        detect_drift(*small, method="ks")
    with pytest.raises(ValueError, match="drift_share must be between 0 and 1"):
        detect_drift(*small, drift_share=1.5)
    with pytest.raises(ValueError, match="thresholds must be finite"):
        detect_drift(*small, per_column_threshold={"x": math.nan})
    assert set(SUPPORTED_METHODS) == {"ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi"}
