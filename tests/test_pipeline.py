"""`mlops pipeline run` on the example: it runs what exists and says what does not yet."""

from __future__ import annotations

import json

from tests.conftest import EXAMPLE


def test_pipeline_reports_steps_not_available(mlops) -> None:  # type: ignore[no-untyped-def]
    result = mlops(
        "pipeline", "run", "--approve", "--config", str(EXAMPLE / "mlops.yaml"), "--json"
    )
    assert result.code == 0, result.err
    outputs = json.loads(result.out)
    assert outputs["complete"] is False
    assert outputs["steps"]["validate-data"] == "not available"
    assert outputs["steps"]["smoke-test"] == "skipped"
    result = mlops("pipeline", "run", "--approve", "--config", str(EXAMPLE / "mlops.yaml"))
    assert result.code == 0
    assert "stopped before validate-data" in result.err


def test_pipeline_with_bad_config_exits_2(tmp_path, mlops) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "mlops.yaml").write_text("model: {name: x}\n")
    result = mlops("pipeline", "run", "--config", str(tmp_path / "mlops.yaml"))
    assert result.code == 2
    assert "required key is missing" in result.err
