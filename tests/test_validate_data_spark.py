"""`mlops validate-data --engine spark`: GX's Spark datasource on local Spark, same verdicts.

One JVM (local[2]) serves the whole module; it starts with the first Spark run and is stopped at
the end. Parquet is read by Spark itself, CSV through pandas (NaN handed over as null).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.conftest import EXAMPLE
from tests.test_validate_data import corrupt, generated, one_line_error, results, verdicts

pytestmark = pytest.mark.slow
__all__ = ["generated"]  # the module-scoped data fixture, shared with the pandas tests


@pytest.fixture(scope="module", autouse=True)
def _stop_spark() -> Iterator[None]:
    yield
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is not None:
        session.stop()


def _project(root: Path, data: Path) -> Path:
    root.mkdir()
    shutil.copy(EXAMPLE / "mlops.yaml", root / "mlops.yaml")
    shutil.copytree(EXAMPLE / "expectations", root / "expectations")
    shutil.copytree(data, root / "data")
    return root


def test_spark_gives_the_pandas_verdicts_on_parquet_and_csv(
    tmp_path: Path, generated: Path, mlops: Any
) -> None:
    project = _project(tmp_path / "p", generated)
    corrupt(project / "data" / "holdout.csv")
    holdout = pd.read_csv(project / "data" / "holdout.csv")
    (project / "parts").mkdir()
    holdout.iloc[:250].to_parquet(project / "parts" / "a.parquet")
    holdout.iloc[250:].to_parquet(project / "parts" / "b.parquet")
    config = project / "mlops.yaml"
    runs = {
        "pandas-csv": ("--engine", "pandas", "--datasets", "holdout"),
        # engine from the config file, data from data.holdout (CSV, handed over via pandas)
        "spark-csv": ("--spark-master", "local[2]", "--datasets", "holdout"),
        "spark-parquet": ("--engine", "spark", "--data", str(project / "parts")),
        "pandas-parquet": ("--engine", "pandas", "--data", str(project / "parts")),
    }
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("  min_success_ratio: 1.0\n", "  min_success_ratio: 1.0\n  engine: spark\n")
    )
    found: dict[str, list[list[bool]]] = {}
    for name, argv in runs.items():
        run = mlops(
            "validate-data",
            "--config",
            str(config),
            "--report-dir",
            str(project / name),
            *argv,
            "--json",
        )
        assert run.code == 1, (name, run.err)
        assert json.loads(run.out)["failed-expectations"] == 3, name
        found[name] = verdicts(project / name)
    assert found["spark-csv"] == found["pandas-csv"]
    assert found["spark-parquet"] == found["pandas-parquet"] == found["pandas-csv"]

    spark = results(project / "spark-parquet")
    assert spark["engine"] == "spark"
    holdout_result = spark["datasets"][0]
    assert holdout_result["rows"] == 500  # from the Parquet footers
    failed = {r["columns"][0]: r for r in holdout_result["results"] if not r["success"]}
    assert set(failed) == {"age", "purpose", "income"}
    assert failed["age"]["samples"] == ["-5"]
    assert failed["income"]["unexpected_count"] == 11
    pandas_failed = {
        r["columns"][0]: r
        for r in results(project / "pandas-parquet")["datasets"][0]["results"]
        if not r["success"]
    }
    for column in failed:
        assert failed[column]["unexpected_count"] == pandas_failed[column]["unexpected_count"]


def test_spark_reports_missing_columns_and_bad_parquet(tmp_path: Path, mlops: Any) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, None]})
    frame.to_parquet(tmp_path / "d.parquet")
    suite = {
        "name": "s",
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x"}},
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "y"}},
        ],
    }
    (tmp_path / "s.json").write_text(json.dumps(suite), encoding="utf-8")
    common = (
        "--suite",
        str(tmp_path / "s.json"),
        "--engine",
        "spark",
        "--spark-master",
        "local[2]",
    )
    run = mlops("validate-data", "--data", str(tmp_path / "d.parquet"), *common,
                "--report-dir", str(tmp_path / "r"))  # fmt: skip
    assert run.code == 1, run.err
    got = results(tmp_path / "r")["datasets"][0]["results"]
    assert [r["success"] for r in got] == [False, False]
    assert got[0]["unexpected_count"] == 1  # the NaN Spark read from Parquet as null
    assert got[1]["error"] == "column 'y' is not in the data"

    cut = tmp_path / "cut.parquet"
    cut.write_bytes((tmp_path / "d.parquet").read_bytes()[:100])
    bad = mlops("validate-data", "--data", str(cut), *common)
    assert "truncated or corrupt" in one_line_error(bad)
    missing = mlops("validate-data", "--data", str(tmp_path / "nope.parquet"), *common)
    assert "data not found" in one_line_error(missing)
