"""`mlops --help` start-up against its anchors, in one run.

Anchors: a bare interpreter (`python -c pass`, the floor) and `import mlflow` (what the help
would cost if the CLI imported the ML libraries eagerly). Prints medians and ratios.

    python benchmarks/cli_startup.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def median_seconds(argv: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    py = sys.executable
    bare = median_seconds([py, "-c", "pass"], args.repeat)
    helped = median_seconds([py, "-m", "mlops_actions", "--help"], args.repeat)
    config_help = median_seconds(
        [py, "-m", "mlops_actions", "config", "check", "--help"], args.repeat
    )
    mlflow = median_seconds([py, "-c", "import mlflow"], max(3, args.repeat // 5))
    print(f"python -c pass        {bare * 1000:7.1f} ms")
    print(f"mlops --help          {helped * 1000:7.1f} ms  ({helped / bare:.1f}× bare python)")
    print(f"mlops config check -h {config_help * 1000:7.1f} ms")
    print(f"python -c import mlflow {mlflow * 1000:5.0f} ms  ({mlflow / helped:.0f}× mlops --help)")
    print(
        f"cli-startup: mlops --help {helped * 1000:.0f} ms = {helped / bare:.1f}× bare python, "
        f"{helped / mlflow:.2f}× import mlflow"
    )


if __name__ == "__main__":
    main()
