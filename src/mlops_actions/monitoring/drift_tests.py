"""The drift tests behind `monitoring.drift_stats`: Evidently's methods (names, defaults, which
column kinds they test), their statistics on counts, and the sorted-merge engine that reads the
numeric tests off two sorted columns. See `drift_stats` for the semantics reproduced.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_actions.errors import InputError

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import NDArray


class DriftInputError(InputError, ValueError):
    """Raised for inputs drift cannot be computed from: empty frames, unknown or misused methods."""


@dataclass(frozen=True)
class _Method:
    display_name: str
    kinds: frozenset[str]  # kinds a user may ask it for (Evidently's allowed_feature_types)
    default_threshold: float
    p_value: bool
    inclusive: bool  # p-value methods: drift when p <= threshold (ks) rather than p < threshold


METHODS: dict[str, _Method] = {
    "ks": _Method("K-S p_value", frozenset({"num"}), 0.05, True, True),
    "chisquare": _Method("chi-square p_value", frozenset({"cat"}), 0.05, True, False),
    "z": _Method("Z-test p_value", frozenset({"cat"}), 0.05, True, False),
    "wasserstein": _Method("Wasserstein distance (normed)", frozenset({"num"}), 0.1, False, True),
    "jensenshannon": _Method(
        "Jensen-Shannon distance", frozenset({"num", "cat"}), 0.1, False, True
    ),
    "psi": _Method("PSI", frozenset({"num", "cat"}), 0.1, False, True),
}

SUPPORTED_METHODS: tuple[str, ...] = tuple(METHODS)
"""Evidently's names of the methods this engine reproduces."""
METHOD_DISPLAY_NAMES: Mapping[str, str] = {k: m.display_name for k, m in METHODS.items()}
"""Evidently's display names (what its report shows as "stattest")."""
DEFAULT_THRESHOLDS: Mapping[str, float] = {k: m.default_threshold for k, m in METHODS.items()}

_KS_EXACT_MAX_N = 10_000  # scipy's ks_2samp(method="auto") is exact up to this many rows per side
_BIN_BY_VALUE_MAX = 20  # get_binned_data: numeric reference with ≤ 20 distinct values → per value


def is_p_value_method(method: str) -> bool:
    """True when the method's score is a p-value (drift when it is small)."""
    return method_spec(method).p_value


def method_spec(name: str) -> _Method:
    try:
        return METHODS[name]
    except KeyError:
        raise DriftInputError(
            f"unknown drift method {name!r}",
            hint=f"use one of: {', '.join(SUPPORTED_METHODS)}.",
        ) from None


# --------------------------------------------------------------------------------------------
# Statistics on counts (small vectors: one entry per bin or category)


def _psi(ref_pct: NDArray[np.float64], cur_pct: NDArray[np.float64]) -> float:
    ref_pct, cur_pct = _fill_zeroes(ref_pct), _fill_zeroes(cur_pct)
    return float(np.sum((ref_pct - cur_pct) * np.log(ref_pct / cur_pct)))


def _fill_zeroes(pct: NDArray[np.float64]) -> NDArray[np.float64]:
    pct = pct.copy()
    nonzero = pct[pct != 0]
    if nonzero.size:
        smallest = float(nonzero.min())
        np.place(pct, pct == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)
    return pct


def _jensenshannon(ref_pct: NDArray[np.float64], cur_pct: NDArray[np.float64]) -> float:
    from scipy.spatial import distance

    return float(distance.jensenshannon(ref_pct, cur_pct))


def _chisquare(ref_counts: NDArray[np.int64], cur_counts: NDArray[np.int64]) -> float:
    from scipy.stats import chisquare

    k_norm = int(cur_counts.sum()) / int(ref_counts.sum())
    f_exp = ref_counts * k_norm
    with np.errstate(divide="ignore", invalid="ignore"):  # unseen category → inf → p = 0
        return float(chisquare(cur_counts, f_exp)[1])


def _ztest(
    keys: Sequence[Any], ref_counts: NDArray[np.int64], cur_counts: NDArray[np.int64]
) -> float:
    from scipy.stats import norm

    ref_present, cur_present = np.flatnonzero(ref_counts), np.flatnonzero(cur_counts)
    if ref_present.size == 1 and cur_present.size == 1 and ref_present[0] == cur_present[0]:
        return 1.0
    first = _sorted_keys(keys)[0]
    n1, n2 = int(ref_counts.sum()), int(cur_counts.sum())
    p1 = float(n1 - int(ref_counts[first])) / n1
    p2 = float(n2 - int(cur_counts[first])) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - norm.cdf(np.abs(z))))


