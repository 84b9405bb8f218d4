"""Column kinds for drift (`monitoring.drift_stats`): Evidently's `infer_column_type`, plus
nullable and unsigned numeric dtypes, and the value counts that serve the categorical tests."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

ColumnKind = Literal["num", "cat", "text", "other"]

_INT_CAT_MAX = 10  # infer_column_type: int with ≤ 10 distinct values → categorical


@dataclass(frozen=True)
class ColumnProfile:
    kind: ColumnKind
    count: int  # non-null values
    counts: Any = None  # pd.Series of value counts when they were needed to infer the kind


def column_profile(s: pd.Series) -> ColumnProfile:
    """Evidently's `infer_column_type`, plus nullable and unsigned numeric dtypes.

    Counts values once where Evidently needs distinct values; the counts serve the test later.
    """
    name = s.dtype.name
    if name.startswith(("float", "Float")):
        return ColumnProfile("num", int(s.count()))
    if name.startswith(("int", "uint", "Int", "UInt")):
        vc = count_values(s)
        return ColumnProfile("cat" if len(vc) <= _INT_CAT_MAX else "num", int(vc.sum()), vc)
    if name == "object" and not _holds_strings(s):
        return ColumnProfile("other", int(s.count()))
    if name in ("string", "str", "object"):
        try:
            vc = count_values(s)
        except TypeError:  # unhashable values among the strings
            return ColumnProfile("other", int(s.count()))
        n = int(vc.sum())
        return ColumnProfile("text" if len(vc) > n * 0.5 else "cat", n, vc)
    if name in ("bool", "boolean", "category"):
        vc = count_values(s)
        return ColumnProfile("cat", int(vc.sum()), vc)
    return ColumnProfile("other", int(s.count()))


def _holds_strings(s: pd.Series) -> bool:
    """Evidently's test for an object column of strings: first and last non-null are str."""
    import pandas as pd

    if len(s) == 0:
        return False
    first, last = s.iloc[0], s.iloc[-1]
    if not (_is_null(first) or _is_null(last)):
        return isinstance(first, str) and isinstance(last, str)
    notna = pd.notna(s).to_numpy()
    if not notna.any():
        return False
    first = s.iloc[int(np.argmax(notna))]
    last = s.iloc[len(notna) - 1 - int(np.argmax(notna[::-1]))]
    return isinstance(first, str) and isinstance(last, str)


def _is_null(value: Any) -> bool:
    import pandas as pd

    return value is None or (not isinstance(value, (list, tuple, dict)) and bool(pd.isna(value)))


def dtype_family(s: pd.Series) -> str:
    import pandas as pd

    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_numeric_dtype(dtype):
        return "num"
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype):
        return "str"  # object, string and category hold the same labels
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return str(dtype)


def count_values(s: pd.Series) -> pd.Series:
    import pandas as pd

    vc = s.value_counts(dropna=True, sort=False)
    vc = vc[vc.to_numpy() > 0]  # a category dtype lists unused categories with 0
    if vc.index.inferred_type in ("floating", "mixed", "mixed-integer-float"):  # ±inf → null
        finite = [not (isinstance(k, float) and math.isinf(k)) for k in vc.index]
        vc = vc[finite]
    return pd.Series(vc.to_numpy(dtype=np.int64), index=pd.Index(vc.index.to_numpy(), dtype=object))
