"""Simulated production traffic for the local endpoint, then the delayed labels of those requests.

Sends `--requests` single-application scoring requests over real HTTP to the local endpoint (only
127.0.0.1), one after another: the first part from the training distribution, the last
`--drifted-share` from shifted applicants (`generate_data.make_frame(drift=…)`: higher
utilisation, younger, shorter credit history, more business loans). Each answer carries its
request id (`x-request-id`); once the traffic is done the script appends the outcome of every
answered request to `--labels` (columns `request_id`, `default`, `labelled_at`,
`application_id`), as the loan book would report defaults weeks later (here: seconds later).
mlops.yaml's `monitor.ground_truth` points at that file, so `mlops performance-report` joins it
with the endpoint's prediction log.

    python simulate_traffic.py                       # URL from `mlops endpoint status --json`
    python simulate_traffic.py --url http://127.0.0.1:PORT/score --requests 300 --json

Seeded (the same seed sends the same rows and writes the same labels, request ids aside),
bounded (`--requests` ≤ 5,000 and `--max-seconds`), stdlib HTTP plus pandas. Exit 0 when every
request was answered, 1 when some failed, 2 for bad arguments or an endpoint that is not running.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
from generate_data import make_frame

HERE = Path(__file__).resolve().parent
TARGET = "default"
ID_COLUMN = "application_id"
MAX_REQUESTS = 5000
LOCAL_HOSTS = ("127.0.0.1", "localhost")
# Application ids of the traffic start far above the generated train/holdout/current ids.
FIRST_ID = 1_000_000


@dataclass
class Traffic:
    """What was sent and answered."""

    url: str
    sent: int = 0
    answered: int = 0
    drifted: int = 0
    errors: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    drift_started: str = ""
    """UTC time (ISO 8601) just before the first drifted request: `--since` of the drifted slice."""
    labels: Path | None = None
    seconds: float = 0.0

    def outputs(self) -> dict[str, Any]:
        latencies = sorted(self.latencies_ms)
        p95 = latencies[int(0.95 * (len(latencies) - 1))] if latencies else None
        return {
            "url": self.url,
            "requests": self.sent,
            "answered": self.answered,
            "drifted-requests": self.drifted,
            "failed": len(self.errors),
            "first-error": self.errors[0] if self.errors else "",
            "drift-started": self.drift_started,
            "labels-path": str(self.labels or ""),
            "latency-p50-ms": round(statistics.median(latencies), 2) if latencies else None,
            "latency-p95-ms": round(p95, 2) if p95 is not None else None,
            "seconds": round(self.seconds, 2),
        }


def endpoint_url(config: Path) -> str:
    """The scoring URL of the running local endpoint, from `mlops endpoint status --json`."""
    done = subprocess.run(
        ["mlops", "endpoint", "status", "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    try:
        status = json.loads(done.stdout)
    except ValueError:
        status = {}
    url = status.get("endpoint-url") if status.get("running") else None
    if not url:
        raise SystemExit(
            f"simulate_traffic: the local endpoint of {config} is not running "
            f"({done.stderr.strip()[-300:] or 'no URL'}): run `mlops pipeline run --approve` "
            "or `mlops endpoint up` first"
        )
    return str(url)


def _local(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in LOCAL_HOSTS or parts.port is None:
        raise SystemExit(
            f"simulate_traffic: {url!r} is not the local endpoint (http://127.0.0.1:PORT/score); "
            "this script only sends traffic to this machine"
        )
    return "127.0.0.1", parts.port, parts.path or "/score"


def applications(requests: int, drifted_share: float, drift: float, seed: int) -> pd.DataFrame:
    """The applications to score, in sending order: clean first, drifted last (`drifted` flag)."""
    rng = np.random.default_rng(seed)
    drifted = round(requests * drifted_share)
    clean = make_frame(requests - drifted, rng, start_id=FIRST_ID)
    shifted = make_frame(drifted, rng, drift=drift, start_id=FIRST_ID + requests - drifted)
    frame = pd.concat([clean, shifted], ignore_index=True)
    frame["drifted"] = [False] * len(clean) + [True] * len(shifted)
    return frame


def send(
    url: str, frame: pd.DataFrame, *, max_seconds: float, timeout_seconds: float = 10.0
) -> tuple[Traffic, list[tuple[str, int, int]]]:
    """POST each row as one Azure ML style request; (traffic, [(request id, app id, label)])."""
    host, port, path = _local(url)
    features = [c for c in frame.columns if c not in (TARGET, ID_COLUMN, "drifted")]
    # JSON-native values (numpy scalars are not serialisable).
    rows: list[list[Any]] = json.loads(frame[features].to_json(orient="values"))
    traffic = Traffic(url)
    answered: list[tuple[str, int, int]] = []
    started = time.monotonic()
    conn = http.client.HTTPConnection(host, port, timeout=timeout_seconds)
    try:
        for i, row in enumerate(rows):
            if time.monotonic() - started > max_seconds:
                traffic.errors.append(f"stopped after {max_seconds:g} s ({i} requests sent)")
                break
            if frame["drifted"].iat[i] and not traffic.drift_started:
                traffic.drift_started = datetime.now(UTC).isoformat(timespec="milliseconds")
            traffic.sent += 1
            traffic.drifted += bool(frame["drifted"].iat[i])
            body = json.dumps({"input_data": {"columns": features, "index": [0], "data": [row]}})
            sent_at = time.perf_counter()
            answer, payload, failure = None, b"", ""
            # A kept-alive connection the server has closed fails at once: retry once, afresh.
            for _attempt in range(2):
                try:
                    conn.request("POST", path, body, {"Content-Type": "application/json"})
                    answer = conn.getresponse()
                    payload = answer.read()
                    break
                except (OSError, http.client.HTTPException) as exc:
                    failure = f"{type(exc).__name__}: {exc}"
                    conn.close()
                    conn = http.client.HTTPConnection(host, port, timeout=timeout_seconds)
            if answer is None:
                traffic.errors.append(f"request {i}: {failure}")
                continue
            request_id = answer.getheader("x-request-id") or ""
            if answer.status != 200 or not request_id:
                said = payload[:200].decode("utf-8", errors="replace")
                traffic.errors.append(f"request {i}: HTTP {answer.status}: {said}")
                continue
            traffic.latencies_ms.append((time.perf_counter() - sent_at) * 1000)
            traffic.answered += 1
            answered.append((request_id, int(frame[ID_COLUMN].iat[i]), int(frame[TARGET].iat[i])))
    finally:
        conn.close()
    traffic.seconds = time.monotonic() - started
    return traffic, answered


def write_labels(path: Path, answered: list[tuple[str, int, int]]) -> None:
    """The delayed ground truth: one row per answered request, keyed by its request id.

    Appended to the labels of earlier runs (the loan book keeps growing), so a report over the
    whole prediction log still finds a label for every request; a new file gets the header.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ["request_id", TARGET, "labelled_at", ID_COLUMN]
    # Taken after the last answer: every label is dated after its prediction.
    arrived = datetime.now(UTC).isoformat(timespec="microseconds")
    try:
        with path.open(encoding="utf-8") as existing:
            append = existing.readline().strip() == ",".join(header)
    except FileNotFoundError:
        append = False
    with path.open("a" if append else "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, lineterminator="\n")
        if not append:
            out.writerow(header)
        for request_id, application_id, label in answered:
            out.writerow([request_id, label, arrived, application_id])


def _bounded(value: str) -> int:
    number = int(value)
    if not 1 <= number <= MAX_REQUESTS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_REQUESTS}")
    return number