def _sorted_keys(keys: Sequence[Any]) -> list[int]:
    """Positions of `keys` in ascending order (by repr for keys that do not compare)."""
    order = list(range(len(keys)))
    try:
        order.sort(key=lambda i: keys[i])
    except TypeError:
        order.sort(key=lambda i: (type(keys[i]).__name__, repr(keys[i])))
    return order


def score_counts(
    method: str, keys: Sequence[Any], ref_counts: NDArray[np.int64], cur_counts: NDArray[np.int64]
) -> float:
    if method == "chisquare":
        return _chisquare(ref_counts, cur_counts)
    if method == "z":
        return _ztest(keys, ref_counts, cur_counts)
    ref_pct = ref_counts / int(ref_counts.sum())
    cur_pct = cur_counts / int(cur_counts.sum())
    if method == "psi":
        return _psi(ref_pct, cur_pct)
    if method == "jensenshannon":
        return _jensenshannon(ref_pct, cur_pct)
    raise AssertionError(method)  # pragma: no cover - guarded by _plan


def drifted_by(method: str, score: float, threshold: float) -> bool:
    spec = METHODS[method]
    if spec.p_value:
        return score <= threshold if spec.inclusive else score < threshold
    return score >= threshold


# --------------------------------------------------------------------------------------------
# Numeric columns: sort once, merge once


