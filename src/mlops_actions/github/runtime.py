"""The GitHub Actions runtime protocol: step outputs, job summary, workflow commands.

Everything here writes exactly what the runner parses:
- outputs go to the file named by `$GITHUB_OUTPUT` as `name<<DELIM` blocks with a random delimiter
  that does not occur in the value, so a value cannot end its block early and inject an output;
- Markdown is appended to `$GITHUB_STEP_SUMMARY`;
- annotations, masks and groups are workflow commands (`::error file=…,line=…::message`) with the
  runner's escaping (`%`, CR, LF in data; also `:` and `,` in properties).
Outside GitHub Actions the functions that only make sense there do nothing, and the CLI shows the
same information on the terminal instead.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, TextIO, TypedDict, Unpack

AnnotationLevel = Literal["error", "warning", "notice"]
_OUTPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def in_github_actions() -> bool:
    """True when running inside a GitHub Actions job (also under act)."""
    return os.environ.get("GITHUB_ACTIONS") == "true"


def escape_data(value: str) -> str:
    """Escape the message part of a workflow command, as the runner unescapes it."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a property value (`file=`, `title=`) of a workflow command."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def format_output_value(value: object) -> str:
    """Render an output value the way workflows read them: booleans as true/false, JSON for data."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list, tuple)):
        import json

        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _delimiter_for(value: str) -> str:
    while True:
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        if delimiter not in value:
            return delimiter


def write_outputs(
    outputs: Mapping[str, object], path: str | os.PathLike[str] | None = None
) -> bool:
    """Append outputs to `$GITHUB_OUTPUT` (or `path`); returns False when there is no such file.

    Each value is written as a heredoc with its own random delimiter, so multiline and hostile
    values are safe. Raises ValueError for a name the runner would reject.
    """
    target = path if path is not None else os.environ.get("GITHUB_OUTPUT")
    if not target:
        return False
    chunks = []
    for name, raw in outputs.items():
        if not _OUTPUT_NAME.match(name):
            raise ValueError(f"invalid output name {name!r}: use letters, digits, '-' and '_'")
        value = format_output_value(raw)
        delimiter = _delimiter_for(value)
        chunks.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    with open(target, "a", encoding="utf-8") as fh:
        fh.write("".join(chunks))
    return True


def append_summary(markdown: str, path: str | os.PathLike[str] | None = None) -> bool:
    """Append Markdown to the job summary; returns False when `$GITHUB_STEP_SUMMARY` is unset."""
    target = path if path is not None else os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return False
    text = markdown if markdown.endswith("\n") else markdown + "\n"
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(text + "\n")
    return True


def command_stream(*, json_mode: bool = False) -> TextIO:
    """Where workflow commands go: stdout, or stderr when stdout is reserved for `--json`.

    The runner parses workflow commands on both streams.
    """
    return sys.stderr if json_mode else sys.stdout


class Where(TypedDict, total=False):
    """Where an annotation points (all optional): file, lines and column, and its title."""

    file: str | None
    line: int | None
    col: int | None
    end_line: int | None
    title: str | None


_PROPERTIES = (("file", "file"), ("line", "line"), ("endLine", "end_line"), ("col", "col"),
               ("title", "title"))  # fmt: skip


def format_annotation(level: AnnotationLevel, message: str, **where: Unpack[Where]) -> str:
    """The `::level props::message` line for one annotation, escaped."""
    props = []
    for key, name in _PROPERTIES:
        val = where.get(name)
        if val is not None and val != "":
            props.append(f"{key}={escape_property(str(val))}")
    head = f"::{level} {','.join(props)}" if props else f"::{level}"
    return f"{head}::{escape_data(message)}"


def annotate(
    level: AnnotationLevel,
    message: str,
    *,
    stream: TextIO | None = None,
    **where: Unpack[Where],
) -> None:
    """Emit one annotation (error/warning/notice) for the runner."""
    out = stream or sys.stdout
    out.write(format_annotation(level, message, **where) + "\n")
    out.flush()


def add_mask(value: str, stream: TextIO | None = None) -> None:
    """Ask the runner to mask `value` in logs; each line of a multiline value is masked too."""
    out = stream or sys.stdout
    for part in {value, *value.splitlines()}:
        if part.strip():
            out.write(f"::add-mask::{escape_data(part)}\n")
    out.flush()


@contextmanager
def group(title: str, stream: TextIO | None = None) -> Iterator[None]:
    """Collapse the lines written inside into one group in the job log (a rule elsewhere)."""
    out = stream or sys.stdout
    if in_github_actions():
        out.write(f"::group::{escape_data(title)}\n")
        out.flush()
        try:
            yield
        finally:
            out.write("::endgroup::\n")
            out.flush()
    else:
        out.write(f"── {title} ──\n")
        out.flush()
        yield


def report_dir_file(report_dir: Path | None, name: str, text: str) -> Path | None:
    """Write `text` to `report_dir/name` (creating the folder); returns the path or None."""
    if report_dir is None:
        return None
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / name
    path.write_text(text, encoding="utf-8")
    return path


def fail(
    message: str,
    code: int,
    *,
    title: str = "mlops",
    file: str | None = None,
    line: int | None = None,
    col: int | None = None,
    json_mode: bool = False,
    report_dir: Path | None = None,
) -> int:
    """The one failure path: job summary, `::error` annotation (or stderr), report file; returns
    `code`, the exit code for the caller to return (nothing here exits).

    With `json_mode`, stdout carries one JSON object `{"error": …, "exit-code": …}`.
    """
    import json

    report_failure(message, title=title, file=file, line=line, col=col, json_mode=json_mode)
    report_dir_file(report_dir, "error.md", error_markdown(title, message))
    if json_mode:
        sys.stdout.write(json.dumps({"error": message, "exit-code": code}) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def error_markdown(title: str, message: str) -> str:
    """`error.md`: the failure as Markdown, title and message escaped (lines kept apart)."""
    from mlops_actions.reports.markdown import escape, escape_block

    return f"# {escape(title)}\n\n{escape_block(message)}\n"


def report_failure(
    message: str,
    *,
    title: str,
    file: str | None = None,
    line: int | None = None,
    col: int | None = None,
    json_mode: bool = False,
) -> None:
    """Tell the user a step failed: job summary and `::error` on GitHub, stderr elsewhere."""
    from mlops_actions.reports.markdown import escape

    append_summary(f"### ❌ {escape(title)}\n\n{escape(message, max_len=2000)}\n")
    if in_github_actions():
        annotate(
            "error",
            message,
            file=file,
            line=line,
            col=col,
            title=title,
            stream=command_stream(json_mode=json_mode),
        )
    else:
        where = ":".join(str(p) for p in (file, line, col) if p is not None)
        prefix = f"{where} " if where and not message.startswith(where) else ""
        sys.stderr.write(f"{title}: error: {prefix}{message}\n")
