"""`mlops performance-report`: delayed ground truth joined to the prediction log, per window.

The scenario test is a synthetic concept drift: the inputs keep their distribution, but half-way
the relation between the features and the label changes, so the served model degrades. It must be
found, in the right window, while a drift report of the same inputs sees nothing. Baselines come
from `--baseline-metrics` or from the model registry (version tags written by register, or the
version's run metrics); label quality (coverage, duplicates, late and unmatched labels) is
checked on constructed data with known counts.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_actions.backends.local_endpoint.predlog import PredictionLog
from tests.github_files import parse_commands
from tests.test_drift_report import START, write_log

WEEK = timedelta(days=7)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def concept_drift(
    tmp_path: Path,
    *,
    weeks: int = 8,
    change_week: int = 4,
    per_week: int = 350,
    seed: int = 3,
    delay: timedelta = timedelta(days=2),
) -> tuple[Path, Path, pd.DataFrame]:
    """Predictions of a fixed model; labels follow its relation until `change_week`, then not.

    Returns the log, the labels CSV and the predictions with their true labels.
    """
    rng = np.random.default_rng(seed)
    n = weeks * per_week
    inputs = pd.DataFrame({"x1": rng.normal(0, 1, n), "x2": rng.normal(0, 1, n)})
    score = _sigmoid(2.0 * inputs["x1"] + inputs["x2"]).to_numpy()
    step = WEEK / per_week
    times = [START + i * step for i in range(n)]
    changed = np.array([t >= START + change_week * WEEK for t in times])
    relation = np.where(
        changed, -2.0 * inputs["x1"] + inputs["x2"], 2.0 * inputs["x1"] + inputs["x2"]
    )
    labels = (rng.random(n) < _sigmoid(relation)).astype(int)
    ids = [f"r{i:05d}" for i in range(n)]
    log = write_log(
        tmp_path / "predictions.jsonl",
        inputs,
        outputs=(score >= 0.5).astype(int).tolist(),
        scores=score.tolist(),
        step=step,
        model=("credit", "1"),
        request_ids=ids,
    )
    truth = pd.DataFrame(
        {
            "request_id": ids,
            "label": labels,
            "labelled_at": [t + delay for t in times],
        }
    )
    keep = rng.random(n) < 0.9  # 90 % of predictions get a label
    path = tmp_path / "labels.csv"
    truth[keep].to_csv(path, index=False)
    frame = truth.assign(score=score, prediction=(score >= 0.5).astype(int), time=times)
    return log, path, frame


def holdout_auc(rows: int = 4000, seed: int = 11) -> float:
    """The model's holdout ROC AUC under the training-time relation (the registry's number)."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(0, 1, rows), rng.normal(0, 1, rows)
    y = (rng.random(rows) < _sigmoid(2.0 * x1 + x2)).astype(int)
    return float(roc_auc_score(y, _sigmoid(2.0 * x1 + x2)))


def report(mlops: Any, log: Path, labels: Path, *args: str) -> Any:
    return mlops(
        "performance-report",
        "--predictions", str(log),
        "--labels", str(labels),
        "--task", "classification",
        "--metric", "roc_auc",
        "--label-time-column", "labelled_at",
        *args,
    )  # fmt: skip


