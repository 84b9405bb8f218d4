"""`mlops smoke-test`: real deployments on a real local endpoint, real registered models."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlops_actions.backends.endpoint import DeploymentSpec, deployment_name
from mlops_actions.backends.local_endpoint import LocalEndpoint, read_prediction_log
from mlops_actions.errors import InputError
from mlops_actions.steps.smoke_test import load_cases
from tests.fault_model import Store, golden_cases, session_store, write_project

MODEL = "smoke-model"


@dataclass
class Project:
    config: Path
    store: Store
    endpoint: LocalEndpoint

    def deploy(self, **faults: object) -> str:
        version = self.store.version(MODEL, **faults)
        name = deployment_name(MODEL, version)
        self.endpoint.create_or_update_deployment(
            DeploymentSpec(name, MODEL, version, self.store.tracking_uri)
        )
        return name


def _write_cases(path: Path, cases: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    store = session_store(tmp_path_factory.getbasetemp())
    folder = tmp_path_factory.mktemp("smoke-project")
    _write_cases(folder / "cases.jsonl", golden_cases(store))
    config = write_project(
        folder,
        store,
        MODEL,
        smoke="  cases: cases.jsonl\n  latency_budget_ms: 2000\n  parity_rows: 20\n"
        "  parity_tolerance: 0",
    )
    state_dir = folder / ".mlops" / "endpoint"
    endpoint = LocalEndpoint.up(state_dir, tracking_uri=store.tracking_uri, preload="")
    try:
        yield Project(config, store, endpoint)
    finally:
        LocalEndpoint.down(state_dir)


@pytest.mark.slow
def test_a_healthy_deployment_passes_every_check(project: Project, mlops, github_job) -> None:
    name = project.deploy()
    run = mlops("smoke-test", "--config", str(project.config), "--deployment", name)
    assert run.code == 0, run.err
    outputs = github_job.outputs()
    assert outputs["passed"] == "true" and outputs["failures"] == "0"
    assert outputs["parity-max-diff"] == "0.0"
    assert 0 < float(outputs["p95-latency-ms"]) < 2000
    assert outputs["model-version"] == project.store.version(MODEL)
    summary = github_job.summary.read_text(encoding="utf-8")
    assert "4 of 4 passed" in summary and "0 of 20 rows differ" in summary
    logged = [
        r
        for r in read_prediction_log(project.endpoint.paths.predictions)
        if r["deployment"] == name
    ]
    assert len(logged) >= 24 and {r.get("source") for r in logged} == {"smoke"}


@pytest.mark.slow
def test_training_serving_skew_fails_parity(project: Project, mlops) -> None:
    # The same formula, but the served copy adds 3 to the logit: offline and served disagree.
    name = project.deploy(serving_skew=3.0)
    run = mlops("smoke-test", "--config", str(project.config), "--deployment", name, "--json")
    assert run.code == 1
    outputs = json.loads(run.out)
    assert outputs["passed"] is False and outputs["parity-max-diff"] == 1.0
    assert "training/serving skew" in run.err


@pytest.mark.slow
def test_wrong_golden_case_names_case_and_line(project: Project, mlops, tmp_path: Path) -> None:
    name = project.deploy()
    cases = golden_cases(project.store)
    cases[1]["expected"] = 1  # the safe applicant is predicted 0
    path = _write_cases(tmp_path / "cases.jsonl", cases)
    run = mlops(
        "smoke-test",
        "--config",
        str(project.config),
        "--deployment",
        name,
        "--cases",
        str(path),
        "--parity-rows",
        "0",
        "--json",
    )
    assert run.code == 1
    assert json.loads(run.out)["failures"] == 1
    assert "case 'safe applicant' (line 2): expected 1, got 0" in run.err


@pytest.mark.slow
def test_latency_budget_and_server_errors_fail(project: Project, mlops) -> None:
    slow = project.deploy(latency_ms=60)
    run = mlops(
        "smoke-test",
        "--config",
        str(project.config),
        "--deployment",
        slow,
        "--latency-budget-ms",
        "40",
        "--parity-rows",
        "3",
        "--json",
    )
    assert run.code == 1
    assert float(json.loads(run.out)["p95-latency-ms"]) >= 60
    assert "over the budget of 40 ms" in run.err
    broken = project.deploy(error_rate=1.0)
    run = mlops("smoke-test", "--config", str(project.config), "--deployment", broken, "--json")
    assert run.code == 1
    assert "answered 500" in run.err and "injected fault" in run.err


@pytest.mark.slow
def test_schema_checks_cases_against_the_signature(
    project: Project,
    mlops,
    tmp_path: Path,
) -> None:
    name = project.deploy()
    cases = golden_cases(project.store)
    del cases[3]["input"]["income"]
    path = _write_cases(tmp_path / "cases.jsonl", cases)
    run = mlops(
        "smoke-test",
        "--config",
        str(project.config),
        "--deployment",
        name,
        "--cases",
        str(path),
        "--parity-rows",
        "0",
    )
    assert run.code == 1
    assert "lacks required input(s) income of the model signature" in run.err


@pytest.mark.slow
def test_unknown_deployment_and_stopped_endpoint(project: Project, mlops, tmp_path: Path) -> None:
    run = mlops("smoke-test", "--config", str(project.config), "--deployment", "nope-v9")
    assert run.code == 2 and "no deployment named 'nope-v9'" in run.err
    elsewhere = write_project(tmp_path, project.store, MODEL)
    run = mlops("smoke-test", "--config", str(elsewhere), "--deployment", "nope-v9")
    assert run.code == 3 and "not running" in run.err and "mlops endpoint up" in run.err


def test_case_file_formats_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text(
        '{"name": "exact", "input": {"a": 1}, "expected": 0}\n'
        "\n"
        '{"input": {"a": 2}, "expected": {"max": 0.3}}\n'
        '{"input": {"a": 3}, "expected": "any"}\n',
        encoding="utf-8",
    )
    exact, ranged, anything = load_cases(path)
    assert (exact.name, exact.expected, exact.any_valid) == ("exact", 0, False)
    assert (ranged.name, ranged.minimum, ranged.maximum) == ("line 3", None, 0.3)
    assert anything.any_valid and anything.line == 4
    for text, message in [
        ('{"input": {"a": 1}}\n{"input": [1]}\n', r"cases.jsonl:2: a case needs an 'input'"),
        ('{"input": {"a": 1}, "expected": {"min": 2, "max": 1}}\n', "min 2 is above its max"),
        ('{"input": {"a": 1}, "expectd": 1}\n', "unknown key"),
        ("{nope\n", r"cases.jsonl:1: not valid JSON"),
        ("\n", "holds no cases"),
    ]:
        path.write_text(text, encoding="utf-8")
        with pytest.raises(InputError, match=message):
            load_cases(path)
    with pytest.raises(InputError, match="does not exist"):
        load_cases(tmp_path / "missing.jsonl")


def test_the_example_cases_are_valid() -> None:
    from tests.conftest import EXAMPLE

    cases = load_cases(EXAMPLE / "smoke" / "cases.jsonl")
    assert len(cases) >= 4
    assert {c.expected for c in cases if not c.any_valid and c.minimum is None} == {0, 1}
