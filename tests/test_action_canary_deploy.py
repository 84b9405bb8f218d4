"""canary-deploy and smoke-test as actions, run by act with the local endpoint: one promotion,
one rollback, in two jobs of one workflow run.

Each job has its own project (mlops.yaml outside the act workspace, so the test and the workflow
share its `.mlops/endpoint/`) and its own registered model in one MLflow sqlite store, whose
alias `champion` is set before act. The job first serves the champion (a `direct` rollout of the
champion version), then rolls the challenger out as a canary with probe traffic: a healthy version
is promoted and smoke-tested, a version that fails under load is rolled back. The endpoint is
stopped by an `if: always()` step either way.
"""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mlops_actions.backends.endpoint import deployment_name
from mlops_actions.backends.local_endpoint import LocalEndpoint
from tests.act_harness import CHECKOUT_STEP, make_workspace, run_act
from tests.conftest import REPO
from tests.fault_model import Store, golden_cases, session_store, write_project

PARITY_TOLERANCE = 1e-6
DEPLOY = """\
  strategy: canary
  steps: [50, 100]
  step_duration_seconds: 1
  max_error_rate: 0.05
  max_p95_latency_ms: 1000
  min_requests: 5
  progress_deadline_seconds: 120
  rollback_grace_seconds: 0
  ready_timeout_seconds: 60
  rollback_verify_seconds: 20
  analysis:
    source: probe
    interval_seconds: 0.2
    max_metric_errors: 2
"""
SMOKE = f"""\
  cases: cases.jsonl
  latency_budget_ms: 2000
  parity_rows: 5
  parity_tolerance: {PARITY_TOLERANCE}
"""
# The smoke test sends about ten predictions; faults that start after 15 hit the canary steps.
CHALLENGERS: dict[str, dict[str, object]] = {
    "promote": {"offset": 0.2},
    "rollback": {"error_rate": 0.5, "faults_after_requests": 15},
}


def _job(case: str) -> str:
    config = f"${{{{ inputs.projects }}}}/{case}/mlops.yaml"
    return f"""\
  {case}:
    runs-on: ubuntu-latest
    permissions:
      contents: read  # checkout
    steps:
{CHECKOUT_STEP}      - name: The champion serves all traffic
        uses: ./actions/canary-deploy
        with:
          config: {config}
          model-version: ${{{{ inputs.{case}-champion }}}}
          strategy: direct
      - id: deploy
        uses: ./actions/canary-deploy
        with:
          config: {config}
          model-version: ${{{{ inputs.{case}-challenger }}}}
      - id: smoke
        if: steps.deploy.outputs.outcome == 'promoted'
        uses: ./actions/smoke-test
        with:
          config: {config}
          deployment: ${{{{ steps.deploy.outputs.deployment }}}}
      - if: always()
        env:
          STEP: ${{{{ steps.deploy.outcome }}}}
          OUTCOME: ${{{{ steps.deploy.outputs.outcome }}}}
          REASON: ${{{{ steps.deploy.outputs.reason }}}}
          TRAFFIC: ${{{{ steps.deploy.outputs.final-traffic }}}}
          URL: ${{{{ steps.deploy.outputs.endpoint-url }}}}
          DEPLOYMENT: ${{{{ steps.deploy.outputs.deployment }}}}
          PASSED: ${{{{ steps.smoke.outputs.passed }}}}
          FAILURES: ${{{{ steps.smoke.outputs.failures }}}}
          P95: ${{{{ steps.smoke.outputs.p95-latency-ms }}}}
          PARITY: ${{{{ steps.smoke.outputs.parity-max-diff }}}}
        run: |
          echo "RESULT {case}-step=$STEP"
          echo "RESULT {case}-outcome=$OUTCOME"
          echo "RESULT {case}-reason=$REASON"
          echo "RESULT {case}-final-traffic=$TRAFFIC"
          echo "RESULT {case}-endpoint-url=$URL"
          echo "RESULT {case}-deployment=$DEPLOYMENT"
          echo "RESULT {case}-passed=$PASSED"
          echo "RESULT {case}-failures=$FAILURES"
          echo "RESULT {case}-p95-latency-ms=$P95"
          echo "RESULT {case}-parity-max-diff=$PARITY"
      - name: What the endpoint serves now
        if: always()
        env:
          MLOPS_CONFIG: {config}
        run: echo "RESULT {case}-status=$(mlops endpoint status --json)"
      - name: Stop the local endpoint
        if: always()
        env:
          MLOPS_CONFIG: {config}
        run: mlops endpoint down
"""


def _workflow() -> str:
    inputs = "".join(
        f"      {name}:\n        required: true\n"
        for name in (
            "projects",
            *(f"{case}-{role}" for case in CHALLENGERS for role in ("champion", "challenger")),
        )
    )
    return (
        "name: deploy\non:\n  workflow_dispatch:\n    inputs:\n"
        + inputs
        + "permissions: {}\njobs:\n"
        + "".join(_job(case) for case in CHALLENGERS)
    )


def _champion(store: Store, model: str) -> str:
    import mlflow

    client = mlflow.MlflowClient(store.tracking_uri, store.tracking_uri)
    return str(client.get_model_version_by_alias(model, "champion").version)