def test_concept_drift_is_found_in_the_right_window(
    tmp_path: Path, mlops: Any, github_job: Any
) -> None:
    from sklearn.metrics import roc_auc_score

    log, labels, frame = concept_drift(tmp_path)
    baseline = holdout_auc()
    result = report(
        mlops,
        log,
        labels,
        "--window",
        "7D",
        "--baseline-metrics",
        json.dumps({"roc_auc": baseline}),
    )
    assert result.code == 0, result.err
    outputs = github_job.outputs()
    assert outputs["degraded"] == "true"
    starts = [START + k * WEEK for k in range(4, 8)]
    assert json.loads(outputs["degraded-windows"]) == [s.isoformat() for s in starts]
    assert outputs["latest-window"] == (START + 7 * WEEK).isoformat()
    labelled = pd.read_csv(labels)
    assert float(outputs["coverage"]) == pytest.approx(len(labelled) / len(frame), abs=1e-4)
    details = json.loads(Path(outputs["report-path"]).read_text())
    merged = frame[frame["request_id"].isin(labelled["request_id"])]
    for k, window in enumerate(details["windows"]):
        rows = merged[
            (merged["time"] >= START + k * WEEK) & (merged["time"] < START + (k + 1) * WEEK)
        ]
        expected = roc_auc_score(rows["label"], rows["score"])
        assert window["served"]["metrics"]["roc_auc"] == pytest.approx(expected, abs=1e-9)
        assert window["served"]["degraded"] is (k >= 4)
    summary = github_job.summary.read_text()
    assert "performance degraded since the window starting 2024-03-29 00&#58;00 UTC" in summary
    # labels come two days after their prediction: late for the last two days of each window
    window_end = merged["time"].map(lambda t: START + ((t - START) // WEEK + 1) * WEEK)
    late = int((merged["time"] + timedelta(days=2) > window_end).sum())
    assert details["labels"]["late"] == late > 0

    gate = report(mlops, log, labels, "--baseline-metrics", json.dumps({"roc_auc": baseline}),
                  "--fail-on-degradation")  # fmt: skip
    assert gate.code == 1
    errors = [message for kind, _, message in parse_commands(gate.out) if kind == "error"]
    assert errors and errors[0].startswith("performance degraded since the window starting")

    # The inputs never drifted: a drift report of the same log sees nothing.
    rng = np.random.default_rng(99)
    reference = pd.DataFrame({"x1": rng.normal(0, 1, 3000), "x2": rng.normal(0, 1, 3000)})
    reference.to_csv(tmp_path / "ref.csv", index=False)
    drift = mlops("drift-report", "--no-html", "--reference", "ref.csv", "--current", str(log),
                  "--json")  # fmt: skip
    assert drift.code == 0, drift.err
    assert json.loads(drift.out)["drifted-share"] == pytest.approx(0.0)


def test_late_labels_and_min_labels(tmp_path: Path, mlops: Any) -> None:
    log, labels, _ = concept_drift(
        tmp_path, weeks=2, change_week=9, per_week=200, delay=timedelta(minutes=1)
    )
    table = pd.read_csv(labels)
    times = pd.to_datetime(table["labelled_at"], utc=True)
    table.loc[:9, "labelled_at"] = (times[:10] + pd.Timedelta(days=20)).astype(str)  # late
    table.loc[10:11, "labelled_at"] = (times[10:12] - pd.Timedelta(days=5)).astype(str)  # early
    table.to_csv(labels, index=False)
    result = report(mlops, log, labels, "--window", "7D", "--baseline-metrics",
                    '{"roc_auc": 0.8}', "--min-window-labels", "1000", "--json")  # fmt: skip
    assert result.code == 0, result.err
    outputs = json.loads(result.out)
    assert outputs["degraded"] is False and outputs["latest-window"] == ""
    details = json.loads(Path(outputs["report-path"]).read_text())
    assert details["labels"]["late"] == 10
    assert details["labels"]["before_prediction"] == 2
    assert all(w["served"]["degraded"] is None for w in details["windows"])


def test_label_quality_shadow_and_duplicates(tmp_path: Path, mlops: Any) -> None:
    rng = np.random.default_rng(5)
    n = 120
    inputs = pd.DataFrame({"x": rng.normal(0, 1, n)})
    predicted = (inputs["x"] > 0).astype(int).tolist()
    ids = [f"id-{i}" for i in range(n)]
    log = write_log(
        tmp_path / "p.jsonl",
        inputs,
        outputs=predicted,
        scores=_sigmoid(inputs["x"].to_numpy()).tolist(),
        request_ids=ids,
        shadow={i: "green" for i in range(0, n, 3)},  # 40 mirrored to green
    )
    truth = pd.DataFrame({"request_id": ids[:100], "label": predicted[:100]})  # 100 of 120
    duplicates = truth.iloc[:5]  # identical repeats
    conflicting = truth.iloc[5:8].assign(label=lambda f: 1 - f["label"])  # later, different
    unmatched = pd.DataFrame({"request_id": ["ghost-1", "ghost-2"], "label": [1, 0]})
    nulls = pd.DataFrame({"request_id": ["id-110"], "label": [None]})
    table = pd.concat([truth, duplicates, conflicting, unmatched, nulls], ignore_index=True)
    table.to_csv(tmp_path / "labels.csv", index=False)
    result = mlops(
        "performance-report", "--predictions", str(log), "--labels", "labels.csv",
        "--task", "classification", "--metric", "accuracy", "--window", "1D",
        "--min-window-labels", "10", "--baseline-metrics", '{"accuracy": 1.0}', "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    outputs = json.loads(result.out)
    assert outputs["predictions"] == n and outputs["labelled"] == 100
    assert outputs["coverage"] == pytest.approx(100 / n, abs=1e-4)
    # the three conflicting labels are the latest rows: they win and make three wrong answers
    assert outputs["metrics"]["accuracy"] == pytest.approx(97 / 100)
    details = json.loads(Path(outputs["report-path"]).read_text())
    quality = details["labels"]
    assert quality["labels"] == len(table)
    assert (quality["duplicates"], quality["conflicting"]) == (8, 3)
    assert quality["unmatched"] == 2 and quality["unmatched_examples"] == ["ghost-1", "ghost-2"]
    assert quality["null_labels"] == 1 and quality["late"] is None
    versions = {(v["deployment"], v["shadow"]): v for v in details["versions"]}
    assert versions[("green", True)]["predictions"] == 40
    assert versions[("green", True)]["labelled"] == len([i for i in range(0, 100, 3)])
    assert versions[("blue", False)]["predictions"] == n
    assert "2 labels match no prediction" in result.err


def test_multi_row_requests_need_a_row_column(tmp_path: Path, mlops: Any) -> None:
    records = []
    for r in range(30):
        for row in range(2):
            moment = START + timedelta(minutes=r)
            records.append(
                {"request_id": f"q{r}", "row": row, "time": moment.isoformat(),
                 "ts": moment.timestamp(), "deployment": "blue", "model_name": "m",
                 "model_version": "1", "inputs": {"x": row}, "output": row, "score": None,
                 "latency_ms": 1.0}
            )  # fmt: skip
    log = PredictionLog(tmp_path / "p.jsonl", durability="write")
    log.append(records)
    log.close()
    by_request = pd.DataFrame({"request_id": [f"q{r}" for r in range(30)], "label": 1})
    by_request.to_csv(tmp_path / "a.csv", index=False)
    by_row = pd.DataFrame(
        {"request_id": [f"q{r}" for r in range(30) for _ in range(2)], "row": [0, 1] * 30,
         "label": [0, 1] * 30}
    )  # fmt: skip
    by_row.to_csv(tmp_path / "b.csv", index=False)
    common = [
        "--predictions", "p.jsonl", "--task", "classification", "--metric", "accuracy",
        "--baseline-metrics", '{"accuracy": 1}', "--min-window-labels", "1", "--json",
    ]  # fmt: skip
    ambiguous = mlops("performance-report", "--labels", "a.csv", *common)
    assert ambiguous.code == 0, ambiguous.err
    first = json.loads(ambiguous.out)
    assert first["labelled"] == 0
    details = json.loads(Path(first["report-path"]).read_text())
    assert details["labels"]["ambiguous_predictions"] == 60
    exact = mlops("performance-report", "--labels", "b.csv", *common)
    assert exact.code == 0, exact.err
    second = json.loads(exact.out)
    assert second["labelled"] == 60 and second["metrics"]["accuracy"] == pytest.approx(1.0)


@pytest.mark.slow
def test_baselines_come_from_the_registry(tmp_path: Path, mlops: Any, tracking_uri: str) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    experiment = client.create_experiment("credit")
    run = client.create_run(experiment)
    client.log_metric(run.info.run_id, "val_roc_auc", 0.99)
    client.set_terminated(run.info.run_id)
    client.create_registered_model("credit")
    (tmp_path / "model").mkdir()
    tagged = client.create_model_version("credit", str(tmp_path / "model"), run_id=None)
    client.set_model_version_tag("credit", tagged.version, "mlops.metrics.roc_auc", "0.55")
    logged = client.create_model_version("credit", str(tmp_path / "model"), run_id=run.info.run_id)
    log, _, _ = concept_drift(tmp_path, weeks=2, change_week=9, per_week=300)
    # the first week served by version 1, the second by version 2
    records = [json.loads(line) for line in log.read_text().splitlines()]
    for record in records:
        if record["ts"] >= (START + WEEK).timestamp():
            record["model_version"] = str(logged.version)
        else:
            record["model_version"] = str(tagged.version)
    log.write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "mlops.yaml").write_text(
        f"model: {{name: credit}}\ntracking_uri: {tracking_uri}\ndata: {{target: y}}\n"
        "evaluate: {primary_metric: roc_auc}\n"
        "monitor: {window: 7D, max_degradation: 0.05, ground_truth: "
        "{path: labels.csv, key_column: request_id, label_column: label}}\n",
        encoding="utf-8",
    )
    result = mlops("performance-report", "--predictions", str(log), "--json")
    assert result.code == 0, result.err
    outputs = json.loads(result.out)
    details = json.loads(Path(outputs["report-path"]).read_text())
    assert details["baseline_source"] == "model registry"
    assert sorted(details["baselines"]) == ["1", "2"]
    assert details["baselines"]["1"] == pytest.approx({"roc_auc": 0.55})
    assert details["baselines"]["2"] == pytest.approx({"roc_auc": 0.99})
    first, second = details["windows"]
    assert (
        first["served"]["baseline"] == pytest.approx(0.55) and first["served"]["degraded"] is False
    )
    assert (
        second["served"]["baseline"] == pytest.approx(0.99) and second["served"]["degraded"] is True
    )
    assert second["served"]["bound"] < 0.99 - 0.05  # even the upper bound is too low
    assert first["served"]["bound"] is None  # the value itself is fine: no bootstrap needed
    assert outputs["degraded"] is True

    untagged = tmp_path / "other.jsonl"
    untagged.write_text(log.read_text().replace('"model_name":"credit"', '"model_name":"nope"')
                        .replace('"model_name": "credit"', '"model_name": "nope"'))  # fmt: skip
    missing = mlops("performance-report", "--predictions", str(untagged))
    assert missing.code == 2 and "no baseline roc_auc" in missing.err
    assert "--baseline-metrics" in missing.err


def test_bad_input_is_exit_2(tmp_path: Path, mlops: Any) -> None:
    log, labels, _ = concept_drift(tmp_path, weeks=1, per_week=50)
    base = ["--baseline-metrics", '{"roc_auc": 0.8}']

    strangers = tmp_path / "strangers.csv"
    pd.DataFrame({"request_id": ["a", "b", "c"], "label": [1, 0, 1]}).to_csv(strangers)
    none = report(mlops, log, strangers, *base, "--label-time-column", "")
    assert none.code == 2
    assert "none of the 3 labels" in none.err and "'a'" in none.err and "'r00000'" in none.err
    assert none.err.count("\n") == 1

    wrong = report(mlops, log, labels, *base, "--label-column", "target")
    assert wrong.code == 2 and "no column 'target'" in wrong.err and "label" in wrong.err

    empty = report(mlops, log, labels, *base, "--since", "2025-01-01")
    assert empty.code == 2 and "no rows between 2025-01-01T00:00:00Z and now" in empty.err

    window = report(mlops, log, labels, *base, "--window", "1M")
    assert window.code == 2 and "not a fixed length" in window.err

    no_base = report(mlops, log, labels)
    assert no_base.code == 2 and "no baseline roc_auc" in no_base.err

    bad_json = report(mlops, log, labels, "--baseline-metrics", "{roc_auc: 1}")
    assert bad_json.code == 2 and "not valid JSON" in bad_json.err

    no_log = report(mlops, tmp_path / "missing.jsonl", labels, *base)
    assert no_log.code == 2 and "prediction log not found" in no_log.err


def test_coverage_counts_users_requests_only(tmp_path: Path, mlops: Any) -> None:
    """Probe and smoke predictions never have labels: they must not dilute the coverage."""
    rng = np.random.default_rng(8)
    n = 80
    inputs = pd.DataFrame({"x": rng.normal(0, 1, n)})
    sources = {i: ("probe" if i % 4 == 1 else "smoke") for i in range(n) if i % 4 in (1, 2)}
    ids = [f"id-{i}" for i in range(n)]
    log = write_log(
        tmp_path / "p.jsonl", inputs, outputs=(inputs["x"] > 0).astype(int).tolist(),
        scores=_sigmoid(inputs["x"].to_numpy()).tolist(), request_ids=ids, sources=sources,
    )  # fmt: skip
    users = [i for i in range(n) if i not in sources]
    truth = pd.DataFrame({"request_id": [ids[i] for i in users], "label": rng.integers(0, 2, 40)})
    truth.to_csv(tmp_path / "labels.csv", index=False)
    args = ("--predictions", str(log), "--labels", "labels.csv", "--task", "classification",
            "--metric", "accuracy", "--window", "1D", "--min-window-labels", "10",
            "--baseline-metrics", '{"accuracy": 0.5}', "--json")  # fmt: skip
    result = mlops("performance-report", *args)
    assert result.code == 0, result.err
    outputs = json.loads(result.out)
    assert (outputs["predictions"], outputs["labelled"]) == (40, 40)
    assert outputs["coverage"] == pytest.approx(1.0, abs=1e-4)
    details = json.loads(Path(outputs["report-path"]).read_text())
    assert details["left_out_sources"] == {"probe": 20, "smoke": 20}
    everything = json.loads(mlops("performance-report", *args, "--include-source", "all").out)
    assert everything["predictions"] == n and everything["coverage"] == pytest.approx(0.5, abs=1e-4)


def test_windows_start_at_midnight_without_a_nanosecond_warning() -> None:
    """A log time with nanoseconds used to print `UserWarning: Discarding nonzero nanoseconds`."""
    import warnings
    from datetime import UTC, datetime

    import pandas as pd

    from mlops_actions.steps.performance_report import midnight

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        start = midnight(pd.Timestamp("2026-01-02T03:04:05.123456789Z"))
    assert start == datetime(2026, 1, 2, tzinfo=UTC)


def test_labels_one_and_two_score_class_two(tmp_path: Path, mlops: Any) -> None:
    """Labels {1, 2}: the score is class 2's probability, as compare-champion's gate reads it."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(21)
    n = 400
    inputs = pd.DataFrame({"x": rng.normal(0, 1, n)})
    score = _sigmoid(1.5 * inputs["x"].to_numpy())
    labels = np.where(rng.random(n) < score, 2, 1)
    ids = [f"k{i}" for i in range(n)]
    log = write_log(tmp_path / "p.jsonl", inputs, outputs=np.where(score >= 0.5, 2, 1).tolist(),
                    scores=score.tolist(), request_ids=ids)  # fmt: skip
    pd.DataFrame({"request_id": ids, "label": labels}).to_csv(tmp_path / "labels.csv", index=False)
    result = mlops(
        "performance-report", "--predictions", str(log), "--labels", "labels.csv",
        "--task", "classification", "--metric", "roc_auc", "--window", "7D",
        "--min-window-labels", "10", "--baseline-metrics", '{"roc_auc": 0.7}', "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    outputs = json.loads(result.out)
    expected = roc_auc_score(labels == 2, score)
    assert expected > 0.7  # class 2 is the positive class: read as class 1 it would be 1 - AUC
    assert outputs["metrics"]["roc_auc"] == pytest.approx(expected, abs=1e-9)
    assert outputs["degraded"] is False
