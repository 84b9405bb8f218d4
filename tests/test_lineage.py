"""Lineage: the tags a run records (real git), and reading a chain back (real MLflow sqlite)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops_actions import lineage
from mlops_actions.errors import InputError


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "train.py").write_text("print(1)\n")
    _git(repo, "init", "-q", "-b", "feature/x")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "one")
    return repo


def _tags(code_dir: Path, env: dict[str, str], **kw: Any) -> dict[str, str]:
    args: dict[str, Any] = {
        "data": None,
        "params": {"C": 0.5, "balanced": True, "max-iter": 100},
        "lock": None,
        "backend": "local",
        "command": "python train.py",
    }
    args.update(kw)
    return lineage.collect_tags(code_dir=code_dir, env=env, **args)


# ---------------------------------------------------------------- collecting


def test_git_state_and_dirty_flag(checkout: Path) -> None:
    tags = _tags(checkout, {})
    assert tags["mlops.git.commit"] == _git(checkout, "rev-parse", "HEAD")
    assert tags["mlops.git.branch"] == "feature/x"
    assert tags["mlops.git.dirty"] == "false"
    (checkout / "notes.txt").write_text("untracked files do not count\n")
    assert _tags(checkout, {})["mlops.git.dirty"] == "false"
    (checkout / "train.py").write_text("print(2)\n")
    assert _tags(checkout, {})["mlops.git.dirty"] == "true"
    assert json.loads(_tags(checkout, {})["mlops.params"]) == {
        "C": "0.5",
        "balanced": "true",
        "max-iter": "100",
    }


def test_detached_checkout_on_github_takes_the_branch_and_run_from_the_environment(
    checkout: Path,
) -> None:
    _git(checkout, "checkout", "-q", "--detach")
    env = {
        "GITHUB_HEAD_REF": "dependabot/pip/mlflow",
        "GITHUB_REF_NAME": "7/merge",
        "GITHUB_SERVER_URL": "https://github.example.com/",
        "GITHUB_REPOSITORY": "acme/credit",
        "GITHUB_RUN_ID": "99",
        "GITHUB_RUN_ATTEMPT": "2",
    }
    tags = _tags(checkout, env)
    assert tags["mlops.git.branch"] == "dependabot/pip/mlflow"
    assert tags["mlops.workflow.run_url"] == (
        "https://github.example.com/acme/credit/actions/runs/99/attempts/2"
    )


def test_outside_git_and_github_nothing_is_invented(tmp_path: Path) -> None:
    tags = _tags(tmp_path, {})
    assert not any(k.startswith(("mlops.git.", "mlops.workflow.")) for k in tags)
    assert tags["mlops.backend"] == "local" and tags["mlops.command"] == "python train.py"


def test_lock_hash_of_a_file_or_of_the_installed_packages(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text("mlflow==3.17.2 \\\n    --hash=sha256:00\n")
    tags = _tags(tmp_path, {}, lock=lock)
    assert tags["mlops.lock.hash"] == f"sha256:{hashlib.sha256(lock.read_bytes()).hexdigest()}"
    assert tags["mlops.lock.file"] == "requirements.txt"
    installed = _tags(tmp_path, {})
    assert installed["mlops.lock.file"] == "installed-distributions"
    assert installed["mlops.lock.hash"] != tags["mlops.lock.hash"]
    with pytest.raises(InputError, match="cannot be read"):
        _tags(tmp_path, {}, lock=tmp_path / "missing.txt")


def test_data_record_names_the_data_version(tmp_path: Path) -> None:
    from mlops_actions.data import data_version

    data = tmp_path / "data" / "train.csv"
    data.parent.mkdir()
    data.write_text("x,y\n1,0\n")
    record = lineage.data_record(data, rev=None, base=tmp_path)
    assert record == lineage.DataRecord(
        "data/train.csv", data_version(data).text, hashlib.sha256(data.read_bytes()).hexdigest()
    )
    assert lineage.data_record(None, rev=None, base=tmp_path) is None


# ---------------------------------------------------------------- reading back


@dataclass
class Registry:
    uri: str
    run_id: str
    other_run: str
    model_id: str


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A store with one run (lineage tags, metrics, a logged model) registered twice."""
    import mlflow

    uri = f"sqlite:///{tmp_path_factory.mktemp('lineage') / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("credit")
    tags = {
        "mlops.git.commit": "0123456789abcdef0123",
        "mlops.git.branch": "main|<b>@team</b>",
        "mlops.git.dirty": "false",
        "mlops.data.version": "dvc:v2:5f1e",
        "mlops.data.path": "data/train.csv",
        "mlops.params": json.dumps({"C": "0.5", "max-iter": "100"}),
        "mlops.python": "3.11.7",
        "mlops.packages": json.dumps({"mlflow": "3.17.2"}),
        "mlops.lock.hash": "sha256:" + "ab" * 32,
        "mlops.lock.file": "dev.txt",
    }
    run = client.create_run(experiment, tags=tags, run_name="nightly")
    client.log_metric(run.info.run_id, "val_roc_auc", 0.8123)
    client.set_terminated(run.info.run_id)
    model = client.create_logged_model(experiment, name="model", source_run_id=run.info.run_id)
    other = client.create_run(experiment)
    mlflow.set_tracking_uri(uri)  # registering models:/m-… resolves through the default client
    try:
        client.create_registered_model("credit-default")
        for _ in range(2):
            client.create_model_version("credit-default", model.model_uri, run_id=run.info.run_id)
        client.set_registered_model_alias("credit-default", "champion", "1")
        client.set_registered_model_alias("credit-default", "challenger", "2")
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    return Registry(uri, run.info.run_id, other.info.run_id, model.model_id)


