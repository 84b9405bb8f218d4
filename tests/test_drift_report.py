"""`mlops drift-report`: sources, verdicts from the full data, reports, bad input.

The verdicts are checked against `drift_stats.detect_drift` run directly on the same frames (the
engine itself is checked against Evidently in test_drift_stats.py); Evidently renders one small
report here. Data is synthetic and seeded; prediction logs are written with the endpoint's own
`PredictionLog` writer.
"""

from __future__ import annotations

import html
import json
import subprocess
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_actions.backends.local_endpoint.predlog import PredictionLog
from mlops_actions.monitoring.drift_stats import detect_drift
from tests.conftest import EXAMPLE, python_env

# Importing Evidently warns: invalid escape sequences in its source (DeprecationWarning on 3.11,
# SyntaxWarning from 3.12) and deprecated litestar names in its UI.
pytestmark = [
    pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:invalid escape sequence:SyntaxWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:litestar.*"),
]

START = datetime(2024, 3, 1, tzinfo=UTC)
COLORS = np.array(["red", "green", "blue", "black"], dtype=object)


def frames(rows: int, *, shift: float = 0.0, seed: int = 1) -> pd.DataFrame:
    """Numeric, integer and categorical columns; `shift` moves every distribution."""
    rng = np.random.default_rng(seed)
    p = np.array([0.4, 0.3, 0.2, 0.1]) * (1 - shift) + np.array([0.1, 0.2, 0.3, 0.4]) * shift
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1.0, rows),
            "y": rng.exponential(1.0 + shift, rows),
            "z": rng.integers(0, 60, rows) + int(10 * shift),
            "color": rng.choice(COLORS, rows, p=p / p.sum()),
        }
    )


def write_log(
    path: Path,
    inputs: pd.DataFrame,
    *,
    outputs: Iterable[Any] | None = None,
    scores: Iterable[float | None] | None = None,
    start: datetime = START,
    step: timedelta = timedelta(minutes=1),
    deployment: str = "blue",
    model: tuple[str, str] = ("credit", "1"),
    request_ids: Iterable[str] | None = None,
    shadow: Mapping[int, str] | None = None,
    sources: Mapping[int, str] | None = None,
) -> Path:
    """A prediction log as the local endpoint writes it: one record per row, `step` apart.

    `shadow` maps row positions to a deployment that also answered them as a mirror; `sources`
    maps row positions to the traffic label of a pipeline request (smoke, probe).
    """
    rows = inputs.to_dict(orient="records")
    outs = list(outputs) if outputs is not None else [0] * len(rows)
    scs = list(scores) if scores is not None else [None] * len(rows)
    ids = list(request_ids) if request_ids is not None else [f"req-{i}" for i in range(len(rows))]
    records = []
    for i, row in enumerate(rows):
        moment = start + i * step
        record = {
            "request_id": ids[i],
            "row": 0,
            "time": moment.isoformat(timespec="milliseconds"),
            "ts": moment.timestamp(),
            "deployment": deployment,
            "model_name": model[0],
            "model_version": model[1],
            "inputs": {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()},
            "output": outs[i],
            "score": scs[i],
            "latency_ms": 1.0,
        }
        if sources and i in sources:
            record["source"] = sources[i]
        records.append(record)
        if shadow and i in shadow:
            records.append({**record, "deployment": shadow[i], "shadow": True})
    log = PredictionLog(path, durability="write")
    try:
        log.append(records)
    finally:
        log.close()
    return path


def run_report(mlops: Any, *args: str) -> Any:
    return mlops("drift-report", "--no-html", *args)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray mlops.yaml; default report folder under tmp


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


# ------------------------------------------------------------------ verdicts and outputs


