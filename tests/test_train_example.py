"""`mlops train` on the example consumer repository: the real training script, on "GitHub".

One module-scoped training run (the expensive part) is shared by the tests: outputs, lineage
tags, `mlops lineage`, and `--reproduce` (which must match: the example trains deterministically).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLE, REPO, python_env
from tests.github_files import parse_output_file

pytestmark = pytest.mark.slow


@dataclass
class Trained:
    repo: Path
    config: Path
    store: str
    code: int
    out: str
    err: str
    outputs: dict[str, str]
    summary: str
    commit: str


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def _main(*argv: str) -> tuple[int, str, str]:
    from mlops_actions.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """The example repository, committed to git, trained once by `mlops train` on "GitHub"."""
    repo = tmp_path_factory.mktemp("credit-default")
    shutil.copy(EXAMPLE / "train.py", repo / "train.py")
    subprocess.run(
        [
            sys.executable,
            str(EXAMPLE / "generate_data.py"),
            "--out",
            str(repo / "data"),
            "--rows",
            "2000",
        ],
        check=True,
        capture_output=True,
        env=python_env(),
    )
    store = f"sqlite:///{repo / '.mlops' / 'mlflow.db'}"
    config = repo / "mlops.yaml"
    config.write_text(
        (EXAMPLE / "mlops.yaml").read_text(encoding="utf-8") + f"\ntracking_uri: {store}\n",
        encoding="utf-8",
    )
    (repo / ".gitignore").write_text(".mlops/\n", encoding="utf-8")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "example")
    output, summary = repo / ".github_output", repo / ".step_summary"
    output.touch()
    summary.touch()
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {
            "GITHUB_ACTIONS": "true",
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_REPOSITORY": "acme/credit",
            "GITHUB_RUN_ID": "4242",
        }.items():
            mp.setenv(key, value)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        code, out, err = _main("train", "--config", str(config))
    return Trained(
        repo,
        config,
        store,
        code,
        out,
        err,
        parse_output_file(output.read_text(encoding="utf-8")),
        summary.read_text(encoding="utf-8"),
        _git(repo, "rev-parse", "HEAD"),
    )


def _client(store: str) -> Any:
    import mlflow

    return mlflow.MlflowClient(tracking_uri=store)


def test_training_outputs_the_logged_model(trained: Trained) -> None:
    assert trained.code == 0, trained.err + trained.out
    out = trained.outputs
    client = _client(trained.store)
    run = client.get_run(out["run-id"])
    assert run.info.status == "FINISHED"
    [logged] = client.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{out['run-id']}'",
    )
    assert out["model-uri"] == logged.model_uri and logged.name == "model"
    metrics = json.loads(out["metrics"])
    assert metrics == pytest.approx(run.data.metrics) and metrics["val_roc_auc"] > 0.6
    assert out["job-name"] == run.info.run_name and out["job-url"] == ""
    # the script's own log, collapsed in a group
    group = trained.err.split("::group::train (local): python train.py\n", 1)[1]
    assert f"logged {logged.model_uri}" in group.split("::endgroup::")[0]
    assert "Trained credit-default (local)" in trained.summary
    # artifacts live beside the sqlite store, not in the folder the test ran from
    assert run.info.artifact_uri.startswith((trained.repo / ".mlops" / "mlruns").as_uri())


def test_run_records_its_lineage(trained: Trained) -> None:
    from mlops_actions.data import data_version

    tags = _client(trained.store).get_run(trained.outputs["run-id"]).data.tags
    assert tags["mlops.git.commit"] == trained.commit
    assert tags["mlops.git.branch"] == "main"
    assert tags["mlops.git.dirty"] == "false"
    assert tags["mlops.workflow.run_url"] == "https://github.com/acme/credit/actions/runs/4242"
    train_csv = trained.repo / "data" / "train.csv"
    version = data_version(train_csv)
    assert tags["mlops.data.version"] == version.text
    assert tags["mlops.data.hash"] == hashlib.sha256(train_csv.read_bytes()).hexdigest()
    assert tags["mlops.data.path"] == "data/train.csv"
    lock = REPO / "requirements" / "dev.txt"
    assert tags["mlops.lock.hash"] == f"sha256:{hashlib.sha256(lock.read_bytes()).hexdigest()}"
    assert tags["mlops.python"] == ".".join(map(str, sys.version_info[:3]))
    import mlflow
    import sklearn

    packages = json.loads(tags["mlops.packages"])
    assert packages["mlflow"] == mlflow.__version__
    assert packages["scikit-learn"] == sklearn.__version__
    assert json.loads(tags["mlops.params"]) == {"C": "1.0", "max-iter": "500"}


def test_lineage_shows_the_chain_and_the_aliases(trained: Trained, mlops: Any) -> None:
    import mlflow

    run_id, model_uri = trained.outputs["run-id"], trained.outputs["model-uri"]
    client = _client(trained.store)
    # registering resolves models:/m-… through the process-wide tracking URI
    mlflow.set_tracking_uri(trained.store)
    try:
        if not client.search_registered_models("name = 'credit-default'"):
            client.create_registered_model("credit-default")
        version = client.create_model_version("credit-default", model_uri, run_id=run_id)
        client.set_registered_model_alias("credit-default", "champion", version.version)
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]

    shown = mlops("lineage", run_id, "--config", str(trained.config))
    assert shown.code == 0, shown.err
    # The zero-width spaces that keep GitHub from turning @champion into a mention are invisible.
    text = " ".join(shown.out.replace("\u200b", "").split())
    for expected in (
        trained.commit[:12],
        "on main",
        "sha256:",
        "data/train.csv",
        "C=1.0, max-iter=500",
        "val_roc_auc=",
        model_uri,
        f"credit-default v{version.version} (@champion)",
        "https://github.com/acme/credit/actions/runs/4242",
    ):
        assert expected in text
    assert len(shown.out.splitlines()) < 40  # one screen

    by_alias = mlops("lineage", "@champion", "--config", str(trained.config), "--json")
    assert by_alias.code == 0, by_alias.err
    chain = json.loads(by_alias.out)
    assert chain["run-id"] == run_id and chain["model-uri"] == model_uri
    assert {"name": "credit-default", "version": str(version.version), "aliases": ["champion"]} in (
        chain["versions"]
    )
    assert chain["git-commit"] == trained.commit
    by_version = mlops(
        "lineage", f"credit-default/{version.version}", "--config", str(trained.config), "--json"
    )
    assert json.loads(by_version.out)["run-id"] == run_id


def test_reproduction_matches(trained: Trained, mlops: Any) -> None:
    run_id = trained.outputs["run-id"]
    result = mlops("train", "--config", str(trained.config), "--reproduce", run_id, "--json")
    assert result.code == 0, result.err
    outputs = json.loads(result.out)
    assert outputs["reproduced"] is True
    assert outputs["metrics"] == json.loads(trained.outputs["metrics"])
    assert outputs["run-id"] != run_id
    tags = _client(trained.store).get_run(outputs["run-id"]).data.tags
    assert tags["mlops.reproduces"] == run_id


def test_reproduction_refuses_other_code_or_data(trained: Trained, mlops: Any) -> None:
    run_id = trained.outputs["run-id"]
    args = ("train", "--config", str(trained.config), "--reproduce", run_id)
    train_csv = trained.repo / "data" / "train.csv"
    original = train_csv.read_bytes()
    try:
        train_csv.write_bytes(original + original.splitlines(keepends=True)[-1])
        changed_data = mlops(*args)
        assert changed_data.code == 2
        assert f"cannot reproduce run {run_id}:" in changed_data.err
        assert "data: the run used sha256:" in changed_data.err
        assert "uncommitted changes" in changed_data.err
        assert changed_data.err.count("\n") == 1
    finally:
        train_csv.write_bytes(original)
    (trained.repo / "NOTES.md").write_text("a later commit\n", encoding="utf-8")
    _git(trained.repo, "add", "NOTES.md")
    _git(trained.repo, "commit", "-qm", "later")
    try:
        later = mlops(*args)
        assert later.code == 2
        assert f"commit: the run used {trained.commit[:12]}" in later.err
        assert f"git checkout {trained.commit[:12]}" in later.err
    finally:
        _git(trained.repo, "reset", "-q", "--hard", trained.commit)
