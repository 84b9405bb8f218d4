"""`mlops pipeline run` on a copy of the example: all steps with the local backends, then a worse
model that must stop at the comparison gate."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_actions.pipeline import STEPS
from tests.conftest import EXAMPLE, python_env


@pytest.fixture
def example(tmp_path: Path) -> Iterator[Path]:
    """A copy of examples/credit-default with freshly generated data; its endpoint is stopped."""
    copy = tmp_path / "credit-default"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("data", ".mlops", "reports"))
    subprocess.run(
        [
            sys.executable,
            str(copy / "generate_data.py"),
            "--out",
            str(copy / "data"),
            "--rows",
            "2000",
        ],
        check=True,
        capture_output=True,
        env=python_env(),
    )
    # A loaded 2-core machine serves the example's model at a p95 near its 250 ms limit: these
    # tests judge the pipeline, not the machine (the slow-model test breaks the limit on purpose).
    config = copy / "mlops.yaml"
    config.write_text(
        config.read_text().replace("max_p95_latency_ms: 250", "max_p95_latency_ms: 1000")
    )
    yield copy
    from mlops_actions.backends.local_endpoint import LocalEndpoint

    LocalEndpoint.down(copy / ".mlops" / "endpoint")


def _endpoint_running(example: Path) -> bool:
    from mlops_actions.backends.endpoint import EndpointError
    from mlops_actions.backends.local_endpoint import LocalEndpoint

    try:
        LocalEndpoint.connect(example / ".mlops" / "endpoint")
    except EndpointError:
        return False
    return True


@pytest.mark.slow
def test_pipeline_promotes_a_first_model_then_stops_a_worse_one(example: Path, mlops) -> None:
    config = str(example / "mlops.yaml")
    first = mlops("pipeline", "run", "--approve", "--config", config, "--json")
    assert first.code == 0, first.err[-3000:]
    outputs = json.loads(first.out)
    assert [outputs["steps"][s] for s in STEPS] == ["done"] * len(STEPS), outputs["steps"]
    assert outputs["complete"] is True
    assert outputs["compare-champion.first-model"] is True
    assert outputs["register.model-version"] == "1"
    assert outputs["canary-deploy.outcome"] == "promoted"
    assert outputs["smoke-test.passed"] is True
    assert (Path(outputs["report-dir"]) / "compare-champion.md").is_file()
    # The promoted model keeps serving (tests/test_adoption.py reads what the console says).
    assert outputs["endpoint-state"] == "running" and _endpoint_running(example)

    # Ignoring the strongest features makes a clearly worse challenger: the gate must stop it.
    worse = mlops(
        "pipeline", "run", "--approve", "--config", config, "--json",
        "--param", "drop-features=utilisation,late_payments_12m,debt_to_income",
    )  # fmt: skip
    assert worse.code == 1, worse.err[-3000:]
    outputs = json.loads(worse.out)
    assert outputs["steps"]["compare-champion"] == "failed"
    assert outputs["compare-champion.is-better"] is False
    assert {outputs["steps"][s] for s in STEPS[STEPS.index("register") :]} == {"skipped"}
    # It did not start the endpoint, so it does not stop it: the champion still serves.
    assert outputs["endpoint-state"] == "running" and _endpoint_running(example)
    stopped = mlops("pipeline", "run", "--approve", "--stop-endpoint", "--config", config, "--json")
    assert json.loads(stopped.out)["endpoint-state"] == "stopped" and not _endpoint_running(example)


def test_pipeline_stops_at_invalid_data(example: Path, mlops) -> None:
    train = example / "data" / "train.csv"
    lines = train.read_text().splitlines()
    # A negative age breaks the suite's range expectation.
    lines[1] = lines[1].split(",", 1)[0] + ",-5," + lines[1].split(",", 2)[2]
    train.write_text("\n".join(lines) + "\n")
    result = mlops(
        "pipeline", "run", "--approve", "--config", str(example / "mlops.yaml"), "--json"
    )
    assert result.code == 1
    outputs = json.loads(result.out)
    assert outputs["steps"]["validate-data"] == "failed"
    assert {outputs["steps"][step] for step in STEPS[1:]} == {"skipped"}
    # The console line alone says which expectation failed, on which data.
    assert "age on train: expect_column_values_to_be_between" in result.err
    assert outputs["endpoint-state"] == "not running"


def test_pipeline_without_approval_does_not_deploy(example: Path, mlops) -> None:
    # No terminal to ask and no --approve: the approval is refused, nothing is deployed.
    result = mlops("pipeline", "run", "--config", str(example / "mlops.yaml"), "--json")
    assert result.code == 1
    outputs = json.loads(result.out)
    assert outputs["steps"]["register"] == "done"
    assert outputs["steps"]["approval"] == "failed"
    assert outputs["steps"]["canary-deploy"] == "skipped"
    assert "pass --approve" in result.err


def test_pipeline_with_bad_config_exits_2(tmp_path: Path, mlops) -> None:
    (tmp_path / "mlops.yaml").write_text("model: {name: x}\n")
    result = mlops("pipeline", "run", "--config", str(tmp_path / "mlops.yaml"))
    assert result.code == 2
    assert "required key is missing" in result.err


@pytest.mark.slow
def test_pipeline_rolls_back_a_model_too_slow_to_serve(example: Path, mlops) -> None:
    config_file = example / "mlops.yaml"
    # A weaker first champion (under a lower floor), so that the slow model is better offline.
    # A generous smoke latency budget, so that only the slow model breaks it on a loaded machine,
    # and five parity rows, so that its smoke test stays short.
    text = config_file.read_text().replace("roc_auc: 0.7", "roc_auc: 0.6")
    text = text.replace("latency_budget_ms: 500", "latency_budget_ms: 1000\n  parity_rows: 5")
    config_file.write_text(text)
    config = str(config_file)
    first = mlops(
        "pipeline", "run", "--approve", "--config", config, "--json",
        "--param", "drop-features=late_payments_12m",
    )  # fmt: skip
    assert first.code == 0, first.err[-3000:]
    assert json.loads(first.out)["canary-deploy.outcome"] == "promoted"

    # Better offline, 1.5 s per prediction when served: over the smoke test's 1 s budget.
    slow = mlops(
        "pipeline", "run", "--approve", "--config", config, "--json",
        "--param", "serving-delay-ms=1500",
    )  # fmt: skip
    assert slow.code == 1, slow.err[-3000:]
    outputs = json.loads(slow.out)
    assert outputs["compare-champion.is-better"] is True
    assert outputs["register.model-version"] == "2"
    assert outputs["steps"]["canary-deploy"] == "failed"
    assert outputs["steps"]["smoke-test"] == "skipped"
    assert outputs["canary-deploy.outcome"] == "rolled-back"
    assert "smoke test of credit-default-v2 failed: p95 latency" in outputs["canary-deploy.reason"]
    assert outputs["canary-deploy.final-traffic"] == {"credit-default-v1": 100}

    import mlflow

    uri = f"sqlite:///{example / '.mlops' / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri, uri)
    assert str(client.get_model_version_by_alias("credit-default", "champion").version) == "1"
    assert {str(v.version) for v in client.search_model_versions("name='credit-default'")} == {
        "1",
        "2",
    }
    # The champion keeps serving all the traffic after the rollback.
    assert outputs["endpoint-state"] == "running"
    from mlops_actions.backends.local_endpoint import LocalEndpoint

    served = LocalEndpoint.connect(example / ".mlops" / "endpoint").get_traffic()
    assert dict(served.weights) == {"credit-default-v1": 100}
