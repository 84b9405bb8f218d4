"""`mlops canary-deploy` on the local endpoint: every strategy, and the failure matrix.

Every failure must end with live traffic 100 % on the champion deployment (read back from the
endpoint), no mirror, the failed deployment removed, the registry's champion unchanged, and exit 1
(2 for a bad config). The models are `tests/fault_model.py` versions with injected faults.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlops_actions.backends.endpoint import MirrorTraffic, TrafficSplit, deployment_name
from mlops_actions.backends.local_endpoint import LocalEndpoint
from tests.conftest import python_env
from tests.fault_model import Store, golden_cases, session_store, write_project

pytestmark = pytest.mark.slow
MODEL = "canary-model"
# Smoke tests send about ten predictions: faults that start after 15 hit the rollout, not them.
AFTER_SMOKE = 15

DEPLOY = """  strategy: canary
  steps: [50, 100]
  step_duration_seconds: 1
  max_error_rate: 0.05
  max_p95_latency_ms: 2000
  min_requests: 5
  shadow_percent: 50
  shadow_duration_seconds: 1
  progress_deadline_seconds: 60
  rollback_grace_seconds: 0
  analysis:
    source: probe
    interval_seconds: 0.2
    max_metric_errors: 2
"""
SMOKE = "  cases: cases.jsonl\n  latency_budget_ms: 2000\n  parity_rows: 5\n"


@dataclass
class Project:
    folder: Path
    config: Path
    store: Store
    endpoint: LocalEndpoint

    def variant(self, name: str, **changes: str) -> Path:
        """Another config in the same folder (same endpoint) with some deploy keys changed."""
        lines = []
        for line in DEPLOY.splitlines():
            key = line.strip().split(":")[0]
            indent = line[: len(line) - len(line.lstrip())]
            lines.append(f"{indent}{key}: {changes.pop(key)}" if key in changes else line)
        extra = "".join(f"  {k}: {v}\n" for k, v in changes.items())
        return write_project(
            self.folder,
            self.store,
            MODEL,
            deploy="\n".join(lines) + "\n" + extra,
            smoke=SMOKE,
            filename=name,
        )

    def champion(self) -> tuple[str, str]:
        """(version, deployment) of the registry's champion."""
        import mlflow

        client = mlflow.MlflowClient(self.store.tracking_uri, self.store.tracking_uri)
        version = str(client.get_model_version_by_alias(MODEL, "champion").version)
        return version, deployment_name(MODEL, version)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    store = session_store(tmp_path_factory.getbasetemp())
    folder = tmp_path_factory.mktemp("canary-project")
    (folder / "cases.jsonl").write_text(
        "".join(json.dumps(c) + "\n" for c in golden_cases(store)), encoding="utf-8"
    )
    config = write_project(folder, store, MODEL, deploy=DEPLOY, smoke=SMOKE)
    state_dir = folder / ".mlops" / "endpoint"
    endpoint = LocalEndpoint.up(state_dir, tracking_uri=store.tracking_uri, preload="")
    try:
        yield Project(folder, config, store, endpoint)
    finally:
        LocalEndpoint.down(state_dir)


def deploy(project: Project, mlops, *args: str, config: Path | None = None):
    run = mlops("canary-deploy", "--config", str(config or project.config), "--json", *args)
    outputs = json.loads(run.out) if run.out.strip() else {}
    return run, outputs


def assert_back_on_champion(project: Project, champion: tuple[str, str], failed: str) -> None:
    name = champion[1]
    assert project.endpoint.get_traffic() == TrafficSplit.only(name)
    assert project.endpoint.get_mirror() == MirrorTraffic()
    assert project.endpoint.get_deployment(failed) is None, "the failed deployment is still there"
    assert project.champion() == champion, "the registry changed"
    assert project.endpoint.get_deployment(name).ready  # type: ignore[union-attr]


def test_first_deployment_goes_direct_and_promotes(project: Project, mlops) -> None:
    version = project.store.version(MODEL)
    run, out = deploy(project, mlops, "--model-version", version, "--strategy", "direct")
    assert run.code == 0, run.err
    name = deployment_name(MODEL, version)
    assert out["outcome"] == "promoted" and out["final-traffic"] == {name: 100}
    assert out["endpoint-url"] == project.endpoint.url
    assert project.champion() == (version, name)
    assert project.endpoint.get_traffic() == TrafficSplit.only(name)
    again, out = deploy(project, mlops, "--model-version", version)
    assert again.code == 0 and "already serves all traffic" in out["reason"]


