"""Markdown building blocks that are safe for user-controlled text.

Column names, category values, messages and model names come from users' data and configs; in a
PR comment, issue or job summary they must not break a table, open HTML, link anywhere, mention
people (`@team`) or reference issues (`#12`). `escape` turns such text into inert Markdown that
renders as the same characters:
- Markdown and HTML syntax (`<`, `|`, backticks, `[`, `!`, `*`, …) become HTML entities;
- GitHub finds mentions, issue references and e-mail autolinks in the *rendered* text, after
  entities are decoded (`&#64;team` still notifies the team), so an invisible zero-width space
  (U+200B) follows `@`, `#` before a digit, and `www` before its dot;
- direction overrides and isolates (U+202A–U+202E, U+2066–U+2069, …) and other control
  characters, which can make text read differently from what it is, become U+FFFD;
- line breaks fold into spaces (one line), and the text is shortened to `max_len`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_ENTITIES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    "@": "&#64;",
    "#": "&#35;",
    "|": "&#124;",
    "`": "&#96;",
    "\\": "&#92;",
    "*": "&#42;",
    "_": "&#95;",
    "[": "&#91;",
    "]": "&#93;",
    "~": "&#126;",
    "!": "&#33;",
    ":": "&#58;",
    "$": "&#36;",
}
_TRANSLATION = str.maketrans(_ENTITIES)
ZWSP = "\u200b"
"""The invisible break between `@` and a name (or `#` and a number) that GitHub does not link."""
HARD_MAX_LEN = 5000
"""No escaped value is longer, whatever `max_len` says."""

_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\ufff9-\ufffb]"
)
_MENTION = re.compile(r"@(?=[A-Za-z0-9])")
_ISSUE = re.compile(r"#(?=\d)|(?i:\bgh-)(?=\d)")
_WWW = re.compile(r"(?i:\bwww)(?=\.)")


def _unlinked(text: str) -> str:
    text = _MENTION.sub("@" + ZWSP, text)
    text = _ISSUE.sub(lambda m: m.group(0) + ZWSP, text)
    return _WWW.sub(lambda m: m.group(0) + ZWSP, text)


def plain(text: object, *, max_len: int = 200) -> str:
    """User text for plain-text fields (an issue title): one line, controls as U+FFFD, capped."""
    value = " ".join(str(text).split())
    if len(value) > max_len:
        value = value[: max_len - 1] + "…"
    return _UNSAFE.sub("\ufffd", value)


def escape(text: object, *, max_len: int | None = 200) -> str:
    """User text → inert inline Markdown (one line, HTML entities, shortened to `max_len`).

    `max_len=None` still caps the text at `HARD_MAX_LEN` characters.
    """
    value = " ".join(str(text).split())
    limit = HARD_MAX_LEN if max_len is None else min(max_len, HARD_MAX_LEN)
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    value = _UNSAFE.sub("\ufffd", value)
    return _unlinked(value).translate(_TRANSLATION)


def escape_block(text: object, *, max_len: int = 5000) -> str:
    """Multi-line user text (an error message with its hint) → inert Markdown paragraphs.

    Each line is escaped like `escape` (its first character too, so no line starts a list,
    heading, quote or rule) and lines are kept apart as paragraphs.
    """
    value = str(text)
    if len(value) > max_len:
        value = value[: max_len - 1] + "…"
    lines = [escape(line, max_len=None) for line in value.splitlines()]
    safe = [_first_inert(line) for line in lines if line]
    return "\n\n".join(safe)


def _first_inert(line: str) -> str:
    """Entity-encode a leading `-`, `+`, `=` or digit: the line cannot begin a block construct."""
    if line[:1] in ("-", "+", "=") or line[:1].isdigit():
        return f"&#{ord(line[0])};{line[1:]}"
    return line


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table; headers are ours, every cell is escaped."""
    head = "| " + " | ".join(headers) + " |"
    rule = "|" + "|".join("---" for _ in headers) + "|"
    body = ["| " + " | ".join(escape(cell) for cell in row) + " |" for row in rows]
    return "\n".join([head, rule, *body]) + "\n"
