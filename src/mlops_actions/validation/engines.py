"""Run a suite with GX's pandas, Spark or SQL datasource; results come back in suite order.

Each run uses a fresh ephemeral GX context (nothing written to disk, progress bars off) and asks
for the SUMMARY result format with up to 20 unexpected values, of which the reports show five.
A column the data lacks is not an error here: GX reports the expectations on it as failed with an
exception, and `ExpectationOutcome.error` says "column 'x' is not in the data".
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_actions.errors import BackendError, InputError
from mlops_actions.validation.suite import INDEX_KEY, SuiteFile, expectation_columns

if TYPE_CHECKING:
    import pandas as pd

SAMPLE_VALUES = 5
_RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 20}
_MISSING_COLUMN = re.compile(r'The column "(?P<column>.*)" in BatchData does not exist')


@dataclass(frozen=True)
class ExpectationOutcome:
    """How one expectation of the suite did on one dataset."""

    index: int
    type: str
    kwargs: dict[str, Any] = field(hash=False)
    columns: tuple[str, ...]
    success: bool
    observed: str
    unexpected_percent: float | None = None
    unexpected_count: int | None = None
    samples: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class DatasetValidation:
    """The suite's outcome on one dataset; it passes when its success ratio reaches the minimum."""

    name: str
    location: str
    data_version: str
    rows: int | None
    outcomes: tuple[ExpectationOutcome, ...]
    min_success_ratio: float

    @property
    def evaluated(self) -> int:
        return len(self.outcomes)

    @property
    def failed(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.success)

    @property
    def success_ratio(self) -> float:
        if not self.outcomes:
            return 1.0
        return (self.evaluated - len(self.failed)) / self.evaluated

    @property
    def success(self) -> bool:
        # A tolerance so that e.g. 19/20 meets a minimum written as 0.95.
        return self.success_ratio + 1e-12 >= self.min_success_ratio


def _context() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def run_pandas(frame: pd.DataFrame, suite: SuiteFile) -> tuple[ExpectationOutcome, ...]:
    """Validate a pandas frame with GX's pandas datasource."""
    source = _context().data_sources.add_pandas("mlops")
    return _run_dataframe(source, frame, suite, [str(c) for c in frame.columns])


def run_spark(frame: Any, suite: SuiteFile) -> tuple[ExpectationOutcome, ...]:
    """Validate a Spark DataFrame with GX's Spark datasource (which reuses its session)."""
    source = _context().data_sources.add_spark("mlops")
    return _run_dataframe(source, frame, suite, list(frame.columns))


def _run_dataframe(
    source: Any, frame: Any, suite: SuiteFile, columns: list[str]
) -> tuple[ExpectationOutcome, ...]:
    """The suite on the whole of `frame`, as one batch of GX datasource `source`."""
    batch_definition = source.add_dataframe_asset("data").add_batch_definition_whole_dataframe(
        "all"
    )
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite.build(), result_format=_RESULT_FORMAT)
    return outcomes(result, suite, columns)


