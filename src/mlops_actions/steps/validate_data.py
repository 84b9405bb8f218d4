"""Step 2, validate-data: a Great Expectations 1.x suite as a gate on the training data.

`validate_data(settings)` checks the suite file, then validates each data source in turn (a CSV,
Parquet file or folder, a DVC-tracked path at a git revision, or a SQL table) on the pandas, Spark
or SQL engine, and names each source's data version; the command writes the reports
(`reports.validate_data`). A dataset passes when its share of passed expectations reaches
`min_success_ratio`; the step passes when every dataset does. Bad input (a missing or unreadable
file, a suite that is not a GX 1.x suite, an unknown DVC revision) raises InputError before any
verdict; a column the data lacks is a failed expectation, not an error.

`draft_suite_file(settings)` writes a starter suite from data and checks it passes on that data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mlops_actions.errors import InputError
from mlops_actions.paths import shown_path, write_files
from mlops_actions.validation.engines import DatasetValidation, ExpectationOutcome
from mlops_actions.validation.suite import SuiteFile

Engine = Literal["pandas", "spark", "sql"]


@dataclass(frozen=True)
class SqlTable:
    """A table read through GX's SQL datasource."""

    connection_string: str
    table: str


@dataclass(frozen=True)
class DataSource:
    """One dataset to validate: a file or folder (optionally DVC at `rev`), or a SQL table."""

    name: str
    path: Path | None = None
    rev: str | None = None
    sql: SqlTable | None = None


@dataclass(frozen=True)
class ValidateDataSettings:
    """What validate-data checks, against which suite, and how strictly."""

    sources: tuple[DataSource, ...]
    suite: Path
    min_success_ratio: float
    engine: Engine
    spark_master: str = "local[*]"


@dataclass(frozen=True)
class DataValidation:
    """The verdict of validate-data over all its datasets."""

    datasets: tuple[DatasetValidation, ...]
    suite: SuiteFile
    min_success_ratio: float
    engine: Engine

    @property
    def success(self) -> bool:
        return all(d.success for d in self.datasets)

    @property
    def success_ratio(self) -> float:
        """The lowest success ratio of the datasets: the one the gate decides on."""
        return min(d.success_ratio for d in self.datasets)

    @property
    def failed_expectations(self) -> int:
        return sum(len(d.failed) for d in self.datasets)

    @property
    def data_version(self) -> str:
        """One dataset: its version; several: `name=version` pairs joined by commas."""
        if len(self.datasets) == 1:
            return self.datasets[0].data_version
        return ",".join(f"{d.name}={d.data_version}" for d in self.datasets)


def validate_data(settings: ValidateDataSettings) -> DataValidation:
    """Validate every source with the suite, one at a time; raises InputError for bad input.

    Writes nothing: the reports are the caller's (`reports.validate_data.write_reports`).
    """
    from mlops_actions.validation.suite import load_suite

    if not settings.sources:
        raise InputError(
            "nothing to validate;", hint="pass --data PATH or list datasets in validation.datasets."
        )
    suite = load_suite(settings.suite)
    runner = _Runner(settings, suite)
    datasets = tuple(runner.validate(source) for source in settings.sources)
    return DataValidation(datasets, suite, settings.min_success_ratio, settings.engine)


