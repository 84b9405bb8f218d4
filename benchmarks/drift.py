"""Drift benchmark: our vectorised engine against Evidently 0.7.23, same data, one run.

    .venv/bin/python benchmarks/drift.py                # 1M + 1M rows × 25 columns
    .venv/bin/python benchmarks/drift.py --rows 100000  # smaller

The parent process generates a seeded dataset (20 numeric + 5 categorical columns, drift injected
in some: mean shifts below, near and above the thresholds, variance changes, category-mix changes)
and writes it to parquet once. Each contender then runs in a fresh subprocess that reads the same
files, so both pay the same read cost and peak RSS (VmHWM of the whole subprocess, imports
included) is measured independently. Wall time covers the drift computation only; library imports
happen before the clock starts, for both:

1. Evidently: `Report([DataDriftPreset(...)], include_tests=True).run(current, reference)`.
2. Ours: `detect_drift(reference, current, ...)`.
3. Ours + report (unless `--sample-rows 0`): the engine, then Evidently's report rendered to HTML
   from a random sample with the methods and thresholds resolved by the engine, Evidently import
   included; this is what the drift-report step does.

CPU time (process_time of the computation) is printed too: unlike wall time it does not depend
on whatever else runs on the machine. The last line summarises: speed-up, RSS ratio, and how many
per-column verdicts agree.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

N_NUM = 20
N_CAT = 5
CATEGORIES = ["red", "green", "blue", "black", "white", "grey"]

# (mean shift in reference std units, std factor) per numeric column; the rest are special below
NUM_DRIFT: list[tuple[float, float]] = [
    (0.0, 1.0),
    (0.0, 1.0),
    (0.0, 1.0),
    (0.0, 1.0),
    (0.0, 1.0),
    (0.02, 1.0),  # tiny shift: KS notices at this size, the normed Wasserstein does not
    (0.05, 1.0),
    (0.09, 1.0),  # near the Wasserstein threshold 0.1
    (0.1, 1.0),
    (0.11, 1.0),
    (0.3, 1.0),
    (0.0, 1.1),
    (0.0, 1.3),
    (0.5, 1.5),
]


def generate(rows: int, seed: int, drift: bool) -> Any:
    """One frame; the reference when `drift` is False. Deterministic in (rows, seed, drift)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng([seed, int(drift)])
    cols: dict[str, Any] = {}
    for i, (shift, scale) in enumerate(NUM_DRIFT):
        loc, sd = (shift, scale) if drift else (0.0, 1.0)
        cols[f"num_{i:02d}"] = rng.normal(loc, sd, rows)
    i = len(NUM_DRIFT)
    # skewed amounts, current 8 % larger
    cols[f"num_{i:02d}"] = rng.lognormal(3.0 + (0.08 if drift else 0.0), 1.0, rows)
    # integer ages (many distinct values → numeric), current a little older
    cols[f"num_{i + 1:02d}"] = rng.integers(18, 91 + (3 if drift else 0), rows)
    # few distinct float values (→ Jensen-Shannon by default)
    probs = [0.5, 0.3, 0.2] if not drift else [0.45, 0.32, 0.23]
    cols[f"num_{i + 2:02d}"] = rng.choice(np.array([0.0, 1.0, 2.0]), rows, p=probs)
    # 5 % missing, no drift
    x = rng.normal(0.0, 1.0, rows)
    x[rng.random(rows) < 0.05] = np.nan
    cols[f"num_{i + 3:02d}"] = x
    # heavy-tailed, scale change
    cols[f"num_{i + 4:02d}"] = rng.standard_t(3, rows) * (1.2 if drift else 1.0)
    # uniform, no drift
    cols[f"num_{i + 5:02d}"] = rng.uniform(0, 100, rows)
    assert len(cols) == N_NUM, len(cols)

    labels = np.array(CATEGORIES, dtype=object)
    uniform = np.full(len(CATEGORIES), 1 / len(CATEGORIES))
    mixes = [
        (uniform, uniform),
        (uniform, uniform),
        (uniform, np.array([0.3, 0.2, 0.15, 0.15, 0.1, 0.1])),
        (uniform, np.array([0.19, 0.17, 0.16, 0.16, 0.16, 0.16])),
    ]
    for j, (ref_p, cur_p) in enumerate(mixes):
        cols[f"cat_{j}"] = rng.choice(labels, rows, p=cur_p if drift else ref_p)
    yes_no = np.array(["yes", "no"], dtype=object)
    cols[f"cat_{len(mixes)}"] = rng.choice(yes_no, rows, p=[0.4, 0.6] if drift else [0.35, 0.65])
    return pd.DataFrame(cols)


def peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read(directory: Path) -> tuple[Any, Any]:
    """Both frames, read the same lean way for every contender."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frames = tuple(
        pq.read_table(directory / name).to_pandas(split_blocks=True, self_destruct=True)
        for name in ("reference.parquet", "current.parquet")
    )
    pa.default_memory_pool().release_unused()
    return frames[0], frames[1]


def methods(args: argparse.Namespace) -> dict[str, str]:
    return {
        k: v
        for k, v in (("num_method", args.num_method), ("cat_method", args.cat_method))
        if v is not None
    }


def worker_evidently(args: argparse.Namespace) -> dict[str, Any]:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    reference, current = read(args.dir)
    start, cpu = time.perf_counter(), time.process_time()
    snapshot = Report([DataDriftPreset(**methods(args))], include_tests=True).run(
        current, reference
    )
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    data = snapshot.dict()
    columns: dict[str, str] = {}
    scores: dict[str, Any] = {}
    for metric in data["metrics"]:
        config = metric["config"]
        if config["type"].endswith(":ValueDrift"):
            columns[metric["id"]] = config["column"]
            scores[config["column"]] = metric["value"]
    verdicts = {
        columns[t["metric_config"]["metric_id"]]: {
            "drifted": t["status"] == "FAIL",
            "score": scores[columns[t["metric_config"]["metric_id"]]],
        }
        for t in data["tests"]
        if t["metric_config"]["metric_id"] in columns
    }
    return {"wall": wall, "cpu": cpu, "verdicts": verdicts}


def worker_ours(args: argparse.Namespace, *, with_report: bool) -> dict[str, Any]:
    import scipy.spatial
    import scipy.stats  # noqa: F401  (imported before the clock, as Evidently's are)

    from mlops_actions.monitoring.drift_stats import detect_drift

    reference, current = read(args.dir)
    start, cpu = time.perf_counter(), time.process_time()
    summary = detect_drift(reference, current, workers=args.workers, **methods(args))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    out: dict[str, Any] = {
        "wall": wall,
        "cpu": cpu,
        "verdicts": {c.column: {"drifted": c.drifted, "score": c.score} for c in summary.columns},
        "dataset_drift": summary.dataset_drift,
    }
    if with_report:
        from evidently import Report
        from evidently.presets import DataDriftPreset

        scored = [c for c in summary.columns if c.method is not None]
        preset = DataDriftPreset(
            columns=[c.column for c in scored],
            per_column_method={c.column: c.method for c in scored if c.method},
            per_column_threshold={c.column: c.threshold for c in scored if c.threshold is not None},
        )
        n = args.sample_rows
        ref_sample = reference.sample(n=min(n, len(reference)), random_state=0)
        cur_sample = current.sample(n=min(n, len(current)), random_state=0)
        snapshot = Report([preset]).run(cur_sample, ref_sample)
        snapshot.save_html(str(args.dir / "drift-report.html"))
        out["report_wall"] = time.perf_counter() - start
    return out


def run_worker(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    out = args.dir / f"{kind}.json"
    cmd = [sys.executable, __file__, "--worker", kind, "--dir", str(args.dir), "--out", str(out)]
    cmd += ["--workers", str(args.workers), "--sample-rows", str(args.sample_rows)]
    for flag, value in (("--num-method", args.num_method), ("--cat-method", args.cat_method)):
        if value is not None:
            cmd += [flag, value]
    env = {
        **os.environ,
        "DO_NOT_TRACK": "true",
        "PYTHONWARNINGS": "ignore",
    }
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    result: dict[str, Any] = json.loads(out.read_text())
    print(
        f"  {kind:<14} {result['wall']:8.2f} s wall {result['cpu']:8.2f} s CPU "
        f"{result['rss_mb']:7.0f} MB  (subprocess {time.perf_counter() - started:.1f} s, "
        f"load {os.getloadavg()[0]:.1f})",
        file=sys.stderr,
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per frame")
    parser.add_argument("--seed", type=int, default=20240501)
    parser.add_argument("--workers", type=int, default=2, help="threads for our engine")
    parser.add_argument("--num-method", default=None, help="e.g. ks (default: Evidently's)")
    parser.add_argument("--cat-method", default=None, help="e.g. chisquare")
    parser.add_argument(
        "--sample-rows",
        type=int,
        default=20_000,
        help="rows per frame for the sampled Evidently report (0: skip that run)",
    )
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument(
        "--worker", choices=["evidently", "ours", "ours+report"], help=argparse.SUPPRESS
    )
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        if args.worker == "evidently":
            result = worker_evidently(args)
        else:
            result = worker_ours(args, with_report=args.worker == "ours+report")
        result["rss_mb"] = peak_rss_mb()
        args.out.write_text(json.dumps(result))
        return 0

    with tempfile.TemporaryDirectory(prefix="drift-bench-") as tmp:
        args.dir = Path(tmp)
        started = time.perf_counter()
        generate(args.rows, args.seed, drift=False).to_parquet(args.dir / "reference.parquet")
        generate(args.rows, args.seed, drift=True).to_parquet(args.dir / "current.parquet")
        print(
            f"data: {args.rows:,} + {args.rows:,} rows × {N_NUM + N_CAT} columns "
            f"({time.perf_counter() - started:.1f} s to generate and write)",
            file=sys.stderr,
        )
        ours = run_worker("ours", args)
        report = run_worker("ours+report", args) if args.sample_rows > 0 else None
        if args.skip_evidently:
            print(f"drift: ours {ours['wall']:.2f} s / {ours['rss_mb'] / 1024:.2f} GB")
            return 0
        evidently = run_worker("evidently", args)

    common = sorted(set(ours["verdicts"]) & set(evidently["verdicts"]))
    agree = [
        c for c in common if ours["verdicts"][c]["drifted"] == evidently["verdicts"][c]["drifted"]
    ]
    for column in common:
        o, e = ours["verdicts"][column], evidently["verdicts"][column]
        mark = "" if o["drifted"] == e["drifted"] else "   <-- differs"
        print(
            f"  {column:<8} ours {o['score']:.6g} {'drift' if o['drifted'] else 'ok':5}  "
            f"evidently {e['score']:.6g} {'drift' if e['drifted'] else 'ok'}{mark}",
            file=sys.stderr,
        )
    speedup = evidently["wall"] / ours["wall"]
    print(
        f"CPU time: ours {ours['cpu']:.1f} s, evidently {evidently['cpu']:.0f} s → "
        f"{evidently['cpu'] / ours['cpu']:.1f}× less (wall depends on other load on the machine)"
    )
    rss_ratio = ours["rss_mb"] / evidently["rss_mb"]
    if report is not None:
        print(
            f"drift + report: ours {report['report_wall']:.1f} s / {report['rss_mb'] / 1024:.2f} GB"
            f" (engine + Evidently HTML from {args.sample_rows:,} sampled rows) → "
            f"{evidently['wall'] / report['report_wall']:.1f}× faster, "
            f"{report['rss_mb'] / evidently['rss_mb']:.2f}× RSS"
        )
    print(
        f"drift: ours {ours['wall']:.1f} s / {ours['rss_mb'] / 1024:.2f} GB, "
        f"evidently {evidently['wall']:.0f} s / {evidently['rss_mb'] / 1024:.2f} GB → "
        f"{speedup:.1f}× faster, {rss_ratio:.2f}× RSS, "
        f"verdicts agree {len(agree)}/{len(common)}"
    )
    return 0 if len(agree) == len(common) else 1


if __name__ == "__main__":
    raise SystemExit(main())
