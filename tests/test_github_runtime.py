"""The GitHub Actions runtime protocol, read back exactly as the runner reads it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from mlops_actions.github import runtime
from tests.github_files import parse_commands, parse_output_file


def test_outputs_round_trip_through_the_runner_parser(tmp_path: Path) -> None:
    target = tmp_path / "out"
    runtime.write_outputs(
        {
            "success": True,
            "success-ratio": 0.95,
            "metrics": {"roc_auc": 0.81, "f1": 0.4},
            "report-path": "reports/validate.html",
            "multi": "line one\nline two\n",
            "empty": None,
        },
        target,
    )
    parsed = parse_output_file(target.read_text())
    assert parsed == {
        "success": "true",
        "success-ratio": "0.95",
        "metrics": '{"f1": 0.4, "roc_auc": 0.81}',
        "report-path": "reports/validate.html",
        "multi": "line one\nline two\n",
        "empty": "",
    }


def test_a_value_cannot_inject_another_output(tmp_path: Path) -> None:
    target = tmp_path / "out"
    # An attacker who knows the fixed-delimiter convention tries to close the block early.
    hostile = "x\nEOF\nis-better=true\nghadelimiter_\nis-better<<EOF\ntrue"
    runtime.write_outputs({"decision-reason": hostile, "is-better": False}, target)
    parsed = parse_output_file(target.read_text())
    assert parsed == {"decision-reason": hostile, "is-better": "false"}


def test_delimiters_are_random_per_value(tmp_path: Path) -> None:
    target = tmp_path / "out"
    runtime.write_outputs({"a": "1", "b": "2"}, target)
    runtime.write_outputs({"a": "1"}, target)
    heads = [line for line in target.read_text().splitlines() if "<<" in line]
    assert len({h.split("<<")[1] for h in heads}) == 3


def test_invalid_output_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="invalid output name"):
        runtime.write_outputs({"bad name\n": "x"}, tmp_path / "out")


def test_no_output_file_outside_github(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    assert runtime.write_outputs({"a": 1}) is False
    assert runtime.append_summary("# x") is False


def test_summary_is_appended(tmp_path: Path) -> None:
    target = tmp_path / "summary.md"
    runtime.append_summary("## one", target)
    runtime.append_summary("## two\n", target)
    assert target.read_text() == "## one\n\n## two\n\n"


@pytest.mark.parametrize(
    ("message", "props"),
    [
        ("plain", {}),
        ("100% broken\nsecond line\r\n", {"file": "data/a,b.csv", "line": 3, "col": 7}),
        ("title: with, punctuation", {"title": "a:b,c", "file": "x.yaml", "end_line": 9}),
    ],
)
def test_annotations_survive_runner_unescaping(message: str, props: dict[str, object]) -> None:
    stream = io.StringIO()
    runtime.annotate("error", message, stream=stream, **props)  # type: ignore[arg-type]
    [(command, parsed_props, parsed_message)] = parse_commands(stream.getvalue())
    assert command == "error"
    assert parsed_message == message
    expected = {("endLine" if k == "end_line" else k): str(v) for k, v in props.items()}
    assert parsed_props == expected
    assert stream.getvalue().count("\n") == 1


def test_mask_covers_each_line_of_a_secret() -> None:
    stream = io.StringIO()
    runtime.add_mask("line-a\nline-b", stream=stream)
    masked = {message for command, _, message in parse_commands(stream.getvalue())}
    assert {"line-a", "line-b", "line-a\nline-b"} <= masked


def test_group_on_github_and_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    with runtime.group("train log", stream=stream):
        stream.write("hello\n")
    assert stream.getvalue() == "::group::train log\nhello\n::endgroup::\n"
    monkeypatch.delenv("GITHUB_ACTIONS")
    stream = io.StringIO()
    with runtime.group("train log", stream=stream):
        pass
    assert "::group::" not in stream.getvalue()
    assert "train log" in stream.getvalue()


def test_fail_writes_summary_annotation_and_exits(
    github_job: object, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = runtime.fail(
        "column 'age' has 12% nulls",
        1,
        title="validate-data",
        file="data/train.csv",
        report_dir=tmp_path / "r",
    )
    assert code == 1
    [(command, props, message)] = parse_commands(capsys.readouterr().out)
    assert (command, props["file"], message) == (
        "error",
        "data/train.csv",
        "column 'age' has 12% nulls",
    )
    summary = Path(github_job.summary).read_text()  # type: ignore[attr-defined]
    assert "validate-data" in summary
    assert "&#39;" not in summary and "age" in summary
    assert (tmp_path / "r" / "error.md").read_text().startswith("# validate-data")


def test_fail_outside_github_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert runtime.fail("boom", 3, title="mlops train", json_mode=True) == 3
    captured = capsys.readouterr()
    assert captured.err == "mlops train: error: boom\n"
    assert captured.out == '{"error": "boom", "exit-code": 3}\n'
