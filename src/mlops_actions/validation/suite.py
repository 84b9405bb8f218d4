"""Expectation suites: read a GX 1.x suite with actionable errors, and draft one from data.

`load_suite` accepts exactly what Great Expectations 1.x writes (`ExpectationSuite.to_json_dict`:
`name`, `id`, `expectations[{type, kwargs, meta, …}]`, `suite_parameters`, `meta`, `notes`) and
turns each way a file can be wrong into one `InputError`: not JSON, not a suite, a 0.x suite (with
how to migrate it), an unknown expectation type, invalid arguments. GX itself would log and drop an
invalid expectation, so a typo would silently validate less; here it stops the step.

`draft_suite` writes a starter suite from a frame: the column set, types (named for pandas, Spark
and SQL at once, so one suite works on every engine), null rules, numeric ranges with a margin,
value sets of low-cardinality text columns and a row-count band. Bounds are computed on all the
rows given, so the draft passes on the data it was drafted from.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_actions.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

INDEX_KEY = "mlops_index"
"""Key added to each expectation's `meta` while validating, to map GX results to suite order."""

_SUITE_KEYS = {"name", "id", "expectations", "suite_parameters", "meta", "notes"}
_LEGACY_SUITE_KEYS = {"expectation_suite_name", "data_asset_type", "ge_cloud_id"}
_MIGRATION_HINT = (
    "GX 1.x reads `name` and `type`: rename `expectation_suite_name` to `name` and every "
    "`expectation_type` to `type`, drop `data_asset_type` and `ge_cloud_id`, and check each "
    "expectation against GX 1.x (see the GX 0.x → 1.x migration guide, or load the old suite in "
    "GX 1.x and save it again; `mlops validate-data --draft-suite OUT` drafts a new one)."
)

# Type names that GX's expect_column_values_to_be_in_type_list matches on each engine: numpy and
# pandas dtypes (pandas), pyspark.sql.types classes (Spark), SQLAlchemy type names (SQL). Each
# engine ignores the names of the others, so a drafted suite runs on all three.
INTEGER_TYPES = (
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "Int8Dtype", "Int16Dtype", "Int32Dtype", "Int64Dtype",
    "ByteType", "ShortType", "IntegerType", "LongType",
    "INTEGER", "BIGINT", "SMALLINT",
)  # fmt: skip
FLOAT_TYPES = (
    "float16", "float32", "float64", "Float32Dtype", "Float64Dtype",
    "FloatType", "DoubleType", "DecimalType",
    "FLOAT", "REAL", "DOUBLE", "NUMERIC", "DECIMAL",
)  # fmt: skip
TEXT_TYPES = (
    "str", "object", "StringDtype", "CategoricalDtype",
    "StringType", "VarcharType", "CharType",
    "TEXT", "VARCHAR", "CHAR", "NVARCHAR", "STRING",
)  # fmt: skip
BOOL_TYPES = ("bool", "BooleanDtype", "BooleanType", "BOOLEAN")
DATETIME_TYPES = (
    "datetime64", "datetime64[ns]", "datetime64[us]", "datetime64[ms]", "DatetimeTZDtype",
    "TimestampType", "TimestampNTZType", "DateType",
    "DATETIME", "TIMESTAMP", "DATE",
)  # fmt: skip

MAX_SET_SIZE = 20
"""Text columns with at most this many distinct values get a value-set expectation."""


@dataclass(frozen=True)
class SuiteFile:
    """A GX 1.x suite read from disk and checked; `expectations` are the raw configurations."""

    path: Path
    name: str
    expectations: tuple[dict[str, Any], ...]
    raw: dict[str, Any]
    text: str

    def build(self) -> Any:
        """A fresh `great_expectations.ExpectationSuite`, each expectation tagged with its index."""
        import great_expectations as gx

        tagged = []
        for index, config in enumerate(self.expectations):
            copy = dict(config)
            copy["meta"] = {**(config.get("meta") or {}), INDEX_KEY: index}
            copy.pop("id", None)  # the suite is not saved anywhere; ids only matter to a store
            copy.pop("rendered_content", None)
            tagged.append(copy)
        return gx.ExpectationSuite(
            name=self.name,
            expectations=tagged,
            suite_parameters=self.raw.get("suite_parameters") or None,
            meta=dict(self.raw.get("meta") or {}),
        )

    @cached_property
    def _lines(self) -> list[int]:
        return expectation_lines(self.text)

    def line_of(self, index: int) -> int | None:
        """1-based line of expectation `index` in the file, for annotations; None if unknown."""
        return self._lines[index] if index < len(self._lines) else None