@pytest.mark.parametrize(
    "ref",
    [
        "{run}",
        "{model}",
        "models:/{model}",
        "credit-default/2",
        "credit-default@champion",
        "models:/credit-default@challenger",
        "models:/credit-default/1",
        "1",
        "@champion",
    ],
)
def test_references_lead_to_the_run(registry: Registry, ref: str) -> None:
    text = ref.format(run=registry.run_id, model=registry.model_id)
    chain = lineage.lineage_of(registry.uri, text, default_model="credit-default")
    assert chain.run_id == registry.run_id
    assert chain.versions == [
        lineage.RegisteredVersion("credit-default", "1", ("champion",)),
        lineage.RegisteredVersion("credit-default", "2", ("challenger",)),
    ]
    assert chain.model_uris == [f"models:/{registry.model_id}"]
    assert chain.metrics == {"val_roc_auc": 0.8123}
    assert chain.recorded_params == {"C": "0.5", "max-iter": "100"}


@pytest.mark.parametrize(
    ("ref", "text"),
    [
        ("f" * 32, "was not found"),
        ("credit-default/9", "was not found"),
        ("credit-default@nobody", "was not found"),
        ("a/b", "neither a run id nor a model version"),
    ],
)
def test_unknown_references_are_input_errors(registry: Registry, ref: str, text: str) -> None:
    with pytest.raises(InputError, match=text):
        lineage.lineage_of(registry.uri, ref, default_model="credit-default")


def test_a_run_without_lineage_or_models_says_so(registry: Registry) -> None:
    chain = lineage.lineage_of(registry.uri, registry.other_run)
    text = lineage.render_markdown(chain)
    assert "| code | not recorded |" in text
    assert "| registered | not registered |" in text
    assert "| logged model | none |" in text


def test_rendered_chain_is_one_inert_screen(registry: Registry) -> None:
    chain = lineage.lineage_of(registry.uri, "credit-default@champion")
    text = lineage.render_markdown(chain)
    assert text.startswith("### Lineage of credit-default&#64;\u200bchampion (version 1)\n")
    assert "| code | 0123456789ab on main&#124;&lt;b&gt;&#64;\u200bteam&lt;/b&gt; |" in text
    assert "| data | dvc&#58;v2&#58;5f1e (data/train.csv) |" in text
    assert "| params | C=0.5, max-iter=100 |" in text
    assert "val&#95;roc&#95;auc=0.8123" in text
    assert (
        "credit-default v1 (&#64;\u200bchampion), credit-default v2 (&#64;\u200bchallenger)" in text
    )
    assert len(text.splitlines()) < 20


def test_cli_reads_any_store_with_tracking_uri(
    registry: Registry, mlops: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no mlops.yaml here
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = mlops("lineage", registry.run_id, "--tracking-uri", registry.uri, "--json")
    assert result.code == 0, result.err
    outputs = json.loads(result.out)
    assert outputs["run-id"] == registry.run_id
    assert outputs["data-version"] == "dvc:v2:5f1e"
    assert outputs["versions"][0] == {
        "name": "credit-default",
        "version": "1",
        "aliases": ["champion"],
    }
    missing = mlops("lineage", registry.run_id)
    assert missing.code == 2
    assert "no mlops.yaml here and no --tracking-uri" in missing.err
