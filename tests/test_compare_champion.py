"""`mlops compare-champion` end to end: real models trained by the example, a real sqlite MLflow
registry, the CLI in-process, and PyGithub against the GitHub fake on pull_request events."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd  # a module global: MLflow resolves the type hints of LabelsOnly.predict
import pytest

from tests.compare_support import (
    Trained,
    clear_verdict,
    trained_models,
    unique_name,
    write_config,
)
from tests.conftest import GithubJob
from tests.fakes.github_api import FakeGitHub
from tests.github_files import parse_commands

Run = Callable[..., Any]
REPO = "octo-org/credit"
HEAD_SHA = "ab" * 20


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    return trained_models(tmp_path_factory)


def _registry(models: Trained) -> Any:
    from mlops_actions.registry import ModelRegistry

    return ModelRegistry(models.tracking_uri)


def _champion(models: Trained, name: str, uri: str) -> str:
    registry = _registry(models)
    version = registry.register(name, uri, run_id=None, alias=None).version
    registry.promote(name, version)
    return str(version)


def _reference_auc(models: Trained, uri: str) -> float:
    """ROC AUC of a logged model on the holdout, computed the usual way with sklearn."""
    import mlflow
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    holdout = pd.read_csv(models.data / "holdout.csv")
    mlflow.set_tracking_uri(models.tracking_uri)
    try:
        model = mlflow.sklearn.load_model(uri)
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    features = holdout.drop(columns=["default", "application_id"])
    return float(roc_auc_score(holdout["default"], model.predict_proba(features)[:, 1]))


def _tags(models: Trained, run_id: str) -> dict[str, str]:
    import mlflow

    return dict(mlflow.MlflowClient(tracking_uri=models.tracking_uri).get_run(run_id).data.tags)


def test_first_model_meets_the_floors_and_the_verdict_lands_on_its_run(
    mlops: Run, models: Trained, tmp_path: Path, github_job: GithubJob
) -> None:
    config = write_config(
        tmp_path, models, unique_name("first"), "primary_metric: roc_auc\n  min: {roc_auc: 0.6}"
    )
    result = mlops("compare-champion", "--config", str(config), "--candidate", models.good_run)

    assert result.code == 0, result.err
    out = github_job.outputs()
    assert out["is-better"] == "true" and out["first-model"] == "true"
    assert out["decision-reason"].startswith("first model (no champion yet) meets the floors")
    challenger = json.loads(out["challenger-metrics"])
    assert challenger["roc_auc"] == pytest.approx(_reference_auc(models, models.good_uri), abs=1e-9)
    assert set(challenger) == {"roc_auc", "accuracy", "precision", "recall", "f1", "log_loss"}
    assert json.loads(out["champion-metrics"]) == {}
    report = Path(out["report-path"])
    assert report.read_text(encoding="utf-8") in github_job.summary.read_text(encoding="utf-8")
    assert "first model" in report.read_text(encoding="utf-8")
    tags = _tags(models, models.good_run)
    assert tags["mlops.comparison.is_better"] == "true"
    assert tags["mlops.comparison.candidate"] == models.good_uri == out["candidate-uri"]
    assert tags["mlops.comparison.champion_version"] == ""


def test_first_model_below_a_floor_is_not_better(
    mlops: Run, models: Trained, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path, models, unique_name("floor"), "primary_metric: roc_auc\n  min: {roc_auc: 0.99}"
    )
    result = mlops("compare-champion", "--config", str(config), "--candidate", models.good_uri)
    assert result.code == 1
    assert "roc_auc" in result.err and "≥ 0.99 does not hold" in result.err


def test_better_challenger_passes_with_bootstrap_slices_and_chart(
    mlops: Run, models: Trained, tmp_path: Path
) -> None:
    name = unique_name("better")
    champion = _champion(models, name, models.bad_uri)
    config = write_config(
        tmp_path,
        models,
        name,
        "primary_metric: roc_auc\n  min_improvement: 0.02\n  confidence: 0.95\n"
        "  bootstrap_resamples: 500\n  slices: [region]\n"
        "  guardrails: [{metric: log_loss, max_regression: 0.5}]",
    )
    result = mlops(
        "compare-champion", "--config", str(config), "--candidate", models.good_uri, "--json"
    )

    assert result.code == 0, result.err
    out = json.loads(result.out)
    assert out["is-better"] is True and out["champion-version"] == champion
    assert out["champion-metrics"]["roc_auc"] == pytest.approx(
        _reference_auc(models, models.bad_uri), abs=1e-9
    )
    assert out["challenger-metrics"]["roc_auc"] > out["champion-metrics"]["roc_auc"] + 0.02
    assert "95% bootstrap interval" in out["decision-reason"]
    report = Path(out["report-path"]).read_text(encoding="utf-8")
    assert "**Bootstrap** ✓" in report and "```mermaid" in report
    assert report.count("| region = ") == 4
    assert f"champion v{champion}" in report
    assert _tags(models, models.good_run)["mlops.comparison.champion_version"] == champion


def test_worse_challenger_fails_unless_only_reporting(
    mlops: Run, models: Trained, tmp_path: Path, github_job: GithubJob
) -> None:
    name = unique_name("worse")
    _champion(models, name, models.good_uri)
    config = write_config(tmp_path, models, name)

    failed = mlops("compare-champion", "--config", str(config), "--candidate", models.bad_run)
    assert failed.code == 1
    errors = [c for c in parse_commands(failed.out) if c[0] == "error"]
    assert errors and "challenger is not better than champion" in errors[0][2]
    assert github_job.outputs()["is-better"] == "false"
    assert _tags(models, models.bad_run)["mlops.comparison.is_better"] == "false"

    reported = mlops(
        "compare-champion",
        "--config",
        str(config),
        "--candidate",
        models.bad_run,
        "--no-fail-if-worse",
    )
    assert reported.code == 0
    warnings = [c for c in parse_commands(reported.out) if c[0] == "warning"]
    assert warnings and "--no-fail-if-worse" in warnings[0][2]


def test_the_champion_itself_does_not_clear_the_margin(
    mlops: Run, models: Trained, tmp_path: Path
) -> None:
    name = unique_name("same")
    _champion(models, name, models.good_uri)
    config = write_config(tmp_path, models, name)
    result = mlops("compare-champion", "--config", str(config), "--candidate", models.good_uri)
    assert result.code == 1
    assert "improvement +0, ≥ +0.002 required" in result.err


def _holdout_without(models: Trained, folder: Path, column: str) -> Path:
    import pandas as pd

    frame = pd.read_csv(models.data / "holdout.csv").drop(columns=[column])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"holdout_without_{column}.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no-target", "has no target column 'default'"),
        ("no-feature", "the holdout lacks feature(s) the challenger"),
        ("unknown-run", "candidate run 0123456789abcdef0123456789abcdef does not exist"),
        ("unknown-model", "candidate models:/m-0000 does not exist"),
        ("unknown-path", "does not exist (no MLmodel file there)"),
        # The flag is judged like the key in mlops.yaml: the message names both.
        (
            "regression-metric",
            "--primary-metric evaluate.primary_metric: 'rmse' is not a classification metric",
        ),
    ],
)
def test_bad_input_exits_2_with_one_actionable_line(
    mlops: Run, models: Trained, tmp_path: Path, case: str, message: str
) -> None:
    holdout = None
    candidate = models.good_uri
    extra: list[str] = []
    if case == "no-target":
        holdout = _holdout_without(models, tmp_path, "default")
    elif case == "no-feature":
        holdout = _holdout_without(models, tmp_path, "income")
    elif case == "unknown-run":
        candidate = "0123456789abcdef0123456789abcdef"
    elif case == "unknown-model":
        candidate = "models:/m-0000"
    elif case == "unknown-path":
        candidate = str(tmp_path / "nothing")
    else:
        extra = ["--primary-metric", "rmse"]
    config = write_config(tmp_path, models, unique_name("bad"), holdout=holdout)
    result = mlops("compare-champion", "--config", str(config), "--candidate", candidate, *extra)
    assert result.code == 2, result.err
    assert message in result.err
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("flag", "value", "key"),
    [
        ("--confidence", "1.5", "evaluate.confidence"),
        ("--confidence", "0", "evaluate.confidence"),
        ("--min-improvement", "-0.1", "evaluate.min_improvement"),
        ("--bootstrap-resamples", "10", "evaluate.bootstrap_resamples"),
    ],
)
def test_a_flag_out_of_its_key_range_exits_2_naming_flag_and_key(
    mlops: Run, models: Trained, tmp_path: Path, flag: str, value: str, key: str
) -> None:
    config = write_config(tmp_path, models, unique_name("range"))
    result = mlops(
        "compare-champion", "--config", str(config), "--candidate", models.good_uri, flag, value
    )
    assert result.code == 2, result.err
    assert flag in result.err and key in result.err
    assert "Traceback" not in result.err


def test_a_champion_that_fails_to_load_exits_3_and_blocks_registration(
    mlops: Run, models: Trained, tmp_path: Path
) -> None:
    name = unique_name("broken")
    registry = _registry(models)
    registry.client.create_registered_model(name)
    version = registry.client.create_model_version(name, source=str(tmp_path / "gone" / "model"))
    registry.promote(name, str(version.version))
    config = write_config(tmp_path, models, name)

    result = mlops("compare-champion", "--config", str(config), "--candidate", models.good_run)
    assert result.code == 3
    assert f"the champion of '{name}' (v{version.version}) failed to load" in result.err
    tags = _tags(models, models.good_run)
    assert tags["mlops.comparison.is_better"] == "false"
    assert "failed to load" in tags["mlops.comparison.reason"]

    refused = mlops("register", "--config", str(config), "--candidate", models.good_run)
    assert refused.code == 1
    assert [v.version for v in registry.versions(name)] == [version.version]


def _pull_request_env(
    monkeypatch: pytest.MonkeyPatch, gh: FakeGitHub, tmp_path: Path, number: int
) -> None:
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            {"number": number, "pull_request": {"number": number, "head": {"sha": HEAD_SHA}}}
        ),
        encoding="utf-8",
    )
    for key, value in {
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_TOKEN": "ghs_fake",
        "GITHUB_API_URL": gh.base_url,
        "GITHUB_SHA": "cd" * 20,
        "GITHUB_RUN_ID": "77",
        "GITHUB_SERVER_URL": "https://github.com",
    }.items():
        monkeypatch.setenv(key, value)


def test_pull_request_gets_one_sticky_comment_and_a_commit_status(
    mlops: Run,
    models: Trained,
    tmp_path: Path,
    github_job: GithubJob,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = unique_name("pr")
    _champion(models, name, models.bad_uri)
    config = write_config(tmp_path, models, name)
    with FakeGitHub(repos=[REPO], forbid_get_user=True) as gh:
        pr = gh.add_pull(REPO, "Retrain", head_sha=HEAD_SHA)
        human = gh.add_comment(
            REPO, pr.number, "<!-- mlops-actions:compare-champion -->\n> quoted", user="alice"
        )
        _pull_request_env(monkeypatch, gh, tmp_path, pr.number)
        argv = ("compare-champion", "--config", str(config), "--no-fail-if-worse")
        first = mlops(*argv, "--candidate", models.good_uri)
        second = mlops(*argv, "--candidate", models.bad_uri)

        assert first.code == 0 and second.code == 0, (first.err, second.err)
        comments = gh.comments(REPO, pr.number)
        ours = [c for c in comments if c.user == "github-actions[bot]"]
        assert len(ours) == 1 and len(comments) == 2
        assert ours[0].body.startswith("<!-- mlops-actions:compare-champion -->\n### ❌")
        assert "challenger is not better" in ours[0].body
        assert human.body.endswith("> quoted") and human.user == "alice"
        statuses = gh.statuses(REPO, HEAD_SHA)
        assert [(s.state, s.context) for s in statuses] == [
            ("success", "mlops/compare-champion"),
            ("failure", "mlops/compare-champion"),
        ]
        assert statuses[0].target_url == f"https://github.com/{REPO}/actions/runs/77"
        assert gh.find_requests("GET", r"^/user$") == []
    assert github_job.outputs()["comment-url"].endswith(f"#issuecomment-{ours[0].id}")


def test_a_token_without_permission_names_the_permission(
    mlops: Run,
    models: Trained,
    tmp_path: Path,
    github_job: GithubJob,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clear_verdict(models, models.good_run)
    config = write_config(tmp_path, models, unique_name("perm"))
    with FakeGitHub(repos=[REPO]) as gh:
        pr = gh.add_pull(REPO, "Retrain", head_sha=HEAD_SHA)
        gh.fail_always("POST", r"/issues/\d+/comments$", 403)
        _pull_request_env(monkeypatch, gh, tmp_path, pr.number)
        result = mlops("compare-champion", "--config", str(config), "--candidate", models.good_uri)
    assert result.code == 2
    errors = [c for c in parse_commands(result.out) if c[0] == "error"]
    assert errors and "permissions: pull-requests: write" in errors[0][2]
    assert "403 Resource not accessible by integration" in errors[0][2]


def test_regression_models_are_scored_with_regression_metrics(
    mlops: Run, models: Trained, tmp_path: Path
) -> None:
    import mlflow
    import numpy as np
    import pandas as pd
    import sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import mean_squared_error

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x1": rng.normal(size=400), "x2": rng.normal(size=400)})
    frame["price"] = 3.0 * frame["x1"] - 2.0 * frame["x2"] + rng.normal(0, 0.5, 400)
    holdout = tmp_path / "prices.csv"
    frame.iloc[300:].to_csv(holdout, index=False)
    model = LinearRegression().fit(frame[["x1", "x2"]].iloc[:300], frame["price"].iloc[:300])
    mlflow.set_tracking_uri(models.tracking_uri)
    try:
        with mlflow.start_run(experiment_id=models.experiment_id) as run:
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=infer_signature(frame[["x1", "x2"]], frame["price"]),
                pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
            )
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    config = tmp_path / "mlops.yaml"
    config.write_text(
        f"model: {{name: {unique_name('price')}, task: regression}}\n"
        f"tracking_uri: {models.tracking_uri}\n"
        f"data: {{holdout: {holdout}, target: price}}\n"
        "evaluate: {primary_metric: rmse, min: {rmse: 0.8, r2: 0.9}}\n",
        encoding="utf-8",
    )
    result = mlops(
        "compare-champion", "--config", str(config), "--candidate", run.info.run_id, "--json"
    )
    assert result.code == 0, result.err
    metrics = json.loads(result.out)["challenger-metrics"]
    assert set(metrics) == {"rmse", "mae", "r2"}
    test = frame.iloc[300:]
    reference = mean_squared_error(test["price"], model.predict(test[["x1", "x2"]])) ** 0.5
    assert metrics["rmse"] == pytest.approx(reference, rel=1e-9)
    assert info.model_uri == json.loads(result.out)["candidate-uri"]

    wrong = mlops(
        "compare-champion",
        "--config",
        str(config),
        "--candidate",
        run.info.run_id,
        "--primary-metric",
        "roc_auc",
    )
    assert wrong.code == 2
    assert "--primary-metric evaluate.primary_metric: 'roc_auc' is not a regression metric" in (
        wrong.err
    )


class _LabelsOnly:
    """A custom pyfunc classifier that gives labels but no probabilities."""

    @staticmethod
    def make() -> Any:
        import mlflow.pyfunc

        class LabelsOnly(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
            def predict(self, model_input: pd.DataFrame, params: Any = None) -> list[int]:
                return (model_input["late_payments_12m"] > 0).astype(int).tolist()  # type: ignore[no-any-return]

        return LabelsOnly()


def test_a_model_without_probabilities_fails_closed_on_auc(
    mlops: Run, models: Trained, tmp_path: Path
) -> None:
    import mlflow

    mlflow.set_tracking_uri(models.tracking_uri)
    try:
        with mlflow.start_run(experiment_id=models.experiment_id) as run:
            mlflow.pyfunc.log_model(
                name="model", python_model=_LabelsOnly.make(), pip_requirements=["mlflow"]
            )
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    name = unique_name("labels")
    config = write_config(tmp_path, models, name, "primary_metric: roc_auc")
    result = mlops("compare-champion", "--config", str(config), "--candidate", run.info.run_id)
    assert result.code == 0  # first model, no floors: AUC is not needed yet
    _champion(models, name, models.bad_uri)
    result = mlops("compare-champion", "--config", str(config), "--candidate", run.info.run_id)
    assert result.code == 1
    assert "roc_auc is undefined (NaN) for the challenger" in result.err
    by_accuracy = mlops(
        "compare-champion",
        "--config",
        str(config),
        "--candidate",
        run.info.run_id,
        "--primary-metric",
        "accuracy",
        "--min-improvement",
        "0",
        "--json",
    )
    out = json.loads(by_accuracy.out)
    assert out["challenger-metrics"]["log_loss"] is None
    assert out["challenger-metrics"]["accuracy"] > 0.5


def test_a_holdout_column_with_no_values_is_named_in_the_verdict(
    mlops: Run, models: Trained, tmp_path: Path
) -> None:
    holdout = pd.read_csv(models.data / "holdout.csv")
    holdout["income"] = float("nan")
    holdout.to_csv(tmp_path / "holdout.csv", index=False)
    config = write_config(tmp_path, models, unique_name("empty"), holdout=tmp_path / "holdout.csv")
    result = mlops("compare-champion", "--config", str(config), "--candidate", models.good_uri)
    assert result.code == 1, result.err
    [line] = [x for x in result.err.splitlines() if "error:" in x]
    assert "the holdout column 'income' is empty (every value missing)" in line
    assert "could not score the holdout (ValueError: Input X contains NaN" in line
    # a long library message is cut at a word, and says it was cut
    assert re.search(r"[a-z.] …\)", line), line
