"""`mlops validate-data`: a Great Expectations 1.x suite as a gate on the data (step 2).

Flags mirror the action's inputs and override mlops.yaml (`data`, `validation`). Without `--data`
the datasets named in `validation.datasets` are validated and the outputs aggregate them. With
`--draft-suite OUT` the command writes a starter suite from the data instead of validating.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_actions.commands.base import Command, Context
from mlops_actions.errors import InputError
from mlops_actions.results import Annotation, StepResult

if TYPE_CHECKING:
    from mlops_actions.config import Settings
    from mlops_actions.steps.validate_data import (
        DataSource,
        DataValidation,
        Engine,
        ValidateDataSettings,
    )

_DATASETS = ("train", "holdout", "current")
_ENGINES = ("pandas", "spark", "sql")


def _text(value: str) -> str | None:
    """Action inputs arrive as strings, unset ones as ""; both mean "not given"."""
    return value.strip() or None


def _ratio(value: str) -> float | None:
    if not value.strip():
        return None
    try:
        ratio = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number between 0 and 1") from None
    if not 0.0 <= ratio <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 1 (1.0 = all must pass)")
    return ratio


def _dataset_list(value: str) -> list[str] | None:
    names = [n for n in value.replace(",", " ").split() if n]
    unknown = [n for n in names if n not in _DATASETS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown dataset {unknown[0]!r}; choose from {', '.join(_DATASETS)}"
        )
    return names or None


def _engine(value: str) -> str | None:
    if not value.strip():
        return None
    if value not in _ENGINES:
        raise argparse.ArgumentTypeError(f"{value!r} is not one of {', '.join(_ENGINES)}")
    return value


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=_text,
        metavar="PATH",
        help="CSV, Parquet file or folder of Parquet files to validate "
        "(default: the datasets in validation.datasets, from data.* in mlops.yaml).",
    )
    parser.add_argument(
        "--data-rev",
        type=_text,
        metavar="REV",
        help="Git revision at which DVC-tracked data is read (default: data.dvc_rev).",
    )
    parser.add_argument(
        "--suite",
        type=_text,
        metavar="PATH",
        help="Great Expectations 1.x ExpectationSuite JSON (default: validation.suite).",
    )
    parser.add_argument(
        "--min-success-ratio",
        type=_ratio,
        metavar="X",
        help="Share of expectations that must pass on each dataset, 0..1 "
        "(default: validation.min_success_ratio, else 1.0).",
    )
    parser.add_argument(
        "--engine",
        type=_engine,
        metavar="{pandas,spark,sql}",
        help="Where expectations run (default: validation.engine, else pandas).",
    )
    parser.add_argument(
        "--datasets",
        type=_dataset_list,
        metavar="NAMES",
        help="Comma-separated datasets to validate when --data is not given "
        "(default: validation.datasets, else train,holdout).",
    )
    parser.add_argument(
        "--sql-connection-string",
        type=_text,
        metavar="URL",
        help="SQLAlchemy URL for --engine sql (default: validation.sql.connection_string).",
    )
    parser.add_argument(
        "--sql-table",
        type=_text,
        metavar="TABLE",
        help="Table for --engine sql (default: validation.sql.table).",
    )
    parser.add_argument(
        "--spark-master",
        type=_text,
        metavar="URL",
        help="Spark master for --engine spark (default: the active session, else local[*]).",
    )
    parser.add_argument(
        "--draft-suite",
        type=_text,
        metavar="OUT",
        help="Instead of validating, write a starter suite drafted from --data (or data.train).",
    )
    parser.add_argument(
        "--force", action="store_true", help="With --draft-suite: overwrite an existing file."
    )


def _config(ctx: Context) -> Settings | None:
    """mlops.yaml when there is one (or one was asked for); flags alone also work."""
    if ctx.config_explicit or ctx.config_path.exists():
        return ctx.settings()
    return None


def _run(ctx: Context) -> StepResult:
    config = _config(ctx)
    if ctx.args.draft_suite:
        return _draft(ctx, config)
    from mlops_actions.steps.validate_data import validate_data

    result = validate_data(_settings(ctx, config))
    return StepResult(
        "validate-data",
        {
            "success": result.success,
            "success-ratio": round(result.success_ratio, 6),
            "failed-expectations": result.failed_expectations,
            "data-version": result.data_version,
            "report-path": str(result.report_path),
        },
        passed=result.success,
        message=result.verdict,
        summary=result.summary,
        annotations=_annotations(result),
    )


def _settings(ctx: Context, config: Settings | None) -> ValidateDataSettings:
    from mlops_actions.steps.validate_data import SqlTable, ValidateDataSettings

    args = ctx.args
    validation = config.validation if config else None
    engine: Engine = args.engine or (validation.engine if validation else "pandas")
    suite = Path(args.suite) if args.suite else (validation.suite if validation else None)
    if suite is None:
        raise InputError(
            "no expectation suite given;",
            hint="pass --suite PATH or set validation.suite in mlops.yaml; draft one with "
            "`mlops validate-data --data DATA --draft-suite expectations/suite.json`.",
        )
    sources: tuple[DataSource, ...]
    if engine == "sql":
        if args.data:
            raise InputError(
                "--engine sql validates a table, not --data;",
                hint="drop --data, or use --engine pandas/spark for files.",
            )
        sql = validation.sql if validation else None
        url = args.sql_connection_string or (sql.connection_string if sql else None)
        table = args.sql_table or (sql.table if sql else None)
        if not url or not table:
            raise InputError(
                "--engine sql needs a connection string and a table;",
                hint="pass --sql-connection-string URL --sql-table NAME, or set validation.sql.",
            )
        from mlops_actions.steps.validate_data import DataSource

        sources = (DataSource(table, sql=SqlTable(url, table)),)
    else:
        sources = _file_sources(ctx, config)
    min_ratio = args.min_success_ratio
    if min_ratio is None:
        min_ratio = validation.min_success_ratio if validation else 1.0
    return ValidateDataSettings(
        sources=sources,
        suite=suite,
        report_dir=_report_dir(ctx, config),
        min_success_ratio=min_ratio,
        engine=engine,
        spark_master=args.spark_master or "local[*]",
    )


def _file_sources(ctx: Context, config: Settings | None) -> tuple[DataSource, ...]:
    from mlops_actions.steps.validate_data import DataSource

    args = ctx.args
    rev = args.data_rev or (config.data.dvc_rev if config else None)
    if args.data:
        path = Path(args.data)
        return (DataSource(path.name or str(path), path, rev),)
    if config is None:
        raise InputError(
            f"nothing to validate: no --data and no {ctx.config_path};",
            hint="pass --data PATH, or run where mlops.yaml sets data.train/data.holdout "
            "(or pass --config).",
        )
    names = args.datasets or list(config.validation.datasets)
    sources = []
    for name in names:
        path = getattr(config.data, name)
        if path is None:
            raise InputError(
                f"dataset {name!r} is to be validated but data.{name} is not set in "
                f"{ctx.config_path};",
                hint=f"set data.{name}, or remove it from validation.datasets (or --datasets).",
            )
        sources.append(DataSource(name, Path(path), rev))
    return tuple(sources)


def _report_dir(ctx: Context, config: Settings | None) -> Path:
    if ctx.report_dir is not None:
        return Path(ctx.report_dir)
    from mlops_actions.config import default_report_dir

    return default_report_dir(config)


def _annotations(result: DataValidation) -> list[Annotation]:
    """One `::error` per failed expectation that names a column, on its line of the suite."""
    notes = []
    suite_file = _workspace_relative(result.suite.path)
    for dataset in result.datasets:
        for outcome in dataset.failed:
            if not outcome.columns:
                continue
            columns = ", ".join(repr(c) for c in outcome.columns)
            detail = outcome.error or outcome.observed
            if outcome.unexpected_percent is not None:
                detail += f" ({outcome.unexpected_percent:.2f} %)"
            if outcome.samples:
                detail += f", e.g. {', '.join(outcome.samples)}"
            word = "column" if len(outcome.columns) == 1 else "columns"
            notes.append(
                Annotation(
                    "error",
                    f"{dataset.name}: {word} {columns} failed {outcome.type}: {detail}",
                    file=suite_file,
                    line=result.suite.line_of(outcome.index),
                    title=f"validate-data: {word} {', '.join(outcome.columns)}",
                )
            )
    return notes


def _workspace_relative(path: Path) -> str:
    """The suite's path as GitHub attaches annotations: relative to the workspace."""
    root = Path(os.environ.get("GITHUB_WORKSPACE") or Path.cwd()).resolve()
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _draft(ctx: Context, config: Settings | None) -> StepResult:
    from mlops_actions.reports.markdown import escape
    from mlops_actions.steps.validate_data import DraftSettings, draft_suite_file

    args = ctx.args
    data = Path(args.data) if args.data else (config.data.train if config else None)
    if data is None:
        raise InputError(
            "--draft-suite needs data to draft from;",
            hint="pass --data PATH (or set data.train in mlops.yaml).",
        )
    rev = args.data_rev or (config.data.dvc_rev if config else None)
    draft = draft_suite_file(
        DraftSettings(
            data=data,
            output=Path(args.draft_suite),
            rev=rev,
            name=config.model.name if config else None,
            force=args.force,
        )
    )
    shown = escape(str(draft.path))
    mark = "✅" if draft.passes else "❌"
    summary = (
        f"### {mark} validate-data: drafted suite {escape(draft.name)}\n\n"
        f"{draft.expectations} expectations from {draft.rows:,} rows × {draft.columns} columns "
        f"of {escape(str(data))}, written to {shown}. "
        + (
            "They pass on that data. Review the bounds, then point validation.suite at the file.\n"
            if draft.passes
            else f"{len(draft.failed)} of them fail on that data; please report this.\n"
        )
    )
    return StepResult(
        "validate-data",
        {
            "suite-path": str(draft.path),
            "expectations": draft.expectations,
            "rows": draft.rows,
        },
        passed=draft.passes,
        message=f"wrote {draft.expectations} expectations to {draft.path}"
        if draft.passes
        else f"the drafted suite fails {len(draft.failed)} expectations on its own data",
        summary=summary,
    )


COMMAND = Command(
    "validate-data",
    "Validate data with a Great Expectations 1.x suite (or draft one)",
    _add_arguments,
    _run,
    outputs=(
        ("success", "true when every validated dataset reached the minimum success ratio"),
        ("success-ratio", "lowest share of expectations met across the datasets"),
        ("failed-expectations", "number of failed expectations"),
        ("data-version", "DVC revision and md5 (dvc:REV:md5) or content hash (sha256:…)"),
        ("report-path", "HTML report to upload as an artifact"),
    ),
    description="Validate the training data (CSV, Parquet, DVC-tracked or a SQL table) with a "
    "Great Expectations 1.x ExpectationSuite, on pandas, Spark or SQL; exit 1 when the success "
    "ratio is below the minimum. With --draft-suite, write a starter suite from the data.",
)
