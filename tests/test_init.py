"""`mlops init` reads a repository's data and writes everything a run needs, with no edit."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.user_data import churn, house_prices, write_split

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def churn_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "churn-model"
    write_split(repo, churn(1200, seed=3))
    return repo


def _config(repo: Path) -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((repo / "mlops.yaml").read_text())  # type: ignore[no-any-return]


def test_init_reads_the_data_and_writes_a_runnable_repository(churn_repo: Path, mlops) -> None:
    result = mlops("init", str(churn_repo), "--ref", SHA, "--json")
    assert result.code == 0, result.err
    outputs = json.loads(result.out)
    assert (outputs["task"], outputs["target"], outputs["primary-metric"]) == (
        "classification",
        "churned",  # the last column: no column is called target or label
        "roc_auc",
    )
    config = _config(churn_repo)
    assert config["model"] == {"name": "churn-model", "task": "classification"}
    assert config["data"]["id_column"] == "customer_id"
    assert config["evaluate"]["min_improvement"] > 0  # a tie never replaces the champion
    assert config["evaluate"]["positive_class"] == 1
    assert config["deploy"]["analysis"]["source"] == "probe"  # no users on the local endpoint
    # Everything it names exists, and the check that opens the data agrees.
    check = mlops("config", "check", "--config", str(churn_repo / "mlops.yaml"))
    assert check.code == 0, check.err
    # The suite drafted from train holds on the (four times smaller) holdout.
    validate = mlops("validate-data", "--config", str(churn_repo / "mlops.yaml"), "--json")
    assert validate.code == 0, validate.err
    assert json.loads(validate.out)["failed-expectations"] == 0
    cases = [
        json.loads(line) for line in (churn_repo / "smoke/cases.jsonl").read_text().splitlines()
    ]
    labelled = [c for c in cases if c["expected"] != "any"]
    assert {c["expected"] for c in labelled} == {0, 1}  # typical rows of both classes
    features = {"tenure_months", "monthly_charges", "support_calls", "contract", "region",
                "paperless_billing"}  # fmt: skip
    assert all(set(c["input"]) == features for c in cases)
    assert "mlops.workflow" not in (churn_repo / "train.py").read_text()
    assert "skops_trusted_types" in (churn_repo / "train.py").read_text()
    ignored = (churn_repo / ".gitignore").read_text().splitlines()
    assert ".mlops/" in ignored and "mlops-reports/" in ignored
    for name in ("ml-pipeline.yml", "pr-evaluation.yml", "drift-monitor.yml"):
        text = (churn_repo / ".github" / "workflows" / name).read_text()
        workflow = yaml.safe_load(text)
        assert workflow["permissions"] == {}
        [job] = workflow["jobs"].values()
        assert job["uses"].endswith(f"/.github/workflows/{name}@{SHA}")
        assert job["with"]["mlops-actions-ref"] == SHA
        assert re.search(rf"@{SHA} # \S", text)
    pr = yaml.safe_load((churn_repo / ".github" / "workflows" / "pr-evaluation.yml").read_text())
    assert list(pr[True]) == ["pull_request"]  # never pull_request_target


def test_init_infers_regression_with_a_relative_margin_and_ranges(tmp_path: Path, mlops) -> None:
    repo = tmp_path / "prices"
    write_split(repo, house_prices(900, seed=5), holdout_share=0.2)
    result = mlops("init", str(repo), "--ref", SHA, "--target", "price_k", "--json")
    assert result.code == 0, result.err
    config = _config(repo)
    assert config["model"]["task"] == "regression"
    assert config["data"]["id_column"] == "listing_id"
    assert config["evaluate"]["primary_metric"] == "rmse"
    assert config["evaluate"]["improvement"] == "relative"
    assert "metric: mae" in (repo / "mlops.yaml").read_text()  # not a classification guardrail
    assert "positive_class" not in config["evaluate"]
    cases = [json.loads(line) for line in (repo / "smoke/cases.jsonl").read_text().splitlines()]
    ranges = [c["expected"] for c in cases if isinstance(c["expected"], dict)]
    assert ranges and all(r["min"] < r["max"] for r in ranges)
    assert mlops("config", "check", "--config", str(repo / "mlops.yaml")).code == 0


def test_rerunning_init_changes_nothing_and_force_keeps_the_users_code(
    churn_repo: Path, mlops
) -> None:
    (churn_repo / ".gitignore").write_text("*.log\n.mlops/\n")
    assert mlops("init", str(churn_repo), "--ref", SHA).code == 0
    ignored = (churn_repo / ".gitignore").read_text()
    assert ignored.startswith("*.log\n.mlops/\n") and ignored.count(".mlops/") == 1
    before = {p: p.read_bytes() for p in churn_repo.rglob("*") if p.is_file()}
    again = mlops("init", str(churn_repo), "--ref", SHA, "--json")
    assert again.code == 0 and json.loads(again.out)["changed"] is False
    assert "nothing changed" in mlops("init", str(churn_repo), "--ref", SHA).err
    assert {p: p.read_bytes() for p in churn_repo.rglob("*") if p.is_file()} == before
    (churn_repo / "train.py").write_text("# my own training code\n")
    (churn_repo / "mlops.yaml").write_text((churn_repo / "mlops.yaml").read_text() + "# edit\n")
    forced = mlops("init", str(churn_repo), "--ref", SHA, "--force")
    assert forced.code == 0, forced.err
    assert (churn_repo / "train.py").read_text() == "# my own training code\n"
    assert not (churn_repo / "mlops.yaml").read_text().endswith("# edit\n")
    assert "train.py exists and was kept" in forced.err


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--train", "nope.csv"], ["--train", "nope.csv", "put the data there"]),
        (["--holdout", "data/none.csv"], ["--holdout", "none.csv"]),
        (["--target", "chrned"], ["no column 'chrned'", "--target"]),
        (["--target", "contract", "--task", "regression"], ["not numeric", "--task"]),
        (["--ref", "v1"], ["40-character SHA"]),
    ],
)
def test_init_refuses_what_it_cannot_use(
    churn_repo: Path,
    mlops,
    args: list[str],
    fragments: list[str],
) -> None:
    result = mlops("init", str(churn_repo), *(["--ref", SHA] if "--ref" not in args else []), *args)
    assert result.code == 2, result.err
    [line] = result.err.strip().splitlines()
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    assert not (churn_repo / "mlops.yaml").exists()  # nothing half-written
