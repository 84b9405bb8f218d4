"""Readers for the files a GitHub Actions step writes, implemented the way the runner reads them."""

from __future__ import annotations

import re


def parse_output_file(text: str) -> dict[str, str]:
    """Parse `$GITHUB_OUTPUT` like the runner: `k=v` lines and `k<<DELIM … DELIM` blocks.

    Raises ValueError where the runner would fail the step (an unterminated block).
    """
    result: dict[str, str] = {}
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line:
            i += 1
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if heredoc >= 0 and (eq < 0 or heredoc < eq):
            key, delimiter = line[:heredoc], line[heredoc + 2 :]
            if not key or not delimiter:
                raise ValueError(f"invalid heredoc line {line!r}")
            value: list[str] = []
            i += 1
            while i < len(lines) and lines[i] != delimiter:
                value.append(lines[i])
                i += 1
            if i == len(lines):
                raise ValueError(f"missing delimiter {delimiter!r}")
            result[key] = "\n".join(value)
        elif eq > 0:
            result[line[:eq]] = line[eq + 1 :]
        else:
            raise ValueError(f"invalid output line {line!r}")
        i += 1
    return result


_COMMAND = re.compile(r"^::([a-z-]+)(?: ([^:]*))?::(.*)$")


def _unescape_data(value: str) -> str:
    return value.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def _unescape_property(value: str) -> str:
    return _unescape_data(value.replace("%3A", ":").replace("%2C", ","))


def parse_commands(text: str) -> list[tuple[str, dict[str, str], str]]:
    """Workflow commands in a log, as the runner reads them: (command, properties, message)."""
    found = []
    for line in text.splitlines():
        match = _COMMAND.match(line)
        if not match:
            continue
        props = {}
        for pair in filter(None, (match.group(2) or "").split(",")):
            key, _, value = pair.partition("=")
            props[key] = _unescape_property(value)
        found.append((match.group(1), props, _unescape_data(match.group(3))))
    return found
