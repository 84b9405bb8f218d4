"""`mlops register`: gated by the recorded verdict, forced with a recorded reason, idempotent;
`--promote` and `--rollback` move the champion. Real models and a real sqlite MLflow registry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.compare_support import (
    LINEAGE,
    Trained,
    clear_verdict,
    trained_models,
    unique_name,
    write_config,
)
from tests.conftest import GithubJob

Run = Callable[..., Any]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    return trained_models(tmp_path_factory)


def _registry(models: Trained) -> Any:
    from mlops_actions.registry import ModelRegistry

    return ModelRegistry(models.tracking_uri)


def test_refuses_a_candidate_that_was_never_compared(
    mlops: Run, models: Trained, tmp_path: Path, github_job: GithubJob
) -> None:
    clear_verdict(models, models.bad_run)
    name = unique_name("uncompared")
    config = write_config(tmp_path, models, name)
    result = mlops("register", "--config", str(config), "--candidate", models.bad_run)
    assert result.code == 1
    assert "no comparison is recorded for this candidate" in result.out + result.err
    assert github_job.outputs()["model-version"] == ""
    assert _registry(models).versions(name) == []


def test_registers_a_better_candidate_once_with_lineage_and_verdict(
    mlops: Run, models: Trained, tmp_path: Path, github_job: GithubJob
) -> None:
    name = unique_name("register")
    config = write_config(tmp_path, models, name, "primary_metric: roc_auc\n  min: {roc_auc: 0.6}")
    assert (
        mlops("compare-champion", "--config", str(config), "--candidate", models.good_run).code == 0
    )

    first = mlops("register", "--config", str(config), "--candidate", models.good_run)
    again = mlops("register", "--config", str(config), "--candidate", models.good_uri)

    assert first.code == 0 and again.code == 0, (first.err, again.err)
    registry = _registry(models)
    [version] = registry.versions(name)
    assert github_job.outputs()["model-version"] == str(version.version) == "1"
    assert registry.alias_version(name, "challenger") == "1"
    assert registry.champion_version(name) is None
    tags = registry.get_version(name, "1").tags
    assert {k: tags[k] for k in LINEAGE} == LINEAGE
    assert tags["mlops.run_id"] == models.good_run
    assert tags["mlops.candidate"] == models.good_uri
    assert tags["mlops.comparison.is_better"] == "true"
    assert tags["mlops.comparison.reason"].startswith("first model (no champion yet) meets")
    assert 0.6 < float(tags["mlops.metrics.roc_auc"]) < 1
    assert "mlops.register.forced" not in tags
    assert "already registered, unchanged" in again.err + again.out


def test_refuses_after_a_no_and_records_a_forced_registration(
    mlops: Run,
    models: Trained,
    tmp_path: Path,
    github_job: GithubJob,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = unique_name("forced")
    registry = _registry(models)
    champion = registry.register(name, models.good_uri, run_id=None, alias=None).version
    registry.promote(name, champion)
    config = write_config(tmp_path, models, name)
    compared = mlops("compare-champion", "--config", str(config), "--candidate", models.bad_run)
    assert compared.code == 1

    refused = mlops("register", "--config", str(config), "--candidate", models.bad_run)
    assert refused.code == 1
    assert "the latest comparison said no: challenger is not better" in refused.out
    no_reason = mlops("register", "--config", str(config), "--candidate", models.bad_run, "--force")
    assert no_reason.code == 2 and "--force needs --force-reason" in no_reason.out
    assert [str(v.version) for v in registry.versions(name)] == [champion]

    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    forced = mlops(
        "register",
        "--config",
        str(config),
        "--candidate",
        models.bad_run,
        "--force",
        "--force-reason",
        "regulator asked for the simpler model",
    )
    assert forced.code == 0, forced.err
    version = github_job.outputs()["model-version"]
    assert github_job.outputs()["forced"] == "true"
    tags = registry.get_version(name, version).tags
    assert tags["mlops.register.forced"] == "true"
    assert tags["mlops.register.forced_by"] == "octocat"
    assert tags["mlops.register.force_reason"] == "regulator asked for the simpler model"
    assert tags["mlops.register.forced_over"].startswith("the latest comparison said no")
    assert tags["mlops.comparison.is_better"] == "false"
    assert registry.alias_version(name, "challenger") == version
    assert registry.champion_version(name) == champion


def test_refuses_a_comparison_against_a_champion_that_has_changed(
    mlops: Run, models: Trained, tmp_path: Path
) -> None:
    name = unique_name("stale")
    config = write_config(tmp_path, models, name)
    assert (
        mlops("compare-champion", "--config", str(config), "--candidate", models.good_run).code == 0
    )
    registry = _registry(models)
    registry.promote(name, registry.register(name, models.bad_uri, run_id=None).version)

    result = mlops("register", "--config", str(config), "--candidate", models.good_run)
    assert result.code == 1
    assert "compared against no champion, but the champion is now v1; compare again" in result.err


def test_promote_records_the_previous_champion_and_rollback_moves_back(
    mlops: Run, models: Trained, tmp_path: Path, github_job: GithubJob
) -> None:
    name = unique_name("promote")
    registry = _registry(models)
    v1 = registry.register(name, models.bad_uri, run_id=None).version
    v2 = registry.register(name, models.good_uri, run_id=None).version
    config = write_config(tmp_path, models, name)

    assert mlops("register", "--config", str(config), "--promote", v1).code == 0
    assert github_job.outputs()["previous-champion"] == ""
    assert mlops("register", "--config", str(config), "--promote", v2).code == 0
    out = github_job.outputs()
    assert (out["model-version"], out["previous-champion"]) == (v2, v1)
    assert registry.get_version(name, v2).tags["mlops.previous_champion"] == v1

    again = mlops("register", "--config", str(config), "--promote", v2)
    assert again.code == 0 and github_job.outputs()["previous-champion"] == v1
    assert registry.get_version(name, v2).tags["mlops.previous_champion"] == v1

    assert mlops("register", "--config", str(config), "--rollback").code == 0
    out = github_job.outputs()
    assert (out["model-version"], out["previous-champion"]) == (v1, v2)
    assert registry.champion_version(name) == v1
    first = mlops("register", "--config", str(config), "--rollback")
    assert first.code == 2 and "was the first champion" in first.out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--promote", "7"], "has no version '7'"),
        (["--promote", "latest"], "is not a version number"),
        ([], "nothing to do"),
        (["--candidate", "models:/m-nothing"], "does not exist"),
    ],
)
def test_register_bad_input_exits_2(
    mlops: Run, models: Trained, tmp_path: Path, argv: list[str], message: str
) -> None:
    config = write_config(tmp_path, models, unique_name("input"))
    result = mlops("register", "--config", str(config), *argv)
    assert result.code == 2 and message in result.err


def test_the_summary_says_what_happened_and_escapes_user_text() -> None:
    from mlops_actions.reports.register import render_register
    from mlops_actions.steps.register import RegisterResult

    refused = RegisterResult(
        "refused", "m@team", None, None, "2", "models:/m-1", "r" * 32, refusal="said no: <b>"
    )
    assert render_register(refused) == (
        "### ❌ register · m&#64;\u200bteam: refused\n\nsaid no&#58; &lt;b&gt;\n\n"
        'Nothing was registered. To register anyway: `--force --force-reason "why"` '
        "(recorded on the version).\n"
    )
    forced = RegisterResult(
        "registered", "m", "3", None, "2", "models:/m-1", "r" * 32, True, True, True, None, "no"
    )
    text = render_register(forced)
    assert text.startswith("### ⚠️ register · m: registered\n\n|  | value |\n|---|---|\n")
    assert "| version | 3 (new version) |" in text and "| forced over | no |" in text
    promoted = RegisterResult("promoted", "m", "3", "2", "3", changed=False)
    assert "| changed | no, already champion |" in render_register(promoted)
    back = RegisterResult("rolled back", "m", "2", "3", "2")
    assert render_register(back) == (
        "### ↩️ register · m: rolled back\n\n|  | value |\n|---|---|\n"
        "| champion | 2 |\n| rolled back from | 3 |\n"
    )