def test_canary_promotes_through_its_steps_despite_few_metric_errors(
    project: Project,
    mlops,
) -> None:
    old = project.champion()
    version = project.store.version(MODEL, offset=0.2)
    project.endpoint.inject_metric_failures(2)  # analysis.max_metric_errors is 2: tolerated
    run, out = deploy(project, mlops, "--model-version", version)
    assert run.code == 0, run.err
    name = deployment_name(MODEL, version)
    assert out["outcome"] == "promoted" and out["final-traffic"] == {name: 100}
    assert out["previous-deployment"] == old[1]
    assert project.champion() == (version, name)
    assert project.endpoint.get_deployment(old[1]) is None  # retired after the grace
    assert project.endpoint.get_traffic() == TrafficSplit.only(name)


def test_shadow_compares_before_live_traffic(project: Project, mlops, github_job) -> None:
    live = project.champion()
    version = project.store.version(MODEL, offset=0.1)
    config = project.variant("shadow.yaml", strategy="shadow")
    run = mlops("canary-deploy", "--config", str(config), "--model-version", version)
    assert run.code == 0, run.err
    summary = github_job.summary.read_text(encoding="utf-8")
    assert "Shadow vs live" in summary and live[1] in summary
    phases = summary.split("Shadow vs live")[0]
    assert phases.index("shadow") < phases.index("step 50")
    assert github_job.outputs()["outcome"] == "promoted"


def test_blue_green_switches_after_the_zero_percent_test(project: Project, mlops) -> None:
    version = project.store.version(MODEL, offset=0.3)
    run, out = deploy(project, mlops, "--model-version", version, "--strategy", "blue-green")
    assert run.code == 0, run.err
    assert out["final-traffic"] == {deployment_name(MODEL, version): 100}


# flags are CLI arguments, or deploy-config changes written "key=value"
@pytest.mark.parametrize(
    ("faults", "flags", "reason"),
    [
        pytest.param({"crash_at_start": True}, (), "never became healthy", id="crash-at-start"),
        pytest.param(
            {"hang_at_start": True},
            ("--ready-timeout", "3"),
            "never became healthy",
            id="health-probe-never-passes",
        ),
        pytest.param({"serving_skew": 3.0}, (), "smoke test", id="smoke-failure"),
        pytest.param(
            {"error_rate": 0.5, "faults_after_requests": AFTER_SMOKE},
            (),
            "error rate",
            id="error-rate-breach",
        ),
        pytest.param(
            {"latency_ms": 400, "faults_after_requests": AFTER_SMOKE},
            ("max_p95_latency_ms=150",),
            "p95 latency",
            id="latency-breach",
        ),
        pytest.param(
            {"crash_after_requests": AFTER_SMOKE}, (), "error rate", id="crash-mid-rollout"
        ),
    ],
)
def test_failures_roll_back_to_the_champion(
    project: Project,
    mlops,
    faults: dict[str, object],
    flags: tuple[str, ...],
    reason: str,
) -> None:
    champion = project.champion()
    version = project.store.version(MODEL, **faults)
    changes = dict(f.split("=", 1) for f in flags if "=" in f)
    flags = tuple(f for f in flags if "=" not in f)
    config = project.variant("failure.yaml", **changes) if changes else None
    started = time.monotonic()
    run, out = deploy(project, mlops, "--model-version", version, *flags, config=config)
    assert run.code == 1, run.err
    assert out["outcome"] == "rolled-back" and reason in out["reason"]
    assert out["final-traffic"] == {champion[1]: 100}
    assert_back_on_champion(project, champion, deployment_name(MODEL, version))
    assert time.monotonic() - started < 60


def test_no_traffic_is_a_failure_not_a_pass(project: Project, mlops) -> None:
    champion = project.champion()
    version = project.store.version(MODEL, offset=0.4)
    config = project.variant("no-traffic.yaml", source="endpoint")  # no probe, no users
    run, out = deploy(project, mlops, "--model-version", version, config=config)
    assert run.code == 1
    assert "fewer than min_requests" in out["reason"] and "no data" in out["reason"]
    assert_back_on_champion(project, champion, deployment_name(MODEL, version))


def test_metric_provider_errors_over_their_limit_fail(project: Project, mlops) -> None:
    champion = project.champion()
    version = project.store.version(MODEL, offset=0.4)
    project.endpoint.inject_metric_failures(1000)
    try:
        run, out = deploy(project, mlops, "--model-version", version)
    finally:
        project.endpoint.inject_metric_failures(0)
    assert run.code == 1
    assert "could not be read 3 times" in out["reason"]
    assert_back_on_champion(project, champion, deployment_name(MODEL, version))