def _unescape(message: str) -> str:
    """An annotation's message as the runner shows it (workflow commands escape %, CR, LF)."""
    return message.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def _listening(url: str) -> bool:
    """Whether something accepts connections at the host and port of `url`."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=2):
            return True
    except OSError:
        return False


def _processes_mentioning(text: str) -> list[str]:
    """Live processes whose command line or environment contains `text` (pid: command)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
        except OSError:  # gone, or not ours
            continue
        if text.encode() in cmdline or text.encode() in environ:
            command = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{proc.name}: {command}")
    return found


def test_the_actions_declare_every_output_the_workflow_reads() -> None:
    """act hands a composite action's undeclared step outputs to the workflow (nektos/act#2553);
    GitHub does not, so the act run alone cannot show that the actions declare what is read."""
    import yaml

    missing = []
    for name, job in yaml.safe_load(_workflow())["jobs"].items():
        actions = {s["id"]: s["uses"] for s in job["steps"] if "id" in s and "uses" in s}
        for step, output in re.findall(r"steps\.([\w-]+)\.outputs\.([\w-]+)", json.dumps(job)):
            action = yaml.safe_load((REPO / actions[step] / "action.yml").read_text("utf-8"))
            if output not in (action.get("outputs") or {}):
                missing.append(f"{name}: {actions[step]} does not declare output {output!r}")
    assert missing == [], "\n".join(sorted(set(missing)))


@pytest.mark.act
@pytest.mark.slow
def test_canary_deploy_and_smoke_test_actions_promote_and_roll_back(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, act_cache: Path
) -> None:
    import mlflow

    store = session_store(tmp_path_factory.getbasetemp())
    projects = tmp_path / "projects"
    cases = "".join(json.dumps(c) + "\n" for c in golden_cases(store))
    inputs = {"projects": str(projects)}
    client = mlflow.MlflowClient(store.tracking_uri, store.tracking_uri)
    models = {}
    for case, faults in CHALLENGERS.items():
        model = f"act-{case}"
        champion = store.version(model)
        challenger = store.version(model, **faults)
        client.set_registered_model_alias(model, "champion", champion)
        write_project(projects / case, store, model, deploy=DEPLOY, smoke=SMOKE)
        (projects / case / "cases.jsonl").write_text(cases, encoding="utf-8")
        inputs |= {f"{case}-champion": champion, f"{case}-challenger": challenger}
        models[case] = model
    workspace = make_workspace(tmp_path / "ws", {"deploy.yml": _workflow()})
    state_dirs = {case: projects / case / ".mlops" / "endpoint" for case in CHALLENGERS}
    try:
        run = run_act(
            workspace, "deploy.yml", cache=act_cache, event="workflow_dispatch", inputs=inputs
        )
        values = run.values()
        # The endpoints' processes (router, fork server, workers) inherit MLOPS_CONFIG.
        leftover = _processes_mentioning(str(projects))
        urls = [values.get(f"{case}-endpoint-url", "") for case in CHALLENGERS]
        answering = [url for url in urls if _listening(url)]
    finally:  # whatever happened, stop what the workflow may have left running
        for path in state_dirs.values():
            LocalEndpoint.down(path)

    # Promotion: 50 % → 100 %, smoke-tested with parity, champion moved, old deployment retired.
    assert run.job_succeeded("promote"), run.log[-6000:]
    model = models["promote"]
    new = deployment_name(model, inputs["promote-challenger"])
    assert values["promote-step"] == "success"
    assert values["promote-outcome"] == "promoted", values["promote-reason"]
    assert json.loads(values["promote-final-traffic"]) == {new: 100}
    assert values["promote-deployment"] == new
    assert values["promote-passed"] == "true" and values["promote-failures"] == "0"
    assert 0 < float(values["promote-p95-latency-ms"]) < 2000
    assert 0 <= float(values["promote-parity-max-diff"]) <= PARITY_TOLERANCE
    assert _champion(store, model) == inputs["promote-challenger"]
    status = json.loads(values["promote-status"])
    assert status["running"] is True and status["traffic"] == {new: 100}
    assert [d["name"] for d in status["deployments"]] == [new]
    assert values["promote-endpoint-url"] == status["endpoint-url"]
    assert values["promote-endpoint-url"].startswith("http://127.0.0.1:")

    # Rollback: the step fails with exit 1 and says why; the champion serves everything again.
    assert run.job_failed("rollback"), run.log[-6000:]
    model = models["rollback"]
    champion = deployment_name(model, inputs["rollback-champion"])
    failed = deployment_name(model, inputs["rollback-challenger"])
    assert values["rollback-step"] == "failure"
    assert values["rollback-outcome"] == "rolled-back"
    reason = values["rollback-reason"]
    assert "error rate" in reason and failed in reason, reason
    assert json.loads(values["rollback-final-traffic"]) == {champion: 100}
    assert values["rollback-passed"] == ""  # the smoke-test action did not run
    assert _champion(store, model) == inputs["rollback-champion"]
    status = json.loads(values["rollback-status"])
    assert status["traffic"] == {champion: 100} and status["mirror"] == {}
    assert [d["name"] for d in status["deployments"]] == [champion], "failed deployment kept"
    assert values["rollback-endpoint-url"] == status["endpoint-url"]
    errors = [_unescape(m) for p, m in run.annotations() if p.get("title") == "mlops canary-deploy"]
    assert errors == [f"rolled back: {reason}"], run.annotations()
    assert re.search(r"^\[deploy/rollback\] exit status 1$", run.log, re.M), run.log[-6000:]

    # Both endpoints ran and were stopped by the workflow's `if: always()` step.
    assert all(urls) and answering == [], answering
    assert leftover == [], leftover
