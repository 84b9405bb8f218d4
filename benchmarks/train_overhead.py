"""The training step's own overhead: `mlops train` against running the same script directly.

Anchor: `python train.py` of the example with MLFLOW_TRACKING_URI set, so the script makes its
own MLflow run (what a user would do without mlops). Step: `mlops train` on the same repository,
which creates the run, records the lineage, streams the log and finds the logged model. Both use
the same warm sqlite store (created and migrated before timing). Runs alternate; the overhead is
the median of the differences of back-to-back pairs (wall time), and also the difference of the
CPU time of the two process trees, which a busy machine does not inflate (the step's extra work is
single-threaded, so on an idle machine its CPU time is its wall time). The step also reports the
time it spent outside the script by its own clock (imports excluded). Target: overhead ≤ 3 s.

Bytecode: both commands run with a warm bytecode cache in a temporary PYTHONPYCACHEPREFIX, as on
a machine where Python writes its .pyc files. (Where PYTHONDONTWRITEBYTECODE is set and the venv
was installed without compiled bytecode — `uv pip sync` without --compile-bytecode — every
process compiles mlflow, sqlalchemy and alembic from source: seconds per process; measure that
with --no-bytecode-cache.)

    python benchmarks/train_overhead.py [--repeat 3] [--rows 2000] [--no-bytecode-cache]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "credit-default"


def _env(store: str, pycache: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    env.update(
        MLFLOW_TRACKING_URI=store,
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    env.pop("MLFLOW_RUN_ID", None)
    for key in ("GITHUB_ACTIONS", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        env.pop(key, None)
    return env


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the whole process tree, output)."""
    cpu, start = _cpu(), time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed, used = time.perf_counter() - start, _cpu() - cpu
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed, used, done.stdout + done.stderr


def _setup(root: Path, rows: int) -> tuple[Path, str]:
    shutil.copy(EXAMPLE / "train.py", root / "train.py")
    generate = [sys.executable, str(EXAMPLE / "generate_data.py"), "--out", str(root / "data")]
    subprocess.run([*generate, "--rows", str(rows)], check=True, capture_output=True)
    store = f"sqlite:///{root / '.mlops' / 'mlflow.db'}"
    (root / "mlops.yaml").write_text(
        (EXAMPLE / "mlops.yaml").read_text(encoding="utf-8") + f"\ntracking_uri: {store}\n",
        encoding="utf-8",
    )
    (root / ".gitignore").write_text(".mlops/\nmlruns/\n", encoding="utf-8")
    git = ["git", "-C", str(root), "-c", "user.email=b@example.com", "-c", "user.name=b"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "bench"], check=True)
    return root / "mlops.yaml", store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="Keep the environment's bytecode settings (see the module docstring).",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="train-overhead-") as tmp:
        root = Path(tmp)
        config, store = _setup(root, args.rows)
        env = _env(store, None if args.no_bytecode_cache else root / "pycache")
        direct = [sys.executable, "train.py"]
        step = [sys.executable, "-m", "mlops_actions", "train", "--config", str(config)]
        # warm-up: creates and migrates the sqlite store, fills the OS file and bytecode caches
        for _ in range(2):
            _timed(step, root, env)
            _timed(direct, root, env)
        anchors, steps, inner, cpu_anchor, cpu_step = [], [], [], [], []
        for _ in range(args.repeat):
            wall, cpu, _ = _timed(direct, root, env)
            anchors.append(wall)
            cpu_anchor.append(cpu)
            wall, cpu, output = _timed(step, root, env)
            steps.append(wall)
            cpu_step.append(cpu)
            found = re.search(r"of which mlops ([0-9.]+) s", output)
            if found:
                inner.append(float(found.group(1)))
    anchor, stepped = statistics.median(anchors), statistics.median(steps)
    # Pairs run back to back see the same machine load: their difference is the robust figure.
    overhead = statistics.median(s - a for s, a in zip(steps, anchors, strict=True))
    best = min(steps) - min(anchors)
    print(
        f"python train.py (anchor) {anchor:6.2f} s   runs: {', '.join(f'{t:.2f}' for t in anchors)}"
    )
    print(
        f"mlops train              {stepped:6.2f} s   runs: {', '.join(f'{t:.2f}' for t in steps)}"
    )
    if inner:
        print(f"mlops's own clock        {statistics.median(inner):6.2f} s outside the script")
    print(f"fastest against fastest  {best:6.2f} s overhead")
    cpu_overhead = statistics.median(cpu_step) - statistics.median(cpu_anchor)
    print(
        f"CPU time (load-proof)    {statistics.median(cpu_anchor):6.2f} s direct, "
        f"{statistics.median(cpu_step):.2f} s mlops train: {cpu_overhead:.2f} s overhead"
    )
    print(
        f"train-overhead: {overhead:.2f} s per training (median of paired differences; "
        f"{stepped / anchor:.2f}× the direct run); target ≤ 3 s: "
        f"{'met' if overhead <= 3 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
