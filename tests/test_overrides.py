"""Flags over mlops.yaml: one mapping of keys, judged by the same models as the file."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from mlops_actions.commands.options import overrides_from, setting_flag
from mlops_actions.config import Override, apply_overrides, parse_settings
from mlops_actions.errors import ConfigError

YAML = """\
model: {name: m}
data: {target: y, holdout: data/holdout.csv}
evaluate: {primary_metric: my_gain, greater_is_better: true, custom_metrics: {my_gain: "m:f"}}
"""


@pytest.fixture
def settings(tmp_path: Path):
    return parse_settings(YAML, source="mlops.yaml", base_dir=tmp_path)


def test_an_override_sets_the_key_and_leaves_the_original(settings) -> None:
    changed = apply_overrides(settings, [Override("evaluate.min_improvement", 0.01, "--x")])
    assert changed.evaluate.min_improvement == pytest.approx(0.01)
    assert settings.evaluate.min_improvement == pytest.approx(0.0)
    assert changed.base_dir == settings.base_dir


def test_a_value_out_of_range_names_the_flag_and_the_key(settings) -> None:
    with pytest.raises(ConfigError) as caught:
        apply_overrides(settings, [Override("evaluate.min_improvement", -1.0, "--min-improvement")])
    assert caught.value.location == "--min-improvement"
    assert caught.value.key_path == "evaluate.min_improvement"
    assert "greater than or equal to 0" in str(caught.value)
    assert caught.value.exit_code == 2


def test_cross_checks_judge_the_result(settings) -> None:
    with pytest.raises(ConfigError) as caught:
        apply_overrides(
            settings, [Override("evaluate.primary_metric", "rocauc", "--primary-metric")]
        )
    assert caught.value.location == "--primary-metric"
    assert "did you mean 'roc_auc'" in str(caught.value)


def test_a_relative_path_is_taken_from_the_working_directory(
    settings, tmp_path, monkeypatch
) -> None:
    work = tmp_path / "elsewhere"
    work.mkdir()
    monkeypatch.chdir(work)
    assert settings.data.holdout == tmp_path / "data" / "holdout.csv"
    changed = apply_overrides(settings, [Override("data.holdout", Path("h.csv"), "--holdout")])
    assert changed.data.holdout == work / "h.csv"


def test_clears_resets_dependents_only_when_the_value_changes(settings) -> None:
    same = Override("evaluate.primary_metric", "my_gain", "--p", ("evaluate.greater_is_better",))
    assert apply_overrides(settings, [same]).evaluate.greater_is_better is True
    other = Override("evaluate.primary_metric", "roc_auc", "--p", ("evaluate.greater_is_better",))
    assert apply_overrides(settings, [other]).evaluate.greater_is_better is None


def test_only_given_setting_flags_become_overrides() -> None:
    parser = argparse.ArgumentParser()
    setting_flag(parser, "--min-improvement", "evaluate.min_improvement", type=float)
    setting_flag(parser, "--holdout", "data.holdout", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    action = next(a for a in parser._actions if a.dest == "min_improvement")
    assert "Default: evaluate.min_improvement." in (action.help or "")
    args = parser.parse_args(["--min-improvement", "0.5", "--seed", "3"])
    [found] = overrides_from(parser, args)
    assert (found.key, found.origin) == ("evaluate.min_improvement", "--min-improvement")
    assert found.value == pytest.approx(0.5)


def test_a_section_from_flags_alone_has_the_file_defaults_and_its_checks(tmp_path: Path) -> None:
    from mlops_actions.config import section_from_overrides

    validation = section_from_overrides(
        "validation",
        [Override("validation.suite", Path("s.json"), "--suite"),
         Override("evaluate.min_improvement", 5.0, "--min-improvement")],
        tmp_path,
    )  # fmt: skip
    assert validation.suite == tmp_path / "s.json"
    assert validation.min_success_ratio == pytest.approx(1.0)  # the schema's default
    assert validation.datasets == ["train", "holdout"]
    with pytest.raises(ConfigError) as caught:
        section_from_overrides(
            "validation", [Override("validation.min_success_ratio", 1.5, "--min-success-ratio")],
            tmp_path,
        )  # fmt: skip
    assert caught.value.location == "--min-success-ratio"
    assert caught.value.key_path == "validation.min_success_ratio"


def test_the_drift_method_names_of_the_flags_are_the_schemas() -> None:
    from typing import get_args

    from mlops_actions.commands.drift_report import METHODS
    from mlops_actions.config.schema import DriftMethod
    from mlops_actions.monitoring.drift_tests import SUPPORTED_METHODS

    assert set(METHODS) == set(get_args(DriftMethod)) == set(SUPPORTED_METHODS)


def test_a_misspelt_drift_method_in_mlops_yaml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(YAML + "monitor: {num_method: kss}\n", base_dir=tmp_path)
    assert caught.value.key_path == "monitor.num_method"