def _share(value: str) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="Scoring URL (default: `mlops endpoint status --json`).")
    parser.add_argument("--config", type=Path, default=HERE / "mlops.yaml")
    parser.add_argument("--requests", type=_bounded, default=300, help="Requests to send.")
    parser.add_argument(
        "--drifted-share", type=_share, default=0.5, help="Share of the traffic, at its end, "
        "from shifted applicants (default: 0.5)."
    )  # fmt: skip
    parser.add_argument("--drift", type=_share, default=1.0, help="How far they shift, 0..1.")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--labels", type=Path, default=HERE / "data" / "labels.csv")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="Stop sending after.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object on stdout.")
    args = parser.parse_args(argv)

    url = args.url or endpoint_url(args.config)
    _local(url)
    frame = applications(args.requests, args.drifted_share, args.drift, args.seed)
    traffic, answered = send(url, frame, max_seconds=args.max_seconds)
    write_labels(args.labels, answered)
    traffic.labels = args.labels
    outputs = traffic.outputs()
    if args.json:
        print(json.dumps(outputs, sort_keys=True))
    else:
        print(
            f"sent {traffic.sent} requests to {url} in {traffic.seconds:.1f} s "
            f"({traffic.drifted} from shifted applicants, from {traffic.drift_started or '-'}): "
            f"{traffic.answered} answered, P50 {outputs['latency-p50-ms']} ms, "
            f"P95 {outputs['latency-p95-ms']} ms; labels of the answered ones: {args.labels}"
        )
    for error in traffic.errors[:5]:
        print(f"simulate_traffic: {error}", file=sys.stderr)
    return 1 if traffic.errors else 0


if __name__ == "__main__":
    sys.exit(main())
