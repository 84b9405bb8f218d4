"""What a new user does, literally, in a fresh git repository with data of their own.

`mlops init`, commit, `mlops pipeline run --approve` (promotes on the first run), the same again
(a tie: stops at the comparison, exit 1), users' requests to the endpoint the run left serving,
delayed labels for them, then `drift-report` and `performance-report`: every user request is
labelled, so the coverage is 100 % (the pipeline's own probe and smoke requests do not count).
The commands run as a user runs them: the `mlops` program in the repository, no flags of tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import python_env
from tests.user_data import churn, house_prices, write_split

MLOPS = str(Path(sys.executable).with_name("mlops"))
USER_REQUESTS = 120
GIT_USER = {"GIT_AUTHOR_NAME": "u", "GIT_AUTHOR_EMAIL": "u@x"}
GIT_USER |= {k.replace("AUTHOR", "COMMITTER"): v for k, v in GIT_USER.items()}

TASKS: dict[str, tuple[Callable[..., pd.DataFrame], str, int]] = {
    # task: (data maker, label column, training rows + holdout rows)
    "classification": (churn, "churned", 1600),
    "regression": (house_prices, "price_k", 1200),
}


def run(repo: Path, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*args] if args[0] == "git" else [MLOPS, *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env=python_env(**GIT_USER),
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert done.returncode == expect, (args, done.returncode, done.stderr[-4000:])
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    return done


@pytest.fixture(params=sorted(TASKS))
def user_repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    task = request.param
    repo = tmp_path / f"my-{task}-model"
    make, _, rows = TASKS[task]
    write_split(repo, make(rows, seed=11), holdout_share=0.25)
    run(repo, "git", "init", "-q", "-b", "main")
    yield repo, task
    from mlops_actions.backends.local_endpoint import LocalEndpoint

    LocalEndpoint.down(repo / ".mlops" / "endpoint")


def _send_user_requests(url: str, rows: pd.DataFrame) -> list[str]:
    """One request per row, as an application would send it; returns the request ids."""
    ids = []
    for record in json.loads(rows.to_json(orient="records")):
        body = json.dumps(
            {"input_data": {"columns": list(record), "data": [list(record.values())]}}
        ).encode()
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
            ids.append(answer.headers["x-request-id"])
    return ids


@pytest.mark.slow
def test_a_new_repository_goes_from_init_to_a_monitored_model(
    user_repo: tuple[Path, str],
) -> None:
    repo, task = user_repo
    make, label, _ = TASKS[task]
    init = run(repo, "init")
    assert f"task: {task}" in init.stderr
    run(repo, "config", "check")
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-q", "-m", "Adopt mlops-actions")

    first = run(repo, "pipeline", "run", "--approve")
    assert "pipeline finished: every step passed" in first.stderr
    assert "keeps serving" in first.stderr and "mlops endpoint down" in first.stderr
    # Nothing the run wrote shows up as a change to commit (.gitignore covers it).
    assert run(repo, "git", "status", "--porcelain").stdout == ""

    second = run(repo, "pipeline", "run", "--approve", "--json", expect=1)
    outputs = json.loads(second.stdout)
    assert outputs["steps"]["compare-champion"] == "failed"
    assert outputs["compare-champion.is-better"] is False  # an identical retrain is a tie
    assert outputs["steps"]["register"] == "skipped"
    assert outputs["endpoint-state"] == "running"  # the champion still serves

    status = json.loads(run(repo, "endpoint", "status", "--json").stdout)
    assert status["running"] and list(status["traffic"].values()) == [100]
    live = make(USER_REQUESTS, seed=12)  # new users, same population
    features = live.drop(columns=[label, live.columns[0]])  # the app sends no id, no label
    ids = _send_user_requests(status["endpoint-url"], features)
    pd.DataFrame({"request_id": ids, "label": live[label]}).to_csv(
        repo / "data" / "labels.csv", index=False
    )

    drift = json.loads(run(repo, "drift-report", "--json").stdout)
    assert drift["drift-detected"] is False
    assert drift["current-rows"] == USER_REQUESTS  # users' requests only, not probe or smoke

    performance = json.loads(run(repo, "performance-report", "--json").stdout)
    assert performance["coverage"] == pytest.approx(1.0, abs=1e-9)
    assert performance["degraded"] is False
    run(repo, "endpoint", "down")