def run_sql(connection_string: str, table: str, suite: SuiteFile) -> tuple[ExpectationOutcome, ...]:
    """Validate a table with GX's SQL datasource (sqlite and postgres get their own flavours).

    Raises InputError for a missing sqlite file or table, BackendError when the database cannot
    be reached.
    """
    from great_expectations.datasource.fluent.interfaces import TestConnectionError

    shown = safe_url(connection_string)
    scheme = connection_string.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme == "sqlite":
        database = sqlite_file(connection_string)
        if database is not None and not database.is_file():
            # SQLAlchemy would quietly create an empty database there.
            raise InputError(
                f"sqlite database not found: {database};",
                hint="check validation.sql.connection_string (sqlite:///relative/path.db or "
                "sqlite:////absolute/path.db).",
            )
    sources = _context().data_sources
    try:
        if scheme == "sqlite":
            datasource = sources.add_sqlite("mlops", connection_string=connection_string)
        elif scheme in ("postgresql", "postgres"):
            datasource = sources.add_postgres("mlops", connection_string=connection_string)
        else:
            datasource = sources.add_sql("mlops", connection_string=connection_string)
        asset = datasource.add_table_asset("data", table_name=table)
    except TestConnectionError as exc:
        text = " ".join(str(exc).split())
        if "Attempt to connect to table" in text:
            raise InputError(
                f"table {table!r} cannot be read from {shown};",
                hint="check validation.sql.table (and that the user may SELECT from it).",
            ) from None
        raise BackendError(
            f"cannot connect to {shown}: {text[:300]};",
            hint="check validation.sql.connection_string and that the database is reachable.",
        ) from None
    batch = asset.add_batch_definition_whole_table("all").get_batch()
    result = batch.validate(suite.build(), result_format=_RESULT_FORMAT)
    return outcomes(result, suite, [str(c) for c in batch.columns()])


def safe_url(connection_string: str) -> str:
    """The connection string with any password hidden, for messages and reports."""
    try:
        from sqlalchemy.engine import make_url

        return str(make_url(connection_string).render_as_string(hide_password=True))
    except Exception:  # noqa: BLE001 (an unparsable URL: show only its scheme)
        return connection_string.split(":", 1)[0] + "://…"


def sqlite_file(connection_string: str) -> Path | None:
    """The file behind a sqlite URL; None for an in-memory database."""
    from sqlalchemy.engine import make_url

    database = make_url(connection_string).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


# ---------------------------------------------------------------- Spark