def test_progress_deadline(project: Project, mlops) -> None:
    champion = project.champion()
    version = project.store.version(MODEL, offset=0.4)
    config = project.variant(
        "deadline.yaml", progress_deadline_seconds="2", step_duration_seconds="1.5"
    )
    run, out = deploy(project, mlops, "--model-version", version, config=config)
    assert run.code == 1
    assert "progress deadline of 2 s" in out["reason"]
    assert_back_on_champion(project, champion, deployment_name(MODEL, version))


def test_failure_during_promotion_rolls_back(project: Project, mlops) -> None:
    import mlflow

    champion = project.champion()
    version = project.store.version(MODEL, offset=0.6)
    name = deployment_name(MODEL, version)
    client = mlflow.MlflowClient(project.store.tracking_uri, project.store.tracking_uri)
    stop = threading.Event()

    def delete_when_live() -> None:
        # Someone deletes the version while it holds 100 %: the promotion cannot find it.
        while not stop.is_set():
            if project.endpoint.get_traffic().share(name) == 100:
                client.delete_model_version(MODEL, version)
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=delete_when_live)
    watcher.start()
    try:
        run, out = deploy(project, mlops, "--model-version", version)
    finally:
        stop.set()
        watcher.join()
    assert run.code == 1
    assert "promotion of version" in out["reason"]
    assert_back_on_champion(project, champion, name)


def test_abort_mid_rollout_rolls_back(project: Project) -> None:
    champion = project.champion()
    version = project.store.version(MODEL, offset=0.7)
    name = deployment_name(MODEL, version)
    config = project.variant("abort.yaml", step_duration_seconds="30")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlops_actions",
            "canary-deploy",
            "--config",
            str(config),
            "--model-version",
            version,
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=python_env(),
    )
    try:
        deadline = time.monotonic() + 120
        while project.endpoint.get_traffic().share(name) != 50:
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"the rollout ended before its first step: {out} {err[-2000:]}")
            assert time.monotonic() < deadline, "the rollout never reached its first step"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)  # the workflow run was cancelled
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 1, err
    outputs = json.loads(out)
    assert outputs["outcome"] == "rolled-back" and "aborted by SIGTERM" in outputs["reason"]
    assert_back_on_champion(project, champion, name)


def _kill_9_at_the_first_step(project: Project, config: Path, version: str) -> None:
    """Start a rollout of `version` and SIGKILL it once it holds 50 %: nothing of it cleans up."""
    name = deployment_name(MODEL, version)
    argv = [sys.executable, "-m", "mlops_actions", "canary-deploy", "--config", str(config),
            "--model-version", version]  # fmt: skip
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=python_env()
    )
    try:
        deadline = time.monotonic() + 120
        while project.endpoint.get_traffic().share(name) != 50:
            assert proc.poll() is None, "the rollout ended before its first step"
            assert time.monotonic() < deadline, "the rollout never reached its first step"
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def test_a_rollout_killed_at_50_percent_is_recovered(project: Project, mlops) -> None:
    champion = project.champion()
    version = project.store.version(MODEL, offset=0.75)
    name = deployment_name(MODEL, version)
    _kill_9_at_the_first_step(project, project.variant("kill.yaml", step_duration_seconds="30"),
                              version)  # fmt: skip
    # What the kill left: a split on a deployment nobody analyses any more.
    assert project.endpoint.get_traffic().share(name) == 50
    run = mlops("canary-deploy", "--config", str(project.config), "--recover", "--json")
    assert run.code == 0, run.err
    outputs = json.loads(run.out)
    assert outputs["outcome"] == "recovered" and name in outputs["removed"]
    assert outputs["final-traffic"] == {champion[1]: 100}
    assert_back_on_champion(project, champion, name)
    again = mlops("canary-deploy", "--config", str(project.config), "--recover", "--json")
    assert json.loads(again.out)["outcome"] == "nothing-to-recover"  # idempotent


def test_a_rerun_after_a_kill_recovers_then_rolls_out(project: Project, mlops) -> None:
    version = project.store.version(MODEL, offset=0.8)
    _kill_9_at_the_first_step(project, project.variant("kill2.yaml", step_duration_seconds="30"),
                              version)  # fmt: skip
    run, outputs = deploy(project, mlops, "--model-version", version)
    assert run.code == 0, run.err
    assert outputs["outcome"] == "promoted"
    assert project.endpoint.get_traffic() == TrafficSplit.only(deployment_name(MODEL, version))
    assert [d.name for d in project.endpoint.list_deployments()] == [
        deployment_name(MODEL, version)
    ]
    assert project.champion() == (version, deployment_name(MODEL, version))


