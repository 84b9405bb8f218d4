"""`mlops init` scaffolds a consumer repository that passes `mlops config check`."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_init_writes_valid_config_and_pinned_workflow(tmp_path: Path, mlops) -> None:  # type: ignore[no-untyped-def]
    repo = tmp_path / "fraud-model"
    result = mlops("init", str(repo), "--ref", SHA, "--target", "is_fraud")
    assert result.code == 0, result.err
    check = mlops("config", "check", "--config", str(repo / "mlops.yaml"), "--json")
    assert check.code == 0, check.err
    assert '"model-name": "fraud-model"' in check.out
    assert "is_fraud" in (repo / "mlops.yaml").read_text()
    for name in ("ml-pipeline.yml", "pr-evaluation.yml", "drift-monitor.yml"):
        workflow_text = (repo / ".github" / "workflows" / name).read_text()
        workflow = yaml.safe_load(workflow_text)
        assert workflow["permissions"] == {}
        [job] = workflow["jobs"].values()
        assert job["uses"].endswith(f"/.github/workflows/{name}@{SHA}")
        assert job["with"]["mlops-actions-ref"] == SHA
        assert re.search(rf"@{SHA} # v\d+\.\d+\.\d+", workflow_text)
    pr = yaml.safe_load((repo / ".github" / "workflows" / "pr-evaluation.yml").read_text())
    assert list(pr[True]) == ["pull_request"]  # never pull_request_target


def test_init_regression_uses_a_regression_metric(tmp_path: Path, mlops) -> None:  # type: ignore[no-untyped-def]
    result = mlops("init", str(tmp_path), "--ref", SHA, "--task", "regression", "--model-name", "m")
    assert result.code == 0, result.err
    assert mlops("config", "check", "--config", str(tmp_path / "mlops.yaml")).code == 0
    assert "primary_metric: rmse" in (tmp_path / "mlops.yaml").read_text()


def test_init_refuses_to_overwrite_without_force(tmp_path: Path, mlops) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "mlops.yaml").write_text("mine\n")
    result = mlops("init", str(tmp_path), "--ref", SHA, "--model-name", "m")
    assert result.code == 2
    assert "already exists" in result.err and "--force" in result.err
    assert (tmp_path / "mlops.yaml").read_text() == "mine\n"
    assert not (tmp_path / ".github").exists()
    assert mlops("init", str(tmp_path), "--ref", SHA, "--model-name", "m", "--force").code == 0
    assert (tmp_path / "mlops.yaml").read_text() != "mine\n"


def test_init_rejects_a_short_ref(tmp_path: Path, mlops) -> None:  # type: ignore[no-untyped-def]
    result = mlops("init", str(tmp_path), "--ref", "v1", "--model-name", "m")
    assert result.code == 2
    assert "40-character SHA" in result.err
