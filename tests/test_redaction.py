"""Credentials never reach what a step prints, and local state is private (issue 13 items 6, 9).

Unit behaviour of `mlops_actions.redact` on a table of URIs, then the leak paths end to end: the
real sqlite store is the tracking store, and the secrets ride in on the values a step prints
(`MLFLOW_TRACKING_URI`/`tracking_uri` with `user:token@` and `?sig=…`, run tags, Azure inputs,
the Azure ML studio URL). Every secret must be absent from stdout, stderr, GITHUB_OUTPUT, the
step summary and the report files; the only place it may appear is an `::add-mask::` command,
which the runner consumes and never shows.
"""

from __future__ import annotations

import io
import os
import stat
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from mlops_actions.redact import mask, mask_uri, redact_text, redact_uri, uri_secrets

TOKEN = "tok3n-S3CRET-user"
SIG = "S1G-S3CRET-value"
LEAKY = f"https://alice:{TOKEN}@mlflow.example.test:5000/?sv=2024&sig={SIG}"


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("https://user:token@host/x", "https://host/x"),
        ("https://token@host", "https://host"),
        ("http://u:p%40ss@host:5000/a?b=1", "http://host:5000/a?b=1"),
        (
            "https://acct.blob.core.windows.net/c/f.csv?sv=2022-11-02&se=2030&sp=r&sig=AbC%2B%3D",
            "https://acct.blob.core.windows.net/c/f.csv?sv=2022-11-02&se=2030&sp=r&sig=***",
        ),
        ("https://h/p?token=t&x=1", "https://h/p?token=***&x=1"),
        ("https://h/p?KEY=k", "https://h/p?KEY=***"),
        ("https://h/p?code=c;lang=en", "https://h/p?code=***;lang=en"),
        ("https://h/cb#access_token=a&state=s", "https://h/cb#access_token=***&state=s"),
        ("https://h/p?client_secret=c&api-key=k", "https://h/p?client_secret=***&api-key=***"),
        ("https://s3.test/o?X-Amz-Signature=ab&X-Amz-Credential=cd", None),
        (
            "https://mlflow.test/#/experiments/1/runs/abc",
            "https://mlflow.test/#/experiments/1/runs/abc",
        ),
        ("https://ml.azure.com/runs/j?wsid=/subscriptions/1/x&tid=2", None),
        ("sqlite:////tmp/x/.mlops/mlflow.db", None),
        ("azureml://jobs/j/outputs/artifacts/paths/model", None),
        ("models:/m-0123", None),
        ("databricks", None),
        ("", None),
        ("https://h/p?sig=", None),
    ],
)
def test_redact_uri(uri: str, shown: str | None) -> None:
    expected = uri if shown is None else shown
    if "X-Amz" in uri:
        expected = "https://s3.test/o?X-Amz-Signature=***&X-Amz-Credential=***"
    assert redact_uri(uri) == expected
    assert redact_uri(expected) == expected  # idempotent


def test_redact_text_finds_uris_and_authorization_values_in_free_text() -> None:
    text = (
        f"MLflow at {LEAKY} failed: 401 (Authorization: Bearer {TOKEN}); "
        f"blob 'https://a.blob.core.windows.net/c/f?sig={SIG}', "
        f"DefaultEndpointsProtocol=https;AccountName=a;AccountKey={SIG};EndpointSuffix=x "
        "Basic statistics of the holdout; sort key by region"
    )
    out = redact_text(text)
    assert TOKEN not in out and SIG not in out and "alice" not in out
    assert "https://mlflow.example.test:5000/?sv=2024&sig=***" in out
    assert "AccountKey=***;EndpointSuffix=x" in out
    assert "Basic statistics of the holdout; sort key by region" in out  # prose stays prose
    assert redact_text(out) == out


def test_uri_secrets_lists_what_redaction_hides() -> None:
    assert set(uri_secrets(f"at {LEAKY} and https://h/?token=a%2Fb")) >= {TOKEN, SIG, "a/b"}
    assert uri_secrets("sqlite:////tmp/mlflow.db and https://h/x?y=1") == []


def test_mask_only_on_a_runner_once_and_on_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    mask("a-value-off-github", stream)
    assert stream.getvalue() == ""  # locally, printing it to ask for a mask would leak it
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    mask_uri(f"x {LEAKY}", stream)
    mask(TOKEN, stream)
    assert stream.getvalue().splitlines() == [f"::add-mask::{TOKEN}", f"::add-mask::{SIG}"]


# ---------------------------------------------------------------- end to end


def _assert_nowhere(secrets: tuple[str, ...], *texts: str) -> None:
    for text in texts:
        shown = "\n".join(line for line in text.splitlines() if not line.startswith("::add-mask::"))
        for secret in secrets:
            assert secret not in shown, f"{secret!r} leaked into:\n{shown[:3000]}"


def _everything(run: Any, job: Any, *dirs: Path) -> list[str]:
    texts = [run.out, run.err, job.output.read_text(), job.summary.read_text()]
    for folder in dirs:
        texts += [p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file()]
    return texts