def test_a_kill_after_the_alias_moved_finishes_the_promotion(project: Project, mlops) -> None:
    from mlops_actions.backends.endpoint import DeploymentSpec
    from mlops_actions.registry import ModelRegistry

    old_version, old = project.champion()
    version = project.store.version(MODEL, offset=0.85)
    new = deployment_name(MODEL, version)
    # The state a kill right after the alias move leaves: the registry names the new version,
    # the new deployment exists at 0 %, the old one still serves everything.
    project.endpoint.create_or_update_deployment(
        DeploymentSpec(new, MODEL, version, project.store.tracking_uri)
    )
    ModelRegistry(project.store.tracking_uri).promote(MODEL, version)
    assert project.endpoint.get_traffic() == TrafficSplit.only(old)
    run = mlops("canary-deploy", "--config", str(project.config), "--recover", "--json")
    assert run.code == 0, run.err
    assert json.loads(run.out)["removed"] == [old]
    assert project.endpoint.get_traffic() == TrafficSplit.only(new)
    assert project.endpoint.get_deployment(old) is None
    assert project.champion() == (version, new) != (old_version, old)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"steps": "[50, 10]"}, "deploy.steps must increase"),
        ({"shadow_percent": "60"}, "shadow_percent"),
        ({"strategy": "yolo"}, "'yolo' is not allowed"),
        ({"source": "azure-monitor"}, "needs deploy.backend 'azureml'"),
    ],
)
def test_malformed_deploy_config_exits_2_and_changes_nothing(
    project: Project,
    mlops,
    changes: dict[str, str],
    message: str,
) -> None:
    champion = project.champion()
    version = project.store.version(MODEL, offset=0.4)
    config = project.variant("bad.yaml", **changes)
    run = mlops("canary-deploy", "--config", str(config), "--model-version", version)
    assert run.code == 2 and message in run.err, run.err
    assert project.endpoint.get_traffic() == TrafficSplit.only(champion[1])
    assert project.champion() == champion


def test_a_missing_smoke_cases_file_exits_2_before_any_deployment(project: Project, mlops) -> None:
    champion = project.champion()
    before = {d.name for d in project.endpoint.list_deployments()}
    version = project.store.version(MODEL, offset=0.4)
    config = write_project(
        project.folder,
        project.store,
        MODEL,
        deploy=DEPLOY,
        smoke=SMOKE.replace("cases.jsonl", "no-such-cases.jsonl"),
        filename="no-cases.yaml",
    )
    run, _ = deploy(project, mlops, "--model-version", version, config=config)
    assert run.code == 2, run.err  # bad configuration, not "rolled back"
    assert "no-such-cases.jsonl does not exist" in run.err
    assert {d.name for d in project.endpoint.list_deployments()} == before
    assert project.endpoint.get_traffic() == TrafficSplit.only(champion[1])
    assert project.champion() == champion


def test_unknown_version_exits_2(project: Project, mlops) -> None:
    run = mlops("canary-deploy", "--config", str(project.config), "--model-version", "999")
    assert run.code == 2 and "has no version '999'" in run.err


def test_a_rollback_that_cannot_be_verified_fails_loudly(project: Project) -> None:
    """Last in this module: it kills the endpoint's router."""
    from mlops_actions.config import load_settings
    from mlops_actions.errors import BackendError
    from mlops_actions.steps.canary_deploy import canary_deploy

    version = project.store.version(MODEL, offset=0.8)
    name = deployment_name(MODEL, version)
    router_pid = int(project.endpoint.status()["pid"])

    def kill_when_live() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if project.endpoint.get_traffic().share(name) == 50:
                os.kill(router_pid, signal.SIGKILL)  # the endpoint dies mid-rollout
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_when_live)
    killer.start()
    settings = load_settings(project.config)
    try:
        with pytest.raises(BackendError, match="ROLLBACK NOT VERIFIED") as failed:
            canary_deploy(settings, model_version=version, rollback_verify_seconds=2)
    finally:
        killer.join()
    assert failed.value.exit_code == 3
    # Why the rollout failed in the first place: the dead endpoint, met either by the analysis
    # (metrics unreadable) or by the next traffic change (unreachable), whichever came first.
    cause = str(failed.value).split("The rollout failed because:", 1)[1]
    assert "could not be read" in cause or "cannot be reached" in cause, cause