class _Runner:
    """Validates sources one at a time (one frame in memory), with one Spark session if needed."""

    def __init__(self, settings: ValidateDataSettings, suite: SuiteFile) -> None:
        self.settings = settings
        self.suite = suite
        self._spark: Any = None

    def validate(self, source: DataSource) -> DatasetValidation:
        if source.sql is not None:
            return self._sql(source, source.sql)
        if source.path is None:
            raise InputError(f"dataset {source.name!r} has no path;", hint="set its path.")
        if self.settings.engine == "spark":
            return self._spark_file(source, source.path)
        return self._pandas(source, source.path)

    def _dataset(
        self,
        source: DataSource,
        location: str,
        version: str,
        rows: int | None,
        outcomes: tuple[ExpectationOutcome, ...],
    ) -> DatasetValidation:
        return DatasetValidation(
            source.name, location, version, rows, outcomes, self.settings.min_success_ratio
        )

    def _pandas(self, source: DataSource, path: Path) -> DatasetValidation:
        from mlops_actions.data import data_version, load_table
        from mlops_actions.validation.engines import run_pandas

        frame = load_table(path, rev=source.rev)
        version = data_version(path, rev=source.rev).text
        rows = len(frame)
        outcomes = run_pandas(frame, self.suite)
        return self._dataset(source, _location(path, source.rev), version, rows, outcomes)

    def _spark_file(self, source: DataSource, path: Path) -> DatasetValidation:
        from mlops_actions.data import data_version, is_dvc_tracked, load_table
        from mlops_actions.validation import engines

        # Bad input fails before the JVM starts: Parquet footers are read here, anything else
        # (CSV, DVC revisions) goes through load_table and reaches Spark as a pandas frame.
        native = source.rev is None and path.exists() and not is_dvc_tracked(path)
        rows = engines.parquet_rows(path) if native else None
        table = None
        if rows is None:
            table = load_table(path, rev=source.rev)
            rows = len(table)
        version = data_version(path, rev=source.rev).text
        if self._spark is None:
            self._spark = engines.spark_session(self.settings.spark_master)
        if table is None:
            # Spark reads Parquet itself: the data never has to fit in this process.
            frame = engines.spark_frame_from_parquet(self._spark, path)
        else:
            frame = engines.spark_frame_from_pandas(self._spark, table)
            del table
        outcomes = engines.run_spark(frame, self.suite)
        return self._dataset(source, _location(path, source.rev), version, rows, outcomes)

    def _sql(self, source: DataSource, sql: SqlTable) -> DatasetValidation:
        from mlops_actions.data import data_version
        from mlops_actions.validation.engines import run_sql, safe_url, sqlite_file

        outcomes = run_sql(sql.connection_string, sql.table, self.suite)
        database = (
            sqlite_file(sql.connection_string)
            if sql.connection_string.lower().startswith("sqlite")
            else None
        )
        if database is not None:
            version = data_version(database).text  # the whole database file
        else:
            version = f"sql:{safe_url(sql.connection_string)}#{sql.table}"
        location = f"table {sql.table} in {safe_url(sql.connection_string)}"
        return self._dataset(source, location, version, None, outcomes)


# ---------------------------------------------------------------- drafting


@dataclass(frozen=True)
class DraftSettings:
    """Where to draft a suite from and where to write it."""

    data: Path
    output: Path
    rev: str | None = None
    name: str | None = None
    force: bool = False


@dataclass(frozen=True)
class SuiteDraft:
    """A drafted suite on disk, and its check on the data it was drafted from."""

    path: Path
    name: str
    expectations: int
    rows: int
    columns: int
    failed: tuple[ExpectationOutcome, ...]

    @property
    def passes(self) -> bool:
        return not self.failed


def draft_suite_file(settings: DraftSettings) -> SuiteDraft:
    """Write a starter suite drafted from `settings.data`; raises InputError.

    The draft is read back through `load_suite` and validated on the same data, so what is
    written is a suite this step accepts and that passes there.
    """
    from mlops_actions.data import load_table
    from mlops_actions.validation.engines import run_pandas
    from mlops_actions.validation.suite import draft_suite, load_suite

    output = settings.output
    if output.exists() and not settings.force:
        raise InputError(
            f"{output} already exists;",
            hint="pass --force to overwrite it, or choose another --draft-suite path.",
        )
    frame = load_table(settings.data, rev=settings.rev)
    name = settings.name or output.stem
    drafted = draft_suite(frame, name=name, source=_location(settings.data, settings.rev))
    write_files(
        output.parent, {output.name: drafted.to_json()}, hint="choose another --draft-suite path."
    )
    suite = load_suite(output)
    failed = tuple(o for o in run_pandas(frame, suite) if not o.success)
    return SuiteDraft(
        output, name, drafted.expectation_count, drafted.rows, drafted.columns, failed
    )


# ---------------------------------------------------------------- helpers


def _location(path: Path, rev: str | None) -> str:
    return f"{shown_path(path)} @ {rev}" if rev else shown_path(path)