def expectation_columns(kwargs: dict[str, Any]) -> tuple[str, ...]:
    """The columns an expectation names (`column`, `column_A`/`column_B`, `column_list`)."""
    found: list[str] = []
    for key in ("column", "column_A", "column_B"):
        value = kwargs.get(key)
        if isinstance(value, str):
            found.append(value)
    listed = kwargs.get("column_list")
    if isinstance(listed, list):
        found.extend(str(c) for c in listed)
    return tuple(found)


def load_suite(path: Path) -> SuiteFile:
    """Read and check a GX 1.x ExpectationSuite JSON; raises InputError naming the problem."""
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "not found"
        raise InputError(
            f"expectation suite {what}: {path};",
            hint="pass --suite PATH or set validation.suite in mlops.yaml; draft one with "
            "`mlops validate-data --data DATA --draft-suite PATH`.",
        )
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(
            f"expectation suite {path} is not UTF-8 text;", hint="save it as UTF-8 JSON."
        ) from None
    except OSError as exc:
        raise InputError(
            f"cannot read expectation suite {path}: {exc.strerror};", hint="check its permissions."
        ) from None
    if not text.strip():
        raise InputError(
            f"expectation suite {path} is empty;",
            hint="write a GX 1.x suite there, or draft one with `--draft-suite`.",
        )
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"expectation suite {path}:{exc.lineno}:{exc.colno} is not valid JSON ({exc.msg});",
            hint="fix the syntax there (a GX suite is the JSON that ExpectationSuite saves).",
        ) from None
    if not isinstance(raw, dict):
        raise InputError(
            f"expectation suite {path} is a JSON {type(raw).__name__}, not a GX 1.x "
            "ExpectationSuite object;",
            hint='it must look like {"name": …, "expectations": [{"type": …, "kwargs": {…}}]}.',
        )
    expectations = raw.get("expectations")
    legacy = _LEGACY_SUITE_KEYS & raw.keys()
    if isinstance(expectations, list) and any(
        isinstance(e, dict) and "expectation_type" in e for e in expectations
    ):
        legacy.add("expectation_type")
    if legacy:
        keys = "/".join(f"`{k}`" for k in sorted(legacy))
        raise InputError(
            f"expectation suite {path} is a Great Expectations 0.x suite ({keys} keys);",
            hint=_MIGRATION_HINT,
        )
    _check_shape(path, raw)
    configs = tuple(raw["expectations"])
    for index, config in enumerate(configs):
        _check_expectation(path, index, config)
    if not configs:
        raise InputError(
            f"expectation suite {path} has no expectations;",
            hint="add some, or draft them with `mlops validate-data --data DATA --draft-suite "
            f"{path} --force`.",
        )
    return SuiteFile(path, str(raw["name"]), configs, raw, text)


def _check_shape(path: Path, raw: dict[str, Any]) -> None:
    from great_expectations.core.expectation_suite import ExpectationSuiteSchema
    from marshmallow import ValidationError

    missing = [k for k in ("name", "expectations") if k not in raw]
    if missing:
        raise InputError(
            f"expectation suite {path} is not a GX 1.x suite: no "
            f"{' or '.join(f'`{k}`' for k in missing)} key;",
            hint='it must look like {"name": …, "expectations": [{"type": …, "kwargs": {…}}]}.',
        )
    unknown = sorted(raw.keys() - _SUITE_KEYS)
    if unknown:
        raise InputError(
            f"expectation suite {path} has keys GX 1.x does not know: {', '.join(unknown)};",
            hint=f"a suite has only {', '.join(sorted(_SUITE_KEYS))}; remove the others.",
        )
    if not isinstance(raw["name"], str) or not raw["name"].strip():
        raise InputError(
            f"expectation suite {path}: `name` must be a non-empty string;", hint="name the suite."
        )
    try:
        ExpectationSuiteSchema().load(raw)
    except ValidationError as exc:
        raise InputError(
            f"expectation suite {path} is not a valid GX 1.x suite: {_marshmallow_text(exc)};",
            hint="compare it with a suite GX saves (ExpectationSuite.to_json_dict()).",
        ) from None


def _marshmallow_text(exc: Any) -> str:
    def walk(prefix: str, messages: Any) -> list[str]:
        if isinstance(messages, dict):
            out: list[str] = []
            for key, value in messages.items():
                part = f"[{key}]" if isinstance(key, int) else (f".{key}" if prefix else str(key))
                out.extend(walk(prefix + part, value))
            return out
        if isinstance(messages, list):
            return [f"{prefix}: {' '.join(str(m) for m in messages)}"]
        return [f"{prefix}: {messages}"]

    parts = walk("", exc.messages)
    return "; ".join(parts[:3]) + (f" (and {len(parts) - 3} more)" if len(parts) > 3 else "")