def test_tables_give_the_engines_verdicts_as_outputs(
    tmp_path: Path, mlops: Any, github_job: Any
) -> None:
    ref, cur = frames(3000), frames(1500, shift=0.6, seed=2)
    reference, current = _csv(ref, tmp_path / "ref.csv"), _csv(cur, tmp_path / "cur.csv")
    result = run_report(mlops, "--reference", str(reference), "--current", str(current))
    assert result.code == 0, result.err  # drift without --fail-on-drift is not a failure
    outputs = github_job.outputs()
    oracle = detect_drift(pd.read_csv(reference), pd.read_csv(current), cat_max_unique=1000)
    assert outputs["drift-detected"] == "true" == str(oracle.dataset_drift).lower()
    assert float(outputs["drifted-share"]) == pytest.approx(oracle.drifted_share, abs=1e-4)
    assert json.loads(outputs["drifted-columns"]) == list(oracle.drifted_columns)
    assert outputs["current-rows"] == "1500" and outputs["reference-rows"] == "3000"
    details = json.loads(Path(outputs["report-path"]).read_text())
    assert details["verdicts_from"] == "full data"
    scores = [c["score"] for c in details["features"]["columns"]]
    assert scores == pytest.approx([c.score for c in oracle.columns], rel=1e-9, abs=1e-12)
    summary = github_job.summary.read_text()
    assert "Drift detected" in summary and "| column |" in summary


def test_no_drift_and_fail_on_drift(tmp_path: Path, mlops: Any) -> None:
    reference = _csv(frames(2000), tmp_path / "ref.csv")
    same = _csv(frames(2000, seed=5), tmp_path / "same.csv")
    shifted = _csv(frames(2000, shift=0.8, seed=6), tmp_path / "shifted.csv")

    clean = run_report(mlops, "--reference", str(reference), "--current", str(same), "--json")
    assert clean.code == 0
    assert json.loads(clean.out)["drift-detected"] is False

    quiet = run_report(mlops, "--reference", str(reference), "--current", str(shifted))
    assert quiet.code == 0
    gate = run_report(
        mlops, "--reference", str(reference), "--current", str(shifted), "--fail-on-drift"
    )
    assert gate.code == 1
    assert "drift detected" in gate.err


def test_methods_and_thresholds_are_configurable(tmp_path: Path, mlops: Any) -> None:
    ref, cur = frames(2500), frames(1200, shift=0.05, seed=3)
    reference, current = _csv(ref, tmp_path / "ref.csv"), _csv(cur, tmp_path / "cur.csv")
    args = [
        "--num-method", "ks", "--cat-method", "psi", "--num-threshold", "0.2",
        "--per-column-method", "y=wasserstein", "--per-column-threshold", "y=0.01",
        "--drift-share", "0.25", "--json",
    ]  # fmt: skip
    result = run_report(mlops, "--reference", str(reference), "--current", str(current), *args)
    assert result.code == 0, result.err
    oracle = detect_drift(
        pd.read_csv(reference),
        pd.read_csv(current),
        num_method="ks",
        cat_method="psi",
        num_threshold=0.2,
        per_column_method={"y": "wasserstein"},
        per_column_threshold={"y": 0.01},
        drift_share=0.25,
        cat_max_unique=1000,
    )
    details = json.loads((tmp_path / ".mlops/reports/drift-report.details.json").read_text())
    methods = {c["column"]: c["method"] for c in details["features"]["columns"]}
    thresholds = {c["column"]: c["threshold"] for c in details["features"]["columns"]}
    assert methods == {c.column: c.method for c in oracle.columns}
    assert thresholds == pytest.approx({c.column: c.threshold for c in oracle.columns})
    assert methods["x"] == "ks" and methods["y"] == "wasserstein"
    assert thresholds["x"] == pytest.approx(0.2) and thresholds["y"] == pytest.approx(0.01)
    assert json.loads(result.out)["drift-detected"] is oracle.dataset_drift

    bad = run_report(mlops, "--reference", str(reference), "--current", str(current),
                     "--cat-method", "ks")  # fmt: skip
    assert bad.code == 2 and "cannot test categorical" in bad.err


