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
from mlops_actions.commands.options import setting_flag
from mlops_actions.errors import InputError
from mlops_actions.results import Annotation, StepResult

if TYPE_CHECKING:
    from mlops_actions.config import Settings, ValidationSettings
    from mlops_actions.steps.validate_data import DataSource, DataValidation, ValidateDataSettings


def _text(value: str) -> str | None:
    """Action inputs arrive as strings, unset ones as ""; both mean "not given"."""
    return value.strip() or None


def _path(value: str) -> Path | None:
    return Path(value.strip()) if value.strip() else None


def _names(value: str) -> list[str] | None:
    """`train,holdout` or `train holdout` as a list (validation.datasets checks the names)."""
    return [n for n in value.replace(",", " ").split() if n] or None


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
    setting_flag(
        parser,
        "--suite",
        "validation.suite",
        type=_path,
        metavar="PATH",
        help="Great Expectations 1.x ExpectationSuite JSON.",
    )
    setting_flag(
        parser,
        "--min-success-ratio",
        "validation.min_success_ratio",
        type=float,
        metavar="X",
        help="Share of expectations that must pass on each dataset, 0..1 (1.0 = all).",
    )
    setting_flag(
        parser,
        "--engine",
        "validation.engine",
        type=_text,
        metavar="{pandas,spark,sql}",
        help="Where expectations run.",
    )
    setting_flag(
        parser,
        "--datasets",
        "validation.datasets",
        type=_names,
        metavar="NAMES",
        help="Comma-separated datasets to validate when --data is not given "
        "(train, holdout, current).",
    )
    setting_flag(
        parser,
        "--sql-connection-string",
        "validation.sql.connection_string",
        type=_text,
        metavar="URL",
        help="SQLAlchemy URL for --engine sql.",
    )
    setting_flag(
        parser,
        "--sql-table",
        "validation.sql.table",
        type=_text,
        metavar="TABLE",
        help="Table for --engine sql.",
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


def _run(ctx: Context) -> StepResult:
    config = ctx.optional_settings()  # flags alone also work
    if ctx.args.draft_suite:
        return _draft(ctx, config)
    from mlops_actions.reports.validate_data import verdict, write_reports
    from mlops_actions.steps.validate_data import validate_data

    result = validate_data(_settings(ctx))
    files = write_reports(result, ctx.report_folder(config))
    return StepResult(
        "validate-data",
        {
            "success": result.success,
            "success-ratio": round(result.success_ratio, 6),
            "failed-expectations": result.failed_expectations,
            "data-version": result.data_version,
            "report-path": str(files.html),
        },
        passed=result.success,
        message=verdict(result.datasets, result.min_success_ratio),
        summary=files.summary,
        annotations=_annotations(result),
    )


def _settings(ctx: Context) -> ValidateDataSettings:
    from mlops_actions.steps.validate_data import DataSource, SqlTable, ValidateDataSettings

    validation: ValidationSettings = ctx.section("validation")
    if validation.suite is None:
        raise InputError(
            "no expectation suite given;",
            hint="pass --suite PATH or set validation.suite in mlops.yaml; draft one with "
            "`mlops validate-data --data DATA --draft-suite expectations/suite.json`.",
        )
    sources: tuple[DataSource, ...]
    if validation.engine == "sql":
        if ctx.args.data:
            raise InputError(
                "--engine sql validates a table, not --data;",
                hint="drop --data, or use --engine pandas/spark for files.",
            )
        if validation.sql is None:
            raise InputError(
                "--engine sql needs a connection string and a table;",
                hint="pass --sql-connection-string URL --sql-table NAME, or set validation.sql.",
            )
        sql = validation.sql
        sources = (DataSource(sql.table, sql=SqlTable(sql.connection_string, sql.table)),)
    else:
        sources = _file_sources(ctx, ctx.optional_settings(), validation)
    return ValidateDataSettings(
        sources=sources,
        suite=validation.suite,
        min_success_ratio=validation.min_success_ratio,
        engine=validation.engine,
        spark_master=ctx.args.spark_master or "local[*]",
    )


def _file_sources(
    ctx: Context, config: Settings | None, validation: ValidationSettings
) -> tuple[DataSource, ...]:
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
    sources = []
    for name in validation.datasets:
        path = getattr(config.data, name)
        if path is None:
            raise InputError(
                f"dataset {name!r} is to be validated but data.{name} is not set in "
                f"{ctx.config_path};",
                hint=f"set data.{name}, or remove it from validation.datasets (or --datasets).",
            )
        sources.append(DataSource(name, Path(path), rev))
    return tuple(sources)


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
    from mlops_actions.reports.validate_data import draft_markdown
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
    summary = draft_markdown(draft, data)
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
