"""Markdown building blocks that are safe for user-controlled text.

Column names, category values, messages and model names come from users' data and configs; in a
PR comment or job summary they must not break a table, open HTML, mention people (`@team`) or link
issues (`#12`). `escape` turns such text into inert Markdown that renders as the same characters.
"""

from __future__ import annotations

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
}
_TRANSLATION = str.maketrans(_ENTITIES)


def escape(text: object, *, max_len: int | None = 200) -> str:
    """User text → inert inline Markdown (one line, HTML entities, optionally shortened)."""
    value = " ".join(str(text).split())
    if max_len is not None and len(value) > max_len:
        value = value[: max_len - 1] + "…"
    return value.translate(_TRANSLATION)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table; headers are ours, every cell is escaped."""
    head = "| " + " | ".join(headers) + " |"
    rule = "|" + "|".join("---" for _ in headers) + "|"
    body = ["| " + " | ".join(escape(cell) for cell in row) + " |" for row in rows]
    return "\n".join([head, rule, *body]) + "\n"
