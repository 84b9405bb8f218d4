"""`mlops validate-data` against a bare Great Expectations script, in one run.

Data: 1M rows × 25 columns (20 numeric, 5 categorical, a few nulls) in one Parquet file; suite: 20
expectations (ranges, not-null rules, value sets, row count), two of which fail. Both sides are
whole processes on the same file and suite: the bare script imports GX and pandas, reads the
Parquet file and validates; `mlops validate-data` also names the data version (a sha256 of the
file), builds the Markdown/JSON/HTML reports and the annotations. Prints medians of wall time and
peak RSS (per child, from wait4) and the ratios (goal: ≤ 1.2× each).

    python benchmarks/validate_data.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BARE_GX = """
import json, sys
import great_expectations as gx
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig

frame = pd.read_parquet(sys.argv[1])
context = gx.get_context(mode="ephemeral")
context.variables.progress_bars = ProgressBarsConfig(globally=False)
batch = (
    context.data_sources.add_pandas("p")
    .add_dataframe_asset("d")
    .add_batch_definition_whole_dataframe("b")
    .get_batch(batch_parameters={"dataframe": frame})
)
with open(sys.argv[2], encoding="utf-8") as fh:
    suite = gx.ExpectationSuite(**json.load(fh))
result = batch.validate(suite)
print(result.statistics["unsuccessful_expectations"])
"""

CATEGORIES = {
    "purpose": ["car", "home", "business", "education", "medical", "other"],
    "home": ["rent", "mortgage", "own"],
    "employment": ["salaried", "self_employed", "contract", "unemployed"],
    "region": ["north", "south", "east", "west"],
    "term": ["36m", "60m"],
}


def make_data(path: Path, rows: int) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(11)
    columns: dict[str, object] = {}
    for i in range(20):
        values = rng.normal(100 * i, 10 + i, rows)
        columns[f"n{i:02d}"] = values.round() if i % 4 == 0 else values
    frame = pd.DataFrame(columns)
    for j, (name, choices) in enumerate(CATEGORIES.items()):
        frame[name] = rng.choice(choices, rows)
        if j < 2:
            frame.loc[rng.random(rows) < 0.01, name] = None
    frame.loc[rng.random(rows) < 0.01, "n01"] = np.nan
    frame.to_parquet(path)


def make_suite(path: Path, rows: int) -> None:
    expectations = []
    for i in range(10):  # n09 fails: its range is too narrow
        center, spread = 100 * i, 10 + i
        width = 2 if i == 9 else 7
        expectations.append(
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {
                    "column": f"n{i:02d}",
                    "min_value": center - width * spread,
                    "max_value": center + width * spread,
                },
            }
        )
    for i in range(10, 14):
        expectations.append(
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": f"n{i:02d}"}}
        )
    expectations.append(  # fails: n01 has 1 % nulls
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "n01"}}
    )
    for name, choices in list(CATEGORIES.items())[:4]:
        expectations.append(
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": name, "value_set": choices},
            }
        )
    expectations.append(
        {
            "type": "expect_table_row_count_to_be_between",
            "kwargs": {"min_value": rows // 2, "max_value": rows * 2},
        }
    )
    assert len(expectations) == 20
    path.write_text(json.dumps({"name": "bench", "expectations": expectations}, indent=2))


def measure(argv: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (GB) of one child process."""
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "true"}
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in (0, 1):  # 1: the suite has failing expectations on purpose
            err.seek(0)
            raise SystemExit(f"{argv[:4]} failed ({proc.returncode}):\n{err.read()[-2000:]!r}")
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss / 1024 / 1024  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data, suite = folder / "data.parquet", folder / "suite.json"
        make_data(data, args.rows)
        make_suite(suite, args.rows)
        bare_argv = [py, "-c", BARE_GX, str(data), str(suite)]
        mlops_argv = [
            py, "-m", "mlops_actions", "validate-data", "--data", str(data), "--suite", str(suite),
            "--report-dir", str(folder / "reports"), "--json",
        ]  # fmt: skip
        measure(bare_argv)  # warm the page cache and .pyc files for both sides
        bare, ours = [], []
        for _ in range(args.repeat):
            bare.append(measure(bare_argv))
            ours.append(measure(mlops_argv))
        result = json.loads((folder / "reports" / "validate-data.json").read_text())
    bare_wall, bare_cpu, bare_rss = (statistics.median(m[i] for m in bare) for i in range(3))
    ours_wall, ours_cpu, ours_rss = (statistics.median(m[i] for m in ours) for i in range(3))
    print(f"data: {args.rows:,} rows × 25 columns (Parquet), suite: 20 expectations")
    print(f"mlops validate-data: failed-expectations={result['failed-expectations']}")
    print("                      wall      cpu   peak RSS   (medians of", args.repeat, "runs)")
    print(f"bare GX script       {bare_wall:5.2f} s  {bare_cpu:5.2f} s  {bare_rss:5.2f} GB")
    print(f"mlops validate-data  {ours_wall:5.2f} s  {ours_cpu:5.2f} s  {ours_rss:5.2f} GB")
    print(
        f"validate-data: wall-time ratio {ours_wall / bare_wall:.2f}×, "
        f"peak RSS ratio {ours_rss / bare_rss:.2f}× (goal ≤ 1.2× each); "
        f"cpu-time ratio {ours_cpu / bare_cpu:.2f}×"
    )


if __name__ == "__main__":
    main()
