"""The README's `make demo`: the product's whole story on this example, on this machine.

1. `mlops pipeline run`: validate the data, train, compare with the champion, register, approve,
   roll out on the local endpoint (canary with analysis), smoke-test. The promoted model keeps
   serving.
2. Production: `simulate_traffic.py` sends a few hundred applications to the endpoint over HTTP,
   the last half from shifted applicants, and writes their delayed labels (data/labels.csv,
   `monitor.ground_truth` in mlops.yaml).
3. Monitoring: `mlops drift-report --current predictions:` on the users' requests (the pipeline's
   smoke and probe requests are left out) and `mlops performance-report` on the labelled ones.
4. Where every report is, and how to stop the endpoint.

    python demo.py [--requests 300] [--stop-endpoint] [PIPELINE OPTIONS]  # e.g. --approve

Every other option goes to `mlops pipeline run` (`--approve`, `--param C=0.3`, …). When the
pipeline stops (approval refused, a gate said no) the demo stops too and exits with the pipeline's
code. `--stop-endpoint` stops the endpoint at the very end instead of leaving the champion serving.
Each phase's time and outputs go to .mlops/reports/demo.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "mlops.yaml"
REPORTS = HERE / ".mlops" / "reports"
LABELS = HERE / "data" / "labels.csv"  # monitor.ground_truth.path in mlops.yaml
PREDICTION_LOG = HERE / ".mlops" / "endpoint" / "predictions.jsonl"

# (label, file under the report folder), in the order of the story.
REPORT_FILES = (
    ("data validation", "validate-data.html"),
    ("comparison with the champion", "compare-champion-report.md"),
    ("registration", "register.md"),
    ("canary rollout", "canary-deploy.md"),
    ("smoke test", "smoke-test.md"),
    ("pipeline summary", "pipeline-run.md"),
    ("drift (Evidently HTML)", "drift-report.html"),
    ("drift summary", "drift-report.md"),
    ("performance summary", "performance-report.md"),
    ("performance details", "performance-report.details.json"),
)


def _mlops() -> str:
    beside = Path(sys.executable).with_name("mlops")
    return str(beside) if beside.exists() else (shutil.which("mlops") or "mlops")


def _shown(path: Path | str) -> str:
    """A path as the user typed from (relative to the working directory when that is shorter)."""
    text = str(path)
    try:
        relative = os.path.relpath(text)
    except ValueError:
        return text
    return relative if len(relative) < len(text) else text


def _heading(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _run(argv: list[str]) -> int:
    """Run one command in the example folder, its output straight to the terminal."""
    sys.stdout.flush()
    return subprocess.run(argv, cwd=HERE, check=False).returncode


def _serving_url() -> str:
    """The running endpoint's scoring URL (`mlops endpoint status --json`), else ''."""
    done = subprocess.run(
        [_mlops(), "endpoint", "status", "--json", "--config", str(CONFIG)],
        cwd=HERE,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        status = json.loads(done.stdout)
    except ValueError:
        return ""
    return str(status.get("endpoint-url") or "") if isinstance(status, dict) else ""


def _why_stopped(outputs: dict[str, Any], code: int) -> str:
    steps: dict[str, str] = outputs.get("steps") or {}
    failed = next((step for step, state in steps.items() if state == "failed"), None)
    if failed == "approval":
        why = (
            "you did not approve it"
            if sys.stdin.isatty()
            else "there is no terminal to ask, and without --approve the pipeline refuses"
        )
        return (
            f"the deployment was not approved ({why}), so nothing was deployed and there is no "
            "traffic to monitor: run `make demo DEMO_ARGS=--approve` (or answer y at the prompt)"
        )
    if failed == "compare-champion":
        reason = outputs.get("compare-champion.decision-reason") or "not better"
        url = _serving_url() if outputs.get("endpoint-state") == "running" else ""
        serving = f"\n  The champion keeps serving at {url}." if url else ""
        return (
            f"the comparison gate stopped the retrained model:\n  {reason}.\n  Retraining on "
            "the same data ties with the champion it would replace, so it is not deployed, as "
            f"it should be.{serving}\n  To tell the story again from the start: "
            f"{_shown(_mlops())} endpoint down --config {_shown(CONFIG)} && "
            f"rm -rf {_shown(HERE / '.mlops')} {_shown(HERE / 'data')}"
        )
    if failed:
        return f"the pipeline stopped at {failed}: see its message above"
    return f"the pipeline exited {code}: see its message above"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], allow_abbrev=False, add_help=True
    )
    parser.add_argument("--requests", type=int, default=300, help="Simulated requests (≤ 5,000).")
    parser.add_argument("--seed", type=int, default=2024, help="Seed of the simulated traffic.")
    parser.add_argument(
        "--stop-endpoint", action="store_true", help="Stop the local endpoint at the end."
    )
    args, pipeline_args = parser.parse_known_args(argv)
    mlops = _mlops()
    config = ["--config", str(CONFIG)]
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    summary: dict[str, Any] = {"seconds": seconds}
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "demo.json").unlink(missing_ok=True)

    def finish(code: int) -> int:
        if args.stop_endpoint:
            _run([mlops, "endpoint", "down", *config])
        seconds["total"] = round(time.perf_counter() - started, 2)
        summary["exit-code"] = code
        (REPORTS / "demo.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        return code

    if not (HERE / "data" / "train.csv").exists():
        _heading("0/4 data: generating the example's seeded data")
        t0 = time.perf_counter()
        code = _run([sys.executable, str(HERE / "generate_data.py")])
        seconds["generate-data"] = round(time.perf_counter() - t0, 2)
        if code:
            return finish(code)

    _heading("1/4 pipeline: validate → train → compare → register → approve → canary → smoke")
    # With --report-dir the run also writes its outputs as JSON (pipeline-run.json).
    (REPORTS / "pipeline-run.json").unlink(missing_ok=True)
    t0 = time.perf_counter()
    code = _run([mlops, "pipeline", "run", *config, "--report-dir", str(REPORTS), *pipeline_args])
    seconds["pipeline"] = round(time.perf_counter() - t0, 2)
    outputs = _read_json(REPORTS / "pipeline-run.json")
    summary["pipeline"] = {
        k: outputs.get(k) for k in ("steps", "complete", "endpoint-state", "seconds")
    }
    if code != 0:
        print(f"\ndemo stopped: {_why_stopped(outputs, code)}.", file=sys.stderr)
        return finish(code)
    url = outputs.get("canary-deploy.endpoint-url")
    if outputs.get("endpoint-state") != "running" or not url:
        print(
            "\ndemo stopped: the endpoint is not serving after the pipeline "
            f"(endpoint-state {outputs.get('endpoint-state')!r}): see the pipeline's summary above",
            file=sys.stderr,
        )
        return finish(1)

    _heading(f"2/4 production: {args.requests} requests to {url}, then their delayed labels")
    t0 = time.perf_counter()
    traffic_json = REPORTS / "traffic.json"
    simulate = [sys.executable, str(HERE / "simulate_traffic.py"), "--url", str(url), "--json"]
    simulate += ["--requests", str(args.requests), "--seed", str(args.seed)]
    simulate += ["--labels", str(LABELS)]
    with traffic_json.open("w", encoding="utf-8") as out:
        code = subprocess.run(simulate, cwd=HERE, stdout=out, check=False).returncode
    seconds["traffic"] = round(time.perf_counter() - t0, 2)
    traffic = _read_json(traffic_json)
    summary["traffic"] = traffic
    if traffic:
        print(
            f"{traffic['answered']} of {traffic['requests']} requests answered in "
            f"{traffic['seconds']} s (P50 {traffic['latency-p50-ms']} ms, P95 "
            f"{traffic['latency-p95-ms']} ms); the last {traffic['drifted-requests']} come from "
            f"shifted applicants (since {traffic['drift-started']}).\n"
            f"Their outcomes (the delayed labels, keyed by each answer's x-request-id): "
            f"{_shown(LABELS)}"
        )
    if code != 0:
        print(f"\ndemo stopped: the simulated traffic failed (exit {code}).", file=sys.stderr)
        return finish(code)

    _heading("3/4 monitoring: drift of the users' requests against the training data")
    t0 = time.perf_counter()
    drift = [mlops, "drift-report", *config, "--current", "predictions:"]
    code = _run([*drift, "--report-dir", str(REPORTS)])
    seconds["drift-report"] = round(time.perf_counter() - t0, 2)
    summary["drift-report"] = _read_json(REPORTS / "drift-report.json")
    if code != 0:
        return finish(code)
    _heading("3/4 monitoring: performance on the delayed labels")
    t0 = time.perf_counter()
    code = _run([mlops, "performance-report", *config, "--report-dir", str(REPORTS)])
    seconds["performance-report"] = round(time.perf_counter() - t0, 2)
    summary["performance-report"] = _read_json(REPORTS / "performance-report.json")
    if code != 0:
        return finish(code)

    _heading("4/4 where everything is")
    files = {name: REPORTS / name for _, name in REPORT_FILES if (REPORTS / name).exists()}
    summary["reports"] = {name: str(path) for name, path in files.items()}
    width = max(len(label) for label, _ in REPORT_FILES)
    for label, name in REPORT_FILES:
        if name in files:
            print(f"  {label:<{width}}  {_shown(files[name])}")
    print(f"  {'prediction log':<{width}}  {_shown(PREDICTION_LOG)}")
    print(f"  {'delayed labels':<{width}}  {_shown(LABELS)}")
    print(f"  {'MLflow store':<{width}}  {_shown(HERE / '.mlops' / 'mlflow.db')}")
    print(
        f"\nThe shifted slice alone:\n  {_shown(mlops)} drift-report --config {_shown(CONFIG)} "
        f"--current predictions: --since {traffic.get('drift-started', '')}"
    )
    total = time.perf_counter() - started
    stop = f"{_shown(mlops)} endpoint down --config {_shown(CONFIG)}"
    if args.stop_endpoint:
        print(f"\ndemo finished in {total:.0f} s; stopping the endpoint:")
    else:
        print(
            f"\ndemo finished in {total:.0f} s. The champion keeps "
            f"serving at {url}\n  try it:   {_shown(mlops)} endpoint status --config "
            f"{_shown(CONFIG)}\n  stop it:  {stop}"
        )
    return finish(0)


if __name__ == "__main__":
    sys.exit(main())