def test_evidently_report_from_a_sample_with_the_full_datas_tests(
    tmp_path: Path, mlops: Any
) -> None:
    """3000 rows resolve to wasserstein/jensenshannon; a 400-row sample alone would use ks/chi²."""
    reference = _csv(frames(3000), tmp_path / "ref.csv")
    current = _csv(frames(3000, shift=0.3, seed=4), tmp_path / "cur.csv")
    reports = tmp_path / "reports"
    result = mlops(
        "drift-report",
        "--reference", str(reference), "--current", str(current),
        "--report-sample", "400", "--seed", "3", "--report-dir", str(reports), "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    outputs = json.loads(result.out)
    html = Path(outputs["report-path"])
    assert html == reports / "drift-report.html"
    page = html.read_text(encoding="utf-8")
    assert "sample of 400 of 3,000 reference rows and 400 of 3,000 current rows" in page
    assert "come from the full data" in page
    evidently = json.loads((reports / "drift-report.evidently.json").read_text())
    configured = {
        m["config"]["column"]: m["config"]["method"]
        for m in evidently["metrics"]
        if m["config"]["type"].endswith(":ValueDrift")
    }
    details = json.loads((reports / "drift-report.details.json").read_text())
    ours = {c["column"]: c["method"] for c in details["features"]["columns"]}
    assert configured == ours
    assert set(ours.values()) == {"wasserstein", "jensenshannon"}
    assert details["evidently_sample"] == {"reference_rows": 400, "current_rows": 400, "seed": 3}
    markdown = (reports / "drift-report.md").read_text()
    assert "sample of 400 + 400 rows (seed 3)" in markdown


def test_markdown_is_sorted_by_drift_strength_and_escaped(tmp_path: Path, mlops: Any) -> None:
    hostile = "<img src=x>|@team #1 `x`"
    ref, cur = frames(2000), frames(2000, seed=9)
    ref[hostile] = np.random.default_rng(1).normal(0, 1, 2000)
    cur[hostile] = np.random.default_rng(2).normal(3, 1, 2000)  # the strongest drift
    cur["y"] = cur["y"] * 1.3
    reference, current = _csv(ref, tmp_path / "ref.csv"), _csv(cur, tmp_path / "cur.csv")
    result = run_report(
        mlops, "--reference", str(reference), "--current", str(current), "--report-dir", "r"
    )
    assert result.code == 0, result.err
    markdown = (tmp_path / "r" / "drift-report.md").read_text()
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and "---" not in line]
    names = [row.split(" | ")[0].removeprefix("| ") for row in rows[1:]]
    assert names[0] == "&lt;img src=x&gt;&#124;&#64;\u200bteam &#35;\u200b1 &#96;x&#96;"
    assert "<img" not in markdown and "@team" not in markdown
    details = json.loads((tmp_path / "r" / "drift-report.details.json").read_text())
    columns = details["features"]["columns"]
    drifted = {c["column"]: c["score"] / c["threshold"] for c in columns if c["drifted"]}
    assert len(drifted) >= 2  # the order is exercised
    expected = sorted(drifted, key=lambda n: -drifted[n])
    assert [_shown(n) for n in names[: len(expected)]] == expected
    ok = [_shown(n) for n in names[len(expected) :]]
    scores = {c["column"]: c["score"] / c["threshold"] for c in columns if not c["drifted"]}
    assert ok == sorted(scores, key=lambda n: -scores[n])


# ------------------------------------------------------------------ bad input


def test_schema_changes_are_reported_not_fatal(tmp_path: Path, mlops: Any) -> None:
    ref, cur = frames(1500), frames(1500, seed=3)
    ref["only_in_reference"] = 1.0
    cur["only_in_current"] = "a"
    cur["z"] = cur["z"].astype(str) + "!"  # int → text: the kind changed
    reference, current = _csv(ref, tmp_path / "ref.csv"), _csv(cur, tmp_path / "cur.csv")
    result = run_report(
        mlops, "--reference", str(reference), "--current", str(current), "--report-dir", "r"
    )
    assert result.code == 0, result.err
    details = json.loads((tmp_path / "r" / "drift-report.details.json").read_text())
    notes = {c["column"]: c["note"] for c in details["features"]["columns"]}
    assert notes["only_in_reference"] == "missing in current"
    assert notes["only_in_current"] == "missing in reference"
    assert notes["z"].startswith("dtype changed int64 → object")
    markdown = (tmp_path / "r" / "drift-report.md").read_text()
    assert "**Schema changes:**" in markdown and "missing in current" in markdown
    # one warning annotation per column (on the terminal off GitHub)
    assert "warning: column 'only_in_current': missing in reference" in result.err