def spark_session(master: str) -> Any:
    """The active Spark session, or a new one on `master` that binds to 127.0.0.1 only.

    Arrow conversion is on so pandas NaN becomes Spark null (as pandas counts it).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise InputError(
            "the Spark engine needs pyspark, which is not installed;",
            hint="install `great-expectations[spark]` (pyspark < 4.2 and Java 17), or use "
            "--engine pandas.",
        ) from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    try:
        session = (
            SparkSession.builder.master(master)
            .appName("mlops validate-data")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.sql.shuffle.partitions", "4")
            .getOrCreate()
        )
    except Exception as exc:  # noqa: BLE001 (Java missing, bad master URL: py4j raises anything)
        raise BackendError(
            f"cannot start Spark on {master!r}: {' '.join(str(exc).split())[:300]};",
            hint="check that Java 17 is installed (JAVA_HOME) and the --spark-master URL.",
        ) from None
    session.sparkContext.setLogLevel("ERROR")
    return session


def spark_frame_from_parquet(session: Any, path: Path) -> Any:
    """Spark reads a Parquet file or folder itself, so the data never has to fit in pandas."""
    return session.read.parquet(str(path))


def spark_frame_from_pandas(session: Any, frame: pd.DataFrame) -> Any:
    """A pandas frame handed to Spark (through Arrow: NaN becomes null)."""
    return session.createDataFrame(frame)


def parquet_rows(path: Path) -> int | None:
    """Rows of a Parquet file or folder from the footers; InputError for an unreadable footer.

    Returns None when `path` is not Parquet (the caller then reads it with pandas).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.is_dir():
        parts = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".parquet", ".pq"))
    elif path.suffix.lower() in (".parquet", ".pq"):
        parts = [path]
    else:
        return None
    if not parts:
        return None
    rows = 0
    for part in parts:
        try:
            rows += pq.ParquetFile(part).metadata.num_rows
        except (pa.ArrowInvalid, OSError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(
                f"{part} is not readable Parquet ({reason});",
                hint="the file is truncated or corrupt: re-export it or `dvc pull` it again.",
            ) from None
    if rows == 0:
        raise InputError(f"{path} has no rows;", hint="check the export.")
    return rows


# ---------------------------------------------------------------- results


def outcomes(
    result: Any, suite: SuiteFile, data_columns: Sequence[str] | None = None
) -> tuple[ExpectationOutcome, ...]:
    """GX's ExpectationSuiteValidationResult as outcomes in the order of the suite file.

    With `data_columns`, an expectation that raised on a column the data lacks says so (GX's own
    message for that varies by expectation, e.g. "list index out of range").
    """
    found: list[ExpectationOutcome] = []
    for position, item in enumerate(result.results):
        config = item.expectation_config
        meta = config.meta or {}
        index = int(meta.get(INDEX_KEY, position))
        kwargs = {k: v for k, v in dict(config.kwargs).items() if k != "batch_id"}
        outcome = _outcome(index, config.type, kwargs, bool(item.success), item)
        if outcome.error is not None and data_columns is not None:
            absent = [c for c in outcome.columns if c not in data_columns]
            if absent:
                error = ", ".join(repr(c) for c in absent)
                many = len(absent) > 1
                error = (
                    f"column{'s' if many else ''} {error} {'are' if many else 'is'} not in the data"
                )
                outcome = replace(outcome, error=error)
        found.append(outcome)
    return tuple(sorted(found, key=lambda o: o.index))


def _outcome(
    index: int, kind: str, kwargs: dict[str, Any], success: bool, item: Any
) -> ExpectationOutcome:
    result: dict[str, Any] = dict(item.result or {})
    error = _exception_message(item.exception_info)
    columns = expectation_columns(kwargs)
    if error is not None:
        missing = _MISSING_COLUMN.search(error)
        if missing:
            error = f"column {missing.group('column')!r} is not in the data"
        return ExpectationOutcome(index, kind, kwargs, columns, False, "—", error=error)
    if kind == "expect_column_to_exist" and not success:
        return ExpectationOutcome(index, kind, kwargs, columns, success, "column is missing")
    counts = result.get("partial_unexpected_counts") or []
    if counts:
        samples = [_show(c.get("value")) for c in counts]
    else:
        samples = [_show(v) for v in result.get("partial_unexpected_list") or []]
    samples = list(dict.fromkeys(samples))[:SAMPLE_VALUES]
    percent = result.get("unexpected_percent")
    count = _number(result.get("unexpected_count"))
    return ExpectationOutcome(
        index,
        kind,
        kwargs,
        columns,
        success,
        _observed(result),
        unexpected_percent=_number(percent),
        unexpected_count=None if count is None else int(count),
        samples=tuple(samples),
    )


def _exception_message(info: Any) -> str | None:
    if not isinstance(info, dict) or not info:
        return None
    if "raised_exception" in info:
        entries = [info]
    else:
        entries = [v for v in info.values() if isinstance(v, dict)]
    for entry in entries:
        if entry.get("raised_exception"):
            message = str(entry.get("exception_message") or "GX raised an exception")
            return " ".join(message.removeprefix("Error: ").split())
    return None


def _observed(result: dict[str, Any]) -> str:
    details = result.get("details") or {}
    mismatched = details.get("mismatched") if isinstance(details, dict) else None
    if isinstance(mismatched, dict):
        parts = []
        for key in ("missing", "unexpected"):
            values = mismatched.get(key) or []
            if values:
                parts.append(f"{key}: {', '.join(_show(v) for v in values)}")
        if parts:
            return "; ".join(parts)
    if "observed_value" in result:
        return _show(result["observed_value"])
    count, total = _number(result.get("unexpected_count")), _number(result.get("element_count"))
    if count is not None and total is not None:
        return f"{int(count):,} of {int(total):,} values unexpected"
    return "—"


def _number(value: Any) -> float | None:
    """A finite int or float as float; None for anything else (missing, bool, NaN)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _show(value: Any, limit: int = 80) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        text = "null" if math.isnan(value) else f"{value:.6g}"  # pandas' null in numbers
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(_show(v, 30) for v in list(value)[:10])
        text += ", …]" if len(value) > 10 else "]"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