def _check_expectation(path: Path, index: int, config: Any) -> None:
    import difflib

    from great_expectations.exceptions.exceptions import ExpectationNotFoundError
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )
    from great_expectations.expectations.registry import (
        list_registered_expectation_implementations,
    )

    where = f"expectation suite {path}: expectations[{index}]"
    if not isinstance(config, dict):
        raise InputError(f"{where} is not an object;", hint='write {"type": …, "kwargs": {…}}.')
    kind = config.get("type")
    try:
        ExpectationConfiguration(**config).to_domain_obj()
    except ExpectationNotFoundError:
        known = list_registered_expectation_implementations()
        close = difflib.get_close_matches(str(kind), known, n=1)
        raise InputError(
            f"{where}: unknown expectation type {kind!r};",
            hint=f"did you mean {close[0]!r}?" if close else "see the GX 1.x expectation gallery.",
        ) from None
    except TypeError as exc:  # keys ExpectationConfiguration does not take
        detail = str(exc).split("()", 1)[-1].strip()
        raise InputError(
            f"{where} ({kind}): {detail};",
            hint="an expectation has type, kwargs and optionally meta, notes, id, description, "
            "severity.",
        ) from None
    except Exception as exc:  # noqa: BLE001 (GX raises pydantic's and its own errors here)
        raise InputError(
            f"{where} ({kind}) has invalid arguments: {_pydantic_text(exc)};",
            hint="fix its kwargs (see the expectation's page in the GX 1.x gallery).",
        ) from None