def test_null_constant_unseen_and_text_columns(tmp_path: Path, mlops: Any) -> None:
    rng = np.random.default_rng(3)
    ref, cur = frames(1200), frames(1200, seed=4)
    ref["all_null"], cur["all_null"] = np.nan, np.nan
    ref["null_now"], cur["null_now"] = rng.normal(0, 1, 1200), np.nan
    ref["constant"], cur["constant"] = 5.0, 5.0
    cur.loc[:40, "color"] = "ultraviolet"
    ref["comment"] = [f"free text {i} {rng.integers(1e9)}" for i in range(1200)]
    cur["comment"] = [f"other text {i} {rng.integers(1e9)}" for i in range(1200)]
    reference, current = _csv(ref, tmp_path / "ref.csv"), _csv(cur, tmp_path / "cur.csv")
    result = run_report(
        mlops, "--reference", str(reference), "--current", str(current), "--report-dir", "r"
    )
    assert result.code == 0, result.err
    details = json.loads((tmp_path / "r" / "drift-report.details.json").read_text())
    cols = {c["column"]: c for c in details["features"]["columns"]}
    assert cols["all_null"]["note"] == "all null in reference and current"
    assert cols["null_now"]["drifted"] is True and cols["null_now"]["note"] == "all null in current"
    assert cols["constant"]["note"] == "constant in reference and current"
    assert cols["constant"]["drifted"] is False
    assert "1 categories unseen in reference ('ultraviolet')" in cols["color"]["note"]
    assert cols["comment"]["kind"] == "text" and cols["comment"]["note"].startswith("skipped")
    markdown = (tmp_path / "r" / "drift-report.md").read_text()
    assert "skipped&#58; text column" in markdown and "ultraviolet" in markdown


def test_missing_sources_are_one_line_exit_2(tmp_path: Path, mlops: Any) -> None:
    reference = _csv(frames(100), tmp_path / "ref.csv")
    missing = run_report(mlops, "--reference", str(reference), "--current", "nope.csv")
    assert missing.code == 2 and "data not found" in missing.err
    assert missing.err.count("\n") == 1
    nothing = run_report(mlops, "--reference", str(reference))
    assert nothing.code == 2 and "no current data" in nothing.err
    bad_time = run_report(
        mlops, "--reference", str(reference), "--current", str(reference), "--since", "yesterday"
    )
    assert bad_time.code == 2 and "is not a time" in bad_time.err
    no_column = run_report(
        mlops, "--reference", str(reference), "--current", str(reference), "--since", "7d"
    )
    assert no_column.code == 2 and "--time-column" in no_column.err
    (tmp_path / "empty.jsonl").write_text('{"torn": ')  # only a line cut by a crash
    empty_log = run_report(mlops, "--reference", str(reference), "--current", "empty.jsonl")
    assert empty_log.code == 2 and "no predictions in the log" in empty_log.err
    table = _csv(
        frames(50).assign(t=pd.date_range("2024-01-01", periods=50, freq="h")), tmp_path / "t.csv"
    )
    windowed = run_report(
        mlops, "--reference", str(reference), "--current", str(table), "--time-column", "t",
        "--since", "2024-01-02", "--until", "2024-01-02T06:00", "--json",
    )  # fmt: skip
    assert windowed.code == 0, windowed.err
    assert json.loads(windowed.out)["current-rows"] == 6


# ------------------------------------------------------------------ prediction log