def _config(root: Path, tracking: str | None, extra: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.py").write_text("print('train')\n", encoding="utf-8")
    (root / "data.csv").write_text("x,y\n1,0\n2,1\n", encoding="utf-8")
    config = root / "mlops.yaml"
    line = f"tracking_uri: '{tracking}'\n" if tracking else ""
    config.write_text(
        "model:\n  name: credit\ndata:\n  train: data.csv\n  target: y\n"
        "train:\n  command: python train.py\n"
        f"{extra}evaluate:\n  primary_metric: roc_auc\n{line}",
        encoding="utf-8",
    )
    return config


def test_config_check_never_prints_the_tracking_credentials(
    tmp_path: Path, mlops: Any, github_job: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_config import write_runnable

    config = write_runnable(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", LEAKY)
    run = mlops("config", "check", "--config", str(config), "--no-data", "--json")
    assert run.code == 0, run.err
    assert '"tracking-uri": "https://mlflow.example.test:5000/?sv=2024&sig=***"' in run.out
    _assert_nowhere((TOKEN, SIG), *_everything(run, github_job, tmp_path / ".mlops"))


def test_train_dry_run_never_prints_the_tracking_credentials(
    tmp_path: Path, mlops: Any, github_job: Any
) -> None:
    config = _config(tmp_path, LEAKY)
    run = mlops("train", "--config", str(config), "--dry-run")
    assert run.code == 0, run.err
    assert "MLFLOW_TRACKING_URI: https://mlflow.example.test:5000/?sv=2024&sig=***" in run.out
    _assert_nowhere((TOKEN, SIG), *_everything(run, github_job))


def test_lineage_report_never_prints_credentials_from_tags(
    tmp_path: Path, mlops: Any, github_job: Any
) -> None:
    import mlflow

    store = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    client = mlflow.MlflowClient(store)
    experiment = client.create_experiment("credit")
    run = client.create_run(
        experiment,
        tags={
            "mlops.workflow.run_url": LEAKY,
            "mlops.data.path": f"https://a.blob.core.windows.net/d/train.csv?sp=r&sig={SIG}",
            "mlops.command": f"python train.py --source https://bob:{TOKEN}@db.test/x",
            "mlops.params": f'{{"url": "https://h/?token={TOKEN}"}}',
        },
    )
    client.set_terminated(run.info.run_id)
    reports = tmp_path / "reports"
    out = mlops("lineage", run.info.run_id, "--tracking-uri", store, "--report-dir", str(reports))
    assert out.code == 0, out.err
    summary = github_job.summary.read_text()
    assert "mlflow.example.test" in summary and "sig=&#42;&#42;&#42;" in summary  # shown, redacted
    _assert_nowhere((TOKEN, SIG), *_everything(out, github_job, reports))


def test_azure_job_url_and_inputs_are_redacted_end_to_end(
    tmp_path: Path, mlops: Any, github_job: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("azure.ai.ml")
    from azure.ai.ml.operations._run_history_constants import RunHistoryConstants

    from mlops_actions.backends import factory
    from mlops_actions.backends.azureml_compute import PollPolicy
    from tests.fakes.azureml_rest import FakeAzureML, make_ml_client

    monkeypatch.setattr(RunHistoryConstants, "_WAIT_COMPLETION_POLLING_INTERVAL_MIN", 0)
    fake = FakeAzureML()
    fake.add_compute("cpu-cluster")
    fake.add_environment("sklearn-env", "1")
    job_rest = fake._job_rest

    def studio_with_a_token(job: Any) -> dict[str, Any]:
        rest = job_rest(job)
        studio = rest["properties"]["services"]["Studio"]
        studio["endpoint"] = studio["endpoint"].replace("https://", f"https://x:{TOKEN}@")
        studio["endpoint"] += f"&sig={SIG}"
        return rest

    monkeypatch.setattr(fake, "_job_rest", studio_with_a_token)
    make = factory.open_compute
    monkeypatch.setattr(
        factory,
        "open_compute",
        partial(
            make,
            ml_client=make_ml_client(fake),
            poll=PollPolicy(initial=0.5, factor=2.0, maximum=4.0),
            sleep=lambda _: None,
        ),
    )
    store = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    azure = (
        "  backend: azureml\n  azureml:\n"
        "    workspace:\n      subscription_id: 00000000-0000-0000-0000-000000000001\n"
        "      resource_group: rg-mlops\n      workspace: ws-mlops\n"
        "    compute: cpu-cluster\n    environment: sklearn-env:1\n"
        f"    inputs:\n      holdout: https://acct.blob.core.windows.net/d/h.csv?sp=r&sig={SIG}\n"
    )
    config = _config(tmp_path / "project", store, extra="")
    text = config.read_text().replace(
        "  command: python train.py\n",
        azure.replace("  azureml:", "  command: python train.py\n  azureml:"),
    )
    config.write_text(text, encoding="utf-8")

    dry = mlops("train", "--config", str(config), "--dry-run")
    assert dry.code == 0, dry.err
    assert "sig=***" in dry.out
    _assert_nowhere((TOKEN, SIG), dry.out, dry.err)

    reports = tmp_path / "reports"
    run = mlops(
        "train", "--config", str(config), "--job-name", "leaky", "--report-dir", str(reports)
    )
    job_url = github_job.outputs().get("job-url", "")
    assert job_url.startswith("https://ml.azure.com/runs/leaky?wsid="), (run.err, job_url)
    assert "&sig=***&" in job_url
    _assert_nowhere((TOKEN, SIG), *_everything(run, github_job, reports))


def test_the_comparison_report_gets_a_tracking_uri_without_credentials() -> None:
    """ModelRegistry hands out only the shown form: what compare-champion puts in its report,
    job summary and PR comment (the MLflow run link) has no credentials."""
    from mlops_actions.registry import ModelRegistry

    registry = ModelRegistry(LEAKY, f"https://bob:{TOKEN}@registry.test/?code={SIG}")
    assert registry.tracking_uri == "https://mlflow.example.test:5000/?sv=2024&sig=***"
    assert registry.registry_uri == "https://registry.test/?code=***"
    assert registry.client._tracking_client.tracking_uri == LEAKY  # it still connects with them
    error = registry._backend("read", RuntimeError(f"cannot reach {LEAKY}"))
    _assert_nowhere((TOKEN, SIG), error.message)


# ---------------------------------------------------------------- the run_url link rule


@pytest.mark.parametrize(
    ("url", "server", "linked"),
    [
        ("https://github.com/o/r/actions/runs/1", "https://github.com", True),
        ("https://GitHub.com/o/r/actions/runs/1/attempts/2", "https://github.com", True),
        ("https://ghe.corp.test/o/r/actions/runs/1", "https://ghe.corp.test", True),
        ("https://github.com/o/r/actions/runs/1", "https://ghe.corp.test", False),
        ("https://github.com.evil.test/o/r", "https://github.com", False),
        ("https://evil.test/github.com/o/r", "https://github.com", False),
        ("https://user:pw@github.com/o/r", "https://github.com", False),
        ("https://github.com@evil.test/o/r", "https://github.com", False),
        ("http://github.com/o/r", "https://github.com", False),
        ("https://github.com:8443/o/r", "https://github.com", False),
        ("javascript:alert(1)//github.com", "https://github.com", False),
        ("https://github.com/o/r x", "https://github.com", False),
        ("", "https://github.com", False),
    ],
)
def test_only_links_to_the_github_server_of_the_run_are_links(
    url: str, server: str, linked: bool
) -> None:
    from mlops_actions.github.pr_comment import server_link

    assert (server_link(url, server) == url) is linked


def test_the_run_server_comes_from_github_server_url() -> None:
    from mlops_actions.github.pr_comment import github_env

    env = github_env({"GITHUB_SERVER_URL": "https://ghe.corp.test"})
    assert env.server_link("https://ghe.corp.test/o/r/actions/runs/9")
    assert env.server_link("https://github.com/o/r/actions/runs/9") is None
    assert github_env({}).server_link("https://github.com/o/r/actions/runs/9")


def test_a_run_url_tag_off_the_github_server_is_text_in_the_comparison_report() -> None:
    from mlops_actions.reports.comparison import render_comparison
    from tests.test_compare_report import _comparison

    comparison = _comparison()
    comparison.challenger.tags["mlops.workflow.run_url"] = "https://evil.test/phish"  # type: ignore[index]
    text = render_comparison(comparison, repo_url="https://github.com/o/r")
    assert "](https://evil.test" not in text
    assert "evil.test" in text  # shown, as escaped text


# ---------------------------------------------------------------- local state is private


def test_the_local_sqlite_store_is_0600_in_a_0700_state_dir(tmp_path: Path) -> None:
    from mlops_actions.config import load_settings
    from mlops_actions.registry import ModelRegistry

    settings = load_settings(_config(tmp_path, None))
    (tmp_path / ".mlops" / "reports").mkdir(parents=True)  # an earlier step made it 0755
    os.chmod(tmp_path / ".mlops", 0o755)  # noqa: S103 - the umask default we must tighten
    registry = ModelRegistry.from_settings(settings)
    registry.client.search_registered_models()  # MLflow creates its schema in our file
    database = tmp_path / ".mlops" / "mlflow.db"
    assert database.stat().st_size > 0
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / ".mlops").stat().st_mode) == 0o700


def test_a_new_sqlite_store_elsewhere_is_0600_and_an_existing_one_is_left_alone(
    tmp_path: Path,
) -> None:
    from mlops_actions.config import secure_sqlite_store

    fresh = tmp_path / "new" / "store.db"
    secure_sqlite_store(f"sqlite:///{fresh}")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    assert stat.S_IMODE(fresh.parent.stat().st_mode) == 0o700
    shared = tmp_path / "shared.db"
    shared.touch(mode=0o640)
    os.chmod(shared, 0o640)
    secure_sqlite_store(f"sqlite:///{shared}")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o640  # the user chose that one
    secure_sqlite_store("https://mlflow.test")  # not a file: nothing to do
