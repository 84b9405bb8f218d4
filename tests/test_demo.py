"""`make demo` (examples/credit-default/demo.py) on a copy of the example: the pipeline, simulated
production traffic with a drifted slice, delayed labels, and the drift and performance reports."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLE, python_env
from tests.test_pipeline import _endpoint_running

REQUESTS = 200
# generate_data.py --drift moves these inputs; it leaves these categories' mix alone.
SHIFTED = {"utilisation", "age", "credit_history_months", "late_payments_12m", "open_accounts"}
UNCHANGED = {"region", "home_ownership", "employment_type", "term"}


@pytest.fixture
def example(tmp_path: Path) -> Iterator[Path]:
    """A copy of examples/credit-default with 2,000 training rows; its endpoint is stopped after."""
    copy = tmp_path / "credit-default"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("data", ".mlops", "reports"))
    subprocess.run(
        [sys.executable, str(copy / "generate_data.py"), "--rows", "2000"],
        check=True,
        capture_output=True,
        env=python_env(),
    )
    yield copy
    from mlops_actions.backends.local_endpoint import LocalEndpoint

    LocalEndpoint.down(copy / ".mlops" / "endpoint")
    assert not _endpoint_running(copy)


def _demo(example: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # From another folder and without a terminal, as `make demo` in CI.
    return subprocess.run(
        [sys.executable, str(example / "demo.py"), *args],
        cwd=example.parent,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=python_env(),
        timeout=300,
        check=False,
    )


def _summary(example: Path) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((example / ".mlops" / "reports" / "demo.json").read_text())
    return value


def _labels(example: Path) -> list[dict[str, str]]:
    with (example / "data" / "labels.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_demo_deploys_serves_and_monitors_then_stops_at_the_gate(example: Path) -> None:
    first = _demo(example, "--approve", "--requests", str(REQUESTS))
    assert first.returncode == 0, first.stderr[-3000:] + first.stdout[-3000:]
    summary = _summary(example)
    assert summary["exit-code"] == 0
    assert summary["pipeline"]["complete"] is True

    # Real HTTP traffic, every request answered, the last half from shifted applicants.
    traffic = summary["traffic"]
    assert traffic["answered"] == traffic["requests"] == REQUESTS
    assert traffic["failed"] == 0
    assert traffic["drifted-requests"] == REQUESTS // 2
    log = [
        json.loads(line)
        for line in (example / ".mlops" / "endpoint" / "predictions.jsonl").read_text().splitlines()
    ]
    users = [r for r in log if "source" not in r and not r.get("shadow")]
    assert len(users) == REQUESTS
    assert len(log) > REQUESTS  # the pipeline's smoke and probe requests are logged too

    # One delayed label per answered request, keyed by the request id the answer carried.
    labels = _labels(example)
    assert len(labels) == REQUESTS
    assert {row["request_id"] for row in labels} == {r["request_id"] for r in users}
    assert {row["default"] for row in labels} <= {"0", "1"}

    # The drift report sees the users' requests only and finds the shift where it was made.
    drift = summary["drift-report"]
    assert drift["current-rows"] == REQUESTS
    assert drift["drift-detected"] is True
    drifted = set(drift["drifted-columns"])
    assert drifted >= SHIFTED
    assert not drifted & UNCHANGED
    assert drift["drifted-share"] == pytest.approx(
        len(drifted - {"prediction", "prediction_score"}) / 14, abs=1e-3
    )

    # Every user request is labelled; the pipeline's own requests are not counted.
    performance = summary["performance-report"]
    assert performance["coverage"] == pytest.approx(1.0, abs=1e-6)
    assert performance["labelled"] == performance["predictions"] == REQUESTS
    assert 0.5 < performance["metrics"]["roc_auc"] <= 1.0

    # Every report exists and the demo says where it is and how to stop the endpoint.
    reports = example / ".mlops" / "reports"
    for name in (
        "validate-data.html",
        "compare-champion-report.md",
        "canary-deploy.md",
        "smoke-test.md",
        "drift-report.html",
        "drift-report.md",
        "performance-report.md",
        "performance-report.details.json",
    ):
        assert (reports / name).is_file(), name
        assert summary["reports"][name] == str(reports / name)
        assert f"{Path('credit-default', '.mlops', 'reports', name)}" in first.stdout
    assert "endpoint down --config credit-default/mlops.yaml" in first.stdout
    assert _endpoint_running(example)  # the champion keeps serving after the demo

    # A second run retrains the same model: a tie, so the gate stops it and the demo with it.
    second = _demo(example, "--approve", "--stop-endpoint")
    assert second.returncode == 1, second.stderr[-3000:]
    assert "the comparison gate stopped the retrained model" in second.stderr
    assert "not better than champion v1" in second.stderr
    again = _summary(example)
    assert again["exit-code"] == 1
    assert again["pipeline"]["steps"]["compare-champion"] == "failed"
    assert "traffic" not in again and "drift-report" not in again
    assert len(_labels(example)) == REQUESTS  # no new traffic
    assert not _endpoint_running(example)  # --stop-endpoint stopped it at the end


@pytest.mark.slow
def test_demo_without_approval_stops_after_the_pipeline(example: Path) -> None:
    refused = _demo(example)
    assert refused.returncode == 1
    assert "pass --approve to deploy" in refused.stderr
    assert "demo stopped: the deployment was not approved" in refused.stderr
    summary = _summary(example)
    assert summary["exit-code"] == 1
    assert summary["pipeline"]["steps"]["approval"] == "failed"
    assert summary["pipeline"]["steps"]["canary-deploy"] == "skipped"
    assert "traffic" not in summary
    assert not (example / "data" / "labels.csv").exists()
    assert not _endpoint_running(example)