def test_prediction_log_with_a_time_window(tmp_path: Path, mlops: Any) -> None:
    ref = frames(2000)
    ref["prediction"] = (ref["x"] > 0).astype(int)
    early, late = frames(300, seed=2), frames(300, shift=0.8, seed=3)
    inputs = pd.concat([early, late], ignore_index=True)
    log = write_log(
        tmp_path / "endpoint" / "predictions.jsonl",
        inputs,
        outputs=(inputs["x"] > 0).astype(int).tolist(),
        shadow={0: "green", 1: "green"},
    )
    reference = _csv(ref, tmp_path / "ref.csv")
    switch = START + timedelta(minutes=300)

    def report(*window: str) -> dict[str, Any]:
        result = run_report(
            mlops, "--reference", str(reference), "--current", f"predictions:{log.parent}",
            *window, "--json",
        )  # fmt: skip
        assert result.code == 0, result.err
        return dict(json.loads(result.out))

    before = report("--until", switch.isoformat())
    after = report("--since", switch.isoformat())
    assert before["current-rows"] == after["current-rows"] == 300  # shadow rows left out
    assert before["drift-detected"] is False and after["drift-detected"] is True
    assert after["prediction-drift"] is True and "prediction" in after["drifted-columns"]
    details = json.loads((tmp_path / ".mlops/reports/drift-report.details.json").read_text())
    oracle = detect_drift(ref[["prediction"]], late.assign(prediction=(late["x"] > 0).astype(int)),
                          columns=["prediction"])  # fmt: skip
    assert details["predictions"]["columns"][0]["score"] == pytest.approx(
        oracle.columns[0].score, rel=1e-12
    )
    assert details["current"]["total_rows"] == 600 and details["window"]["since"]

    empty = run_report(
        mlops, "--reference", str(reference), "--current", str(log),
        "--since", (START + timedelta(days=30)).isoformat(),
    )  # fmt: skip
    assert empty.code == 2
    assert "no rows between 2024-03-31T00:00:00Z and now" in empty.err
    assert "run from 2024-03-01T00:00:00Z to 2024-03-01T09:59:00Z" in empty.err


def test_predictions_keyword_reads_the_projects_endpoint(tmp_path: Path, mlops: Any) -> None:
    config = tmp_path / "mlops.yaml"
    config.write_text(
        "model: {name: credit, task: classification}\n"
        "data: {train: ref.csv, target: label, id_column: id}\n"
        "evaluate: {primary_metric: roc_auc}\n"
        "monitor: {current: 'predictions:', drift_share: 0.3}\n",
        encoding="utf-8",
    )
    ref = frames(1000).assign(label=1, id=range(1000))
    _csv(ref, tmp_path / "ref.csv")
    write_log(tmp_path / ".mlops" / "endpoint" / "predictions.jsonl", frames(200, shift=1.0))
    result = mlops("drift-report", "--no-html", "--model", "none", "--json")
    assert result.code == 0, result.err
    outputs = json.loads(result.out)
    details = json.loads(Path(outputs["report-path"]).read_text())
    assert {c["column"] for c in details["features"]["columns"]} == {"x", "y", "z", "color"}
    assert details["excluded"] == ["id", "label", "prediction"]
    assert details["features"]["share_threshold"] == pytest.approx(0.3)
    assert "predictions.jsonl" in details["current"]["description"]
    assert "pass --model" in details["prediction_note"]


@pytest.mark.slow
def test_auto_scores_the_reference_with_the_serving_model_version(
    tmp_path: Path, mlops: Any, tracking_uri: str
) -> None:
    import mlflow

    from tests.fault_model import register_fault_model

    subprocess.run(
        [sys.executable, str(EXAMPLE / "generate_data.py"), "--out", str(tmp_path / "d"),
         "--rows", "2000", "--drift", "0.0"],
        check=True, capture_output=True, env=python_env(),
    )  # fmt: skip
    train = pd.read_csv(tmp_path / "d" / "train.csv")
    drifted = subprocess.run(
        [sys.executable, str(EXAMPLE / "generate_data.py"), "--out", str(tmp_path / "e"),
         "--rows", "2000", "--drift", "1.0"],
        check=True, capture_output=True, env=python_env(),
    )  # fmt: skip
    assert drifted.returncode == 0
    current = pd.read_csv(tmp_path / "e" / "current.csv")
    features = current.drop(columns=["default", "application_id"])
    version = register_fault_model(tracking_uri, "credit", features.head(20))
    model = mlflow.pyfunc.load_model(f"models:/credit/{version}")
    served = model.predict(features)
    scores = model.unwrap_python_model().predict_proba(features)
    write_log(
        tmp_path / "p.jsonl", features, outputs=served, scores=scores, model=("credit", version)
    )
    (tmp_path / "mlops.yaml").write_text(
        f"model: {{name: credit}}\ntracking_uri: {tracking_uri}\n"
        "data: {train: d/train.csv, target: default, id_column: application_id}\n"
        "evaluate: {primary_metric: roc_auc}\nmonitor: {current: p.jsonl}\n",
        encoding="utf-8",
    )
    result = mlops("drift-report", "--no-html", "--json")
    assert result.code == 0, result.err
    outputs = json.loads(result.out)
    assert outputs["prediction-drift"] is True
    details = json.loads(Path(outputs["report-path"]).read_text())
    assert details["scored_with"] == f"models:/credit/{version}"
    reference = train.drop(columns=["default", "application_id"])
    reference = reference.assign(
        prediction=model.predict(reference),
        prediction_score=model.unwrap_python_model().predict_proba(reference),
    )
    oracle = detect_drift(
        reference,
        features.assign(prediction=served, prediction_score=scores),
        columns=["prediction", "prediction_score"],
    )
    got = {c["column"]: c["score"] for c in details["predictions"]["columns"]}
    assert got == pytest.approx({c.column: c.score for c in oracle.columns}, rel=1e-12)