def _pydantic_text(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            items = errors()
        except Exception:  # noqa: BLE001 (not pydantic after all)
            items = []
        # GX unions accept a suite-parameter dict or dates too; those alternatives are noise.
        noise = ("valid dict", "date format", "datetime format")
        useful = [e for e in items if not any(n in str(e.get("msg", "")) for n in noise)]
        shown = useful or items
        if shown:
            return "; ".join(
                f"{'.'.join(str(p) for p in e.get('loc', ())) or 'kwargs'}: {e.get('msg')}"
                for e in shown[:3]
            )
    return " ".join(str(exc).split()) or type(exc).__name__


def expectation_lines(text: str) -> list[int]:
    """1-based line of each entry of `expectations` in a suite's JSON text (JSON read as YAML)."""
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if key.value == "expectations" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


# ---------------------------------------------------------------- drafting


@dataclass(frozen=True)
class DraftedSuite:
    """A starter suite as GX serialises it, and what it was drafted from."""

    suite: dict[str, Any]
    rows: int
    columns: int

    @property
    def expectation_count(self) -> int:
        return len(self.suite["expectations"])

    def to_json(self) -> str:
        return json.dumps(self.suite, indent=2, ensure_ascii=False) + "\n"


RANGE_MOSTLY = 0.99
"""Share of a column's values a drafted range must hold."""


def draft_suite(frame: pd.DataFrame, *, name: str, source: str) -> DraftedSuite:
    """A starter GX 1.x suite that passes on `frame`: columns, types, nulls, ranges, sets, rows."""
    import great_expectations as gx

    rows = len(frame)
    expectations: list[dict[str, Any]] = [
        _expect(
            "expect_table_columns_to_match_set",
            column_set=[str(c) for c in frame.columns],
            exact_match=True,
        ),
        # The same suite checks training data, a holdout and production batches of any size, so
        # the only row count that is wrong for all of them is none at all.
        _expect(
            "expect_table_row_count_to_be_between",
            min_value=1,
            max_value=None,
            meta={"observed_rows": rows, "note": "any non-empty batch; tighten per data set"},
        ),
    ]
    for column in frame.columns:
        expectations.extend(_column_expectations(frame[column], str(column)))
    suite = gx.ExpectationSuite(
        name=name,
        expectations=expectations,
        meta={
            "great_expectations_version": gx.__version__,
            "mlops": {
                "drafted_from": source,
                "rows": rows,
                "note": "Drafted by `mlops validate-data --draft-suite`; review the bounds.",
            },
        },
    )
    return DraftedSuite(suite.to_json_dict(), rows, frame.shape[1])


def _expect(kind: str, *, meta: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs, "meta": meta or {}}


def _column_expectations(series: pd.Series, column: str) -> list[dict[str, Any]]:
    import pandas as pd
    from pandas.api import types as ptypes

    out: list[dict[str, Any]] = []
    non_null = series.dropna()
    null_share = 1.0 - len(non_null) / len(series) if len(series) else 0.0
    kind = _kind(series, non_null)
    if kind is not None:
        out.append(
            _expect("expect_column_values_to_be_in_type_list", column=column, type_list=list(kind))
        )
    if null_share == 0.0:
        out.append(_expect("expect_column_values_to_not_be_null", column=column))
    elif null_share == 1.0:
        out.append(_expect("expect_column_values_to_be_null", column=column))
        return out
    else:
        # Allow twice the observed share of nulls, and at least 5 points more: a holdout or a
        # batch of a few hundred rows varies that much by chance alone. Whole percents.
        allowed = max(2 * null_share, null_share + 0.05)
        mostly = math.floor(max(0.0, 1.0 - allowed) * 100) / 100
        out.append(
            _expect(
                "expect_column_values_to_not_be_null",
                column=column,
                mostly=mostly,
                meta={"observed_null_share": round(null_share, 6)},
            )
        )
    if ptypes.is_bool_dtype(series.dtype):
        return out
    if ptypes.is_numeric_dtype(series.dtype):
        values = pd.to_numeric(non_null, errors="coerce")
        finite = values[values.abs() != math.inf]
        if len(finite):
            low, high = float(finite.min()), float(finite.max())
            integral = bool((finite == finite.round()).all())
            iqr = float(finite.quantile(0.75) - finite.quantile(0.25))
            lo, hi = widen(low, high, integral=integral, tail=max(3 * iqr, 0.5 * (high - low)))
            out.append(
                _expect(
                    "expect_column_values_to_be_between",
                    column=column,
                    min_value=lo,
                    max_value=hi,
                    # One outlier in a hundred is data; more, or all of them, is a problem.
                    mostly=RANGE_MOSTLY,
                    meta={"observed": {"min": _plain(low), "max": _plain(high)}},
                )
            )
        return out
    if kind is TEXT_TYPES:
        distinct = non_null.unique()
        if len(distinct) <= MAX_SET_SIZE and len(distinct) <= max(2, len(non_null) // 2):
            out.append(
                _expect(
                    "expect_column_values_to_be_in_set",
                    column=column,
                    value_set=sorted(str(v) for v in distinct),
                )
            )
    return out


def _kind(series: pd.Series, non_null: pd.Series) -> tuple[str, ...] | None:
    import pandas as pd
    from pandas.api import types as ptypes

    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype):
        return BOOL_TYPES
    if ptypes.is_integer_dtype(dtype):
        return INTEGER_TYPES
    if ptypes.is_float_dtype(dtype):
        # Integers with nulls are floats in pandas but stay integers in Spark and SQL.
        integral = len(non_null) > 0 and bool((non_null == non_null.round()).all())
        return INTEGER_TYPES + FLOAT_TYPES if integral else FLOAT_TYPES
    if ptypes.is_datetime64_any_dtype(dtype):
        return DATETIME_TYPES
    textual = ptypes.is_object_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype)
    if (textual or ptypes.is_string_dtype(dtype)) and all(
        isinstance(v, str) for v in non_null.head(1000)
    ):
        return TEXT_TYPES
    return None


def widen(
    low: float, high: float, *, integral: bool, tail: float = 0.0
) -> tuple[float | int, float | int]:
    """Observed [low, high] widened on each side by 10 % of the span or `tail`, whichever is
    larger, on round numbers.

    `tail` is how far values beyond the observed ones can plausibly reach (drafts pass half the
    span or three interquartile ranges: a holdout of real, skewed data often exceeds a training
    maximum, by a lot).
    Non-negative data stays non-negative, and data within [0, 1] (shares, probabilities, flags)
    gets exactly [0, 1]. The result always contains [low, high].
    """
    if low >= 0 and high <= 1:
        return (0, 1) if integral else (0.0, 1.0)
    span = high - low
    margin = max(span * 0.1, tail) if span > 0 else max(abs(low) * 0.1, 1.0, tail)
    lo, hi = low - margin, high + margin
    if low >= 0:
        lo = max(lo, 0.0)
    if integral:
        return math.floor(lo), math.ceil(hi)
    step = 10.0 ** math.floor(math.log10(margin))
    digits = max(0, -math.floor(math.log10(step)))
    lo_r = round(math.floor(lo / step) * step, digits)
    hi_r = round(math.ceil(hi / step) * step, digits)
    if lo_r > low:
        lo_r = round(lo_r - step, digits)
    if hi_r < high:
        hi_r = round(hi_r + step, digits)
    return lo_r, hi_r


def _plain(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value
