"""The ml-pipeline reusable workflow's failure paths with act, three callers in one run:

- `bogus`: an invalid input (backend: bogus) fails the first job, naming the input;
- `corrupted`: corrupted training data stops the pipeline at validation;
- `worse`: a challenger worse than the champion stops at the comparison, nothing is registered or
  deployed. The champion is seeded into the run's local MLflow state ($HOME/.mlops-state/
  $GITHUB_RUN_ID, which the jobs pass on as an artifact) before act starts: with the local
  backend every run starts from an empty store, so this stands in for a shared tracking server.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.act_harness import (
    MLOPS_ACTIONS_REF,
    ORIGIN,
    ActRun,
    ReusableWorkflowRun,
    example_config,
    example_files,
    example_project,
    job_annotations,
    job_outputs,
    job_started,
    prepare_reusable_run,
    run_act,
    seed_champion,
    stub_repositories,
)
from tests.fakes.github_api import CommitStatus, FakeGitHub

REPOSITORY = ORIGIN.removeprefix("https://github.com/").removesuffix(".git")
RUN_ID = "4242"
VALIDATE = "ml-pipeline/Validate data"
TRAIN = "ml-pipeline/Train"
COMPARE = "ml-pipeline/Compare with the champion"
REGISTER = "ml-pipeline/Register the challenger"
DEPLOY = "ml-pipeline/Deploy (canary, smoke test, promote or roll back)"
# The challenger ignores the strongest signals: worse than the champion trained on all of them.
WEAK = example_config(train={"params": {"drop-features": "utilisation,late_payments_12m"}})
CORRUPTED = example_config(data={"train": "corrupted/train.csv"})


def _caller(name: str, **inputs: str) -> str:
    given = "".join(f"      {key}: {value}\n" for key, value in inputs.items())
    return f"""\
  {name}:
    permissions:
      contents: read
      id-token: write
      statuses: write
    uses: ./.github/workflows/ml-pipeline.yml
    with:
      mlops-actions-ref: "{MLOPS_ACTIONS_REF}"
      working-directory: examples/credit-default
{given}"""


CALLER = (
    "name: negative\non: push\npermissions: {}\njobs:\n"
    + _caller("bogus", backend="bogus")
    + _caller("corrupted", backend="local", config="mlops-corrupted.yaml")
    + _caller("worse", backend="local", config="mlops-weak.yaml")
)


def _corrupt(csv: bytes) -> bytes:
    """Negative ages in 39 rows: the example's suite requires 18 ≤ age."""
    lines = csv.decode().splitlines()
    age = lines[0].split(",").index("age")
    for i in range(1, 40):
        cells = lines[i].split(",")
        cells[age] = "-5"
        lines[i] = ",".join(cells)
    return ("\n".join(lines) + "\n").encode()


@dataclass
class NegativeRun:
    run: ActRun
    folders: ReusableWorkflowRun
    champion: str
    statuses: list[CommitStatus]


@pytest.fixture(scope="module")
def negative(
    tmp_path_factory: pytest.TempPathFactory, act_cache: Path, example_data: dict[str, bytes]
) -> NegativeRun:
    root = tmp_path_factory.mktemp("negative")
    files = example_files(
        example_data,
        {
            "corrupted/train.csv": _corrupt(example_data["data/train.csv"]),
            "mlops-corrupted.yaml": CORRUPTED,
            "mlops-weak.yaml": WEAK,
        },
    )
    folders = prepare_reusable_run(root, {"negative.yml": CALLER}, ["ml-pipeline.yml"], files)
    project = example_project(root / "seed-project", example_data)
    state = folders.home / ".mlops-state" / RUN_ID
    state.mkdir(parents=True)
    champion = seed_champion(
        project, f"sqlite:///{state / 'mlflow.db'}", reports=root / "seed-reports"
    )
    sha = subprocess.run(
        ["git", "-C", str(folders.workspace), "rev-parse", "HEAD"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    with FakeGitHub(allowed_tokens={"ghs_test"}) as github:
        github.add_repo(REPOSITORY)
        run = run_act(
            folders.workspace,
            "negative.yml",
            cache=act_cache,
            env=folders.env(GITHUB_API_URL=github.base_url, GITHUB_RUN_ID=RUN_ID),
            secrets={"GITHUB_TOKEN": "ghs_test"},
            local_repositories=stub_repositories(),
            timeout=900,
        )
        statuses = github.statuses(REPOSITORY, sha)
    return NegativeRun(run, folders, champion, statuses)


@pytest.mark.act
@pytest.mark.slow
def test_an_invalid_input_fails_the_first_job_naming_it(negative: NegativeRun) -> None:
    run = negative.run
    assert run.code != 0
    assert run.job_failed(f"bogus/{VALIDATE}"), f"validation did not fail: {run.annotations()}"
    errors = job_annotations(run, f"bogus/{VALIDATE}")
    assert any("backend" in e and "bogus" in e for e in errors), errors
    for job in (TRAIN, COMPARE, REGISTER, DEPLOY):
        assert not job_started(run, f"bogus/{job}"), job


@pytest.mark.act
@pytest.mark.slow
def test_corrupted_data_stops_the_pipeline_at_validation(negative: NegativeRun) -> None:
    run = negative.run
    assert run.job_failed(f"corrupted/{VALIDATE}"), run.log[-6000:]
    errors = job_annotations(run, f"corrupted/{VALIDATE}")
    assert any("age" in e for e in errors), errors
    for job in (TRAIN, COMPARE, REGISTER, DEPLOY):
        assert not job_started(run, f"corrupted/{job}"), job


@pytest.mark.act
@pytest.mark.slow
def test_a_worse_model_stops_at_the_comparison(negative: NegativeRun) -> None:
    from mlflow import MlflowClient

    run = negative.run
    for job in (VALIDATE, TRAIN, COMPARE):
        assert run.job_succeeded(f"worse/{job}"), (job, job_annotations(run, f"worse/{job}"))
    compared = job_outputs(run, f"worse/{COMPARE}")
    assert compared["first-model"] == "false"
    assert compared["champion-version"] == negative.champion
    assert compared["is-better"] == "false", compared
    for job in (REGISTER, DEPLOY):
        assert not job_started(run, f"worse/{job}"), job
    assert [(s.context, s.state) for s in negative.statuses] == [
        ("mlops/compare-champion", "failure")
    ]

    artifacts = negative.folders.artifacts
    assert not (artifacts / "mlops-state-register").exists()
    uri = f"sqlite:///{artifacts / 'mlops-state-compare' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    versions = [str(v.version) for v in client.search_model_versions("name='credit-default'")]
    assert versions == [negative.champion]
    champion = client.get_model_version_by_alias("credit-default", "champion")
    assert str(champion.version) == negative.champion
    assert "Install mlops-actions for canary-deploy" not in run.log
    assert "azure/login called" not in run.log