# ------------------------------------------------------------------ other sources


def _collected(
    root: Path,
    moment: datetime,
    rows: list[dict[str, Any]],
    outs: list[Any],
    headers: Mapping[str, str] | None = None,
) -> None:
    """One request as Azure ML's data collector writes it (model_inputs + model_outputs);
    `headers` are captured request headers (`request_logging.capture_headers`)."""
    part = moment.strftime("%Y/%m/%d/%H")
    cid = f"cid-{moment.timestamp():.0f}"
    source = "/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/"
    source += "workspaces/w/onlineEndpoints/ep/deployments/blue"
    for collection, data in (("model_inputs", rows), ("model_outputs", outs)):
        folder = root / collection / part
        folder.mkdir(parents=True, exist_ok=True)
        event = {
            "specversion": "1.0",
            "id": f"{cid}-{collection}",
            "source": source,
            "type": f"azureml.inference.{collection}",
            "datacontenttype": "application/json",
            "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "data": data,
            "correlationid": cid,
            "modelversion": "3",
            **(headers or {}),
        }
        with (folder / "instance.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(event) + "\n")


def test_azure_ml_collected_data_through_an_fsspec_url(tmp_path: Path, mlops: Any) -> None:
    root = tmp_path / "modelDataCollector" / "ep" / "blue"
    data = frames(400, shift=0.7, seed=8)
    for i in range(0, 400, 4):  # requests of 4 rows, one per 30 minutes over 50 hours
        chunk = data.iloc[i : i + 4]
        rows = [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                for r in chunk.to_dict(orient="records")]  # fmt: skip
        outs = [{"prediction": int(r["x"] > 0), "score": float(r["y"])} for r in rows]
        _collected(root, START + timedelta(minutes=30 * (i // 4)), rows, outs)
    ref = frames(2000).assign(prediction=lambda f: (f["x"] > 0).astype(int))
    reference = _csv(ref, tmp_path / "ref.csv")
    since, until = START + timedelta(hours=10), START + timedelta(hours=20)
    result = run_report(
        mlops, "--reference", str(reference), "--current", root.as_uri(),
        "--since", since.isoformat(), "--until", until.isoformat(), "--report-dir", "r", "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    outputs = json.loads(result.out)
    assert outputs["current-rows"] == 20 * 4  # 20 requests in those 10 hours
    details = json.loads((tmp_path / "r" / "drift-report.details.json").read_text())
    window = data.iloc[20 * 4 : 40 * 4]
    oracle = detect_drift(ref, window.assign(prediction=(window["x"] > 0).astype(int)),
                          columns=["x", "y", "z", "color"], cat_max_unique=1000)  # fmt: skip
    scores = [c["score"] for c in details["features"]["columns"]]
    assert scores == pytest.approx([c.score for c in oracle.columns], rel=1e-9, abs=1e-12)
    assert details["predictions"]["columns"][0]["column"] == "prediction"
    assert details["current"]["description"].startswith("collected data file://")

    unknown = run_report(mlops, "--reference", str(reference), "--current", "azureml://x/y")
    assert unknown.code == 2 and "azureml-fsspec" in unknown.err


def _git(repo: Path, *argv: str) -> None:
    subprocess.run(list(argv), cwd=repo, check=True, capture_output=True, env=python_env())


@pytest.mark.slow
def test_a_dvc_reference_read_at_a_revision(tmp_path: Path, mlops: Any) -> None:
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    dvc = str(Path(sys.executable).parent / "dvc")
    _git(repo, "git", "init", "-q", "-b", "main")
    _git(repo, "git", "config", "user.email", "t@example.invalid")
    _git(repo, "git", "config", "user.name", "t")
    _git(repo, dvc, "init", "-q")
    frames(1500).to_csv(repo / "data" / "batch.csv", index=False)
    _git(repo, dvc, "add", "-q", "data/batch.csv")
    _git(repo, "git", "add", "-A")
    _git(repo, "git", "commit", "-qm", "v1")
    _git(repo, "git", "tag", "v1")
    frames(1500, shift=0.8, seed=4).to_csv(repo / "data" / "batch.csv", index=False)
    _git(repo, dvc, "add", "-q", "data/batch.csv")
    _git(repo, "git", "commit", "-qam", "v2")
    path = str(repo / "data" / "batch.csv")

    old = run_report(mlops, "--reference", path, "--reference-rev", "v1", "--current", path,
                     "--json")  # fmt: skip
    same = run_report(mlops, "--reference", path, "--reference-rev", "HEAD", "--current", path,
                      "--json")  # fmt: skip
    assert old.code == same.code == 0, old.err + same.err
    assert json.loads(old.out)["drift-detected"] is True
    assert json.loads(same.out)["drifted-share"] == pytest.approx(0.0)
    details = json.loads((tmp_path / ".mlops/reports/drift-report.details.json").read_text())
    assert details["reference"]["version"].startswith("dvc:HEAD:")
    unknown = run_report(mlops, "--reference", path, "--reference-rev", "v9", "--current", path)
    assert unknown.code == 2 and "v9" in unknown.err


def test_urls_and_predictions_written_in_mlops_yaml_survive_path_resolution(
    tmp_path: Path,
) -> None:
    from mlops_actions.config import parse_settings
    from mlops_actions.monitoring.sources import parse_source

    url = "azureml://subscriptions/s/resourcegroups/g/workspaces/w/datastores/d/paths/mdc/ep/blue"
    for written, kind, location in [
        (url, "collected", url),
        ("file:///data/collected", "collected", "file:///data/collected"),
        ("predictions:", "predictions", str(tmp_path / ".mlops/endpoint/predictions.jsonl")),
        ("batch.csv", "table", str(tmp_path / "batch.csv")),
    ]:
        settings = parse_settings(
            "model: {name: m}\ndata: {target: y}\nevaluate: {primary_metric: roc_auc}\n"
            f"monitor: {{current: '{written}'}}\n",
            base_dir=tmp_path,
        )
        assert settings.monitor.current is not None
        source = parse_source(
            settings.monitor.current,
            base_dir=tmp_path,
            state_dir=tmp_path / ".mlops" / "endpoint",
        )
        assert (source.kind, source.location) == (kind, location)


def test_fast_and_record_readers_of_the_log_agree(tmp_path: Path) -> None:
    """Arrow reads a clean log; a damaged line sends it to predlog's reader: same frames."""
    from mlops_actions.monitoring.prediction_log import load_prediction_log
    from mlops_actions.monitoring.sources import parse_source

    inputs = frames(60, seed=4)
    inputs.loc[5, "y"] = None
    clean = write_log(
        tmp_path / "a.jsonl",
        inputs,
        outputs=list(range(60)),
        scores=[None] * 30 + [0.5] * 30,
        shadow={3: "green"},
    )
    lines = clean.read_text().splitlines(keepends=True)
    damaged = tmp_path / "b.jsonl"
    damaged.write_text("".join([*lines[:20], "{not json\n", *lines[20:]]) + '{"torn": ')
    for shadow in (False, True):
        fast = load_prediction_log(parse_source(str(clean)), include_shadow=shadow)
        slow = load_prediction_log(parse_source(str(damaged)), include_shadow=shadow)
        assert len(fast.frame) == 60 + shadow
        pd.testing.assert_frame_equal(fast.frame, slow.frame)
        assert fast.meta is not None and slow.meta is not None
        pd.testing.assert_frame_equal(fast.meta, slow.meta)


def test_the_pipelines_own_requests_are_left_out_by_both_readers(
    tmp_path: Path, mlops: Any
) -> None:
    """Smoke and probe rows (a `source` label) are not users' traffic: left out and counted."""
    from mlops_actions.monitoring.prediction_log import load_prediction_log
    from mlops_actions.monitoring.sources import parse_source

    labels = {**{i: "probe" for i in range(0, 50, 5)}, 1: "smoke", 2: "smoke"}
    clean = write_log(
        tmp_path / "a.jsonl", frames(50, seed=6), outputs=list(range(50)), sources=labels,
        shadow={3: "green"},
    )  # fmt: skip
    lines = clean.read_text().splitlines(keepends=True)
    damaged = tmp_path / "b.jsonl"  # not typable by Arrow: read record by record
    damaged.write_text("".join([*lines[:20], "{not json\n", *lines[20:]]))
    for include, rows, left_out, kept in (
        ((), 38, {"probe": 10, "smoke": 2}, set()),
        ({"smoke"}, 40, {"probe": 10}, {"smoke"}),
        ({"all"}, 50, {}, {"probe", "smoke"}),
    ):
        fast = load_prediction_log(parse_source(str(clean)), include_sources=include)
        slow = load_prediction_log(parse_source(str(damaged)), include_sources=include)
        assert len(fast.frame) == rows and fast.left_out == slow.left_out == left_out
        assert fast.meta is not None and slow.meta is not None
        pd.testing.assert_frame_equal(fast.frame, slow.frame)
        pd.testing.assert_frame_equal(fast.meta, slow.meta)
        assert set(fast.meta["source"].dropna()) == kept

    reference = _csv(frames(300), tmp_path / "ref.csv")
    only_probes = write_log(
        tmp_path / "c.jsonl", frames(20), sources=dict.fromkeys(range(20), "probe")
    )
    result = run_report(mlops, "--reference", str(reference), "--current", str(only_probes))
    assert result.code == 2 and "no users' requests" in result.err
    assert "20 rows (probe 20)" in result.err and "--include-source probe" in result.err
    included = run_report(mlops, "--reference", str(reference), "--current", str(only_probes),
                          "--include-source", "probe", "--json")  # fmt: skip
    assert included.code == 0 and json.loads(included.out)["current-rows"] == 20


def test_collected_data_leaves_out_events_with_the_source_header(
    tmp_path: Path, mlops: Any
) -> None:
    root = tmp_path / "modelDataCollector" / "ep" / "blue"
    data = frames(40, seed=9)
    for i in range(40):
        row = {k: (v.item() if hasattr(v, "item") else v) for k, v in data.iloc[i].items()}
        headers = {0: {"xmlopssource": "probe"}, 1: {"headers": {"X-MLOps-Source": "smoke"}}}
        _collected(root, START + timedelta(minutes=i), [row], [0], headers.get(i % 4))
    reference = _csv(frames(300), tmp_path / "ref.csv")
    result = run_report(mlops, "--reference", str(reference), "--current", root.as_uri(),
                        "--report-dir", "r", "--json")  # fmt: skip
    assert result.code in (0, 1), result.err
    assert json.loads(result.out)["current-rows"] == 20
    notes = json.loads((tmp_path / "r" / "drift-report.details.json").read_text())["notes"]
    assert any("left out 20 rows (probe 10, smoke 10)" in n for n in notes)


def _shown(name: str) -> str:
    """A column name as the report shows it, back to text: entities decoded, the zero-width
    spaces that keep GitHub from linking mentions and references removed."""
    return html.unescape(name).replace("\u200b", "")