class NumericPair:
    """Sorted finite values of one column in both frames, and what is read off them."""

    def __init__(self, ref: pd.Series, cur: pd.Series) -> None:
        a, b = _sorted_finite(ref), _sorted_finite(cur)
        if a.dtype != b.dtype:  # e.g. int64 reference, float64 current: as pd.concat would
            common = np.result_type(a.dtype, b.dtype)
            a, b = a.astype(common), b.astype(common)
        self.a, self.b = a, b
        self.n1, self.n2 = int(a.size), int(b.size)

    @property
    def is_integer(self) -> bool:
        return bool(np.issubdtype(self.a.dtype, np.integer))

    def ref_nunique(self) -> int:
        return _nunique_sorted(self.a)

    def union_nunique_at_most(self, limit: int) -> int | None:
        """Distinct values of reference ∪ current when ≤ limit, else None (without merging)."""
        if _nunique_sorted(self.a) > limit or _nunique_sorted(self.b) > limit:
            return None
        n = int(np.union1d(_unique_sorted(self.a), _unique_sorted(self.b)).size)
        return n if n <= limit else None

    def merged(self) -> tuple[NDArray[Any], NDArray[np.int64], NDArray[np.int64]]:
        """Distinct values of the union (ascending) and the counts ≤ each in reference, current.

        Not cached: each column runs one test, and the arrays are freed as soon as it is done.
        """
        n1 = self.n1
        both = np.concatenate((self.a, self.b))
        order = np.argsort(both, kind="stable")  # two sorted runs: a linear merge
        values = both[order]
        del both
        from_ref = order < n1
        del order
        ends = np.empty(values.size, dtype=bool)
        np.not_equal(values[1:], values[:-1], out=ends[:-1])
        ends[-1] = True
        le_ref = np.cumsum(from_ref, dtype=np.int64)
        del from_ref
        if ends.all():  # no ties (the usual case for continuous data)
            le_cur = np.arange(1, values.size + 1, dtype=np.int64)
            le_cur -= le_ref
            return values, le_ref, le_cur
        at = np.flatnonzero(ends)
        del ends
        le_ref = le_ref[at]
        le_cur = at + 1
        le_cur -= le_ref
        return values[at], le_ref, le_cur

    def value_counts(self) -> tuple[NDArray[Any], NDArray[np.int64], NDArray[np.int64]]:
        keys, le_ref, le_cur = self.merged()
        return keys, np.diff(le_ref, prepend=0), np.diff(le_cur, prepend=0)

    def _cdf_diff(
        self, le_ref: NDArray[np.int64], le_cur: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        # the same float operations as scipy: searchsorted(..., "right") / n, then subtract
        diff: NDArray[np.float64] = le_ref / self.n1
        diff -= le_cur / self.n2
        return diff

    def ks(self) -> float:
        """scipy's ks_2samp(method="auto") p-value, from the merged runs."""
        from scipy import stats

        _, le_ref, le_cur = self.merged()
        diff = self._cdf_diff(le_ref, le_cur)
        del le_ref, le_cur
        min_s = float(np.clip(-diff.min(), 0, 1))
        max_s = float(diff.max())
        d = min_s if min_s > max_s else max_s
        n1, n2 = self.n1, self.n2
        if max(n1, n2) <= _KS_EXACT_MAX_N:
            exact = _ks_exact(n1, n2, d)
            if exact is None:  # scipy moved its helper: let it do the whole test
                return float(stats.ks_2samp(self.a, self.b).pvalue)
            success, d, prob = exact
            if success:
                return float(np.clip(prob, 0, 1))
            # scipy warns here and falls back to the asymptotic p-value, as below
        m, n = sorted([float(n1), float(n2)], reverse=True)
        en = m * n / (m + n)
        return float(np.clip(stats.kstwo.sf(d, np.round(en)), 0, 1))

    def wasserstein(self) -> float:
        keys, le_ref, le_cur = self.merged()
        diff = self._cdf_diff(le_ref, le_cur)
        del le_ref, le_cur
        deltas = np.diff(np.asarray(keys, dtype=np.float64))
        del keys
        np.abs(diff, out=diff)
        distance = float(np.dot(diff[:-1], deltas))
        return distance / max(self._ref_std(), 0.001)

    def _ref_std(self) -> float:
        """np.std(reference): pandas sums in float64, then rounds to a float32 column's type."""
        var = np.var(self.a, dtype=np.float64)
        if np.issubdtype(self.a.dtype, np.floating) and self.a.dtype != np.float64:
            var = var.astype(self.a.dtype)
        return float(np.sqrt(var))

    def binned_counts(self) -> tuple[Sequence[Any], NDArray[np.int64], NDArray[np.int64]]:
        """Evidently's get_binned_data for a numeric column (counts, not yet percentages)."""
        if self.ref_nunique() > _BIN_BY_VALUE_MAX:
            edges = self._sturges_edges()
            return edges[:-1].tolist(), _hist_sorted(self.a, edges), _hist_sorted(self.b, edges)
        keys, ref_counts, cur_counts = self.value_counts()
        return keys.tolist(), ref_counts, cur_counts

    def _sturges_edges(self) -> NDArray[Any]:
        """np.histogram_bin_edges(concat(reference, current), "sturges"), without the concat."""
        a, b = self.a, self.b
        first, last = min(a[0], b[0]), max(a[-1], b[-1])
        dtype = a.dtype
        if first == last:
            first, last = first - 0.5, last + 0.5
        size = self.n1 + self.n2
        if self.is_integer:
            ptp = np.subtract(last, first, dtype=np.uint64, casting="unsafe")
        else:
            ptp = np.subtract(last, first, dtype=dtype)
        width = ptp / (np.log2(size) + 1.0)
        if width:
            if self.is_integer and width < 1:
                width = 1
            n_bins = int(np.ceil(ptp / width))
        else:
            n_bins = 1
        bin_type = np.result_type(first, last, a)
        if np.issubdtype(bin_type, np.integer):
            bin_type = np.result_type(bin_type, float)
        edges: NDArray[Any] = np.linspace(first, last, n_bins + 1, endpoint=True, dtype=bin_type)
        return edges


def _ks_exact(n1: int, n2: int, d: float) -> tuple[bool, float, float] | None:
    """scipy's exact two-sided KS probability (success, rounded D, p), without its warning."""
    try:
        from scipy.stats._stats_py import _attempt_exact_2kssamp
    except ImportError:  # pragma: no cover - depends on scipy's internals
        return None
    success, d_exact, prob = _attempt_exact_2kssamp(n1, n2, math.gcd(n1, n2), d, "two-sided")
    return bool(success), float(d_exact), float(prob)


def _sorted_finite(s: pd.Series) -> NDArray[Any]:
    name = s.dtype.name
    if name.startswith(("Int", "UInt", "Float")):  # nullable: NA → NaN
        values = s.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = s.to_numpy()
    out = np.sort(values)  # NaN sorts last, after +inf
    if np.issubdtype(out.dtype, np.floating):
        lo = int(np.searchsorted(out, -np.inf, side="right"))
        hi = int(np.searchsorted(out, np.inf, side="left"))
        if lo or hi < out.size:
            out = out[lo:hi]
    return out


def _unique_sorted(a: NDArray[Any]) -> NDArray[Any]:
    if a.size == 0:
        return a
    first = np.empty(a.size, dtype=bool)
    first[0] = True
    np.not_equal(a[1:], a[:-1], out=first[1:])
    return a[first]


def _nunique_sorted(a: NDArray[Any]) -> int:
    return 0 if a.size == 0 else int(np.count_nonzero(a[1:] != a[:-1])) + 1


def _hist_sorted(a: NDArray[Any], edges: NDArray[Any]) -> NDArray[np.int64]:
    """np.histogram(a, edges)[0] for sorted `a` (last edge inclusive)."""
    cum = np.concatenate(
        (np.searchsorted(a, edges[:-1], side="left"), np.searchsorted(a, edges[-1:], side="right"))
    )
    return np.diff(cum).astype(np.int64)
