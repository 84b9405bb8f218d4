"""HTML reports in which no user-controlled text can become live markup.

Every page we write carries a restrictive Content-Security-Policy `<meta>`: nothing is loaded
from anywhere (`default-src 'none'`), styles and `data:` images and fonts may be inline, and
scripts run only when they are the page's own: each inline script is allowed by its SHA-256
hash, so a script that data smuggled into the page would not run even if it parsed. Data that
goes into an inline script is JSON with `<`, `>` and `&` written as `\\u003c`…, so it can never
close the script or open a comment or another script.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections.abc import Sequence
from html.parser import HTMLParser
from typing import Any

BASE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "base-uri 'none'; form-action 'none'"
)
_UNSAFE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)
_SCRIPT_BREAKERS = re.compile(r"<(?=/script|!--|script)", re.IGNORECASE)
_JSON_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def text(value: object) -> str:
    """User text for an HTML page: escaped, direction overrides and controls shown as U+FFFD."""
    return html.escape(_UNSAFE.sub("\ufffd", str(value)))


def script_json(value: Any, *, cls: type[json.JSONEncoder] | None = None) -> str:
    """`value` as JSON that is safe as the text of an inline `<script>` (and equal once parsed)."""
    return json.dumps(value, cls=cls).translate(_JSON_ESCAPES)


def script_text(text: str) -> str:
    """Script source with `</script`, `<!--` and `<script` made impossible (`<\\/script`, …).

    Inside JavaScript string literals `<\\/` is `</`; use `script_json` for data.
    """
    return _SCRIPT_BREAKERS.sub("<\\\\", text)


def script_hash(text: str) -> str:
    """The CSP source that allows one inline script: `'sha256-…'` of its exact text."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def csp_policy(scripts: Sequence[str] = ()) -> str:
    """The policy of a report page; `scripts` are the exact texts of its inline scripts."""
    if not scripts:
        return BASE_POLICY + "; script-src 'none'"
    hashes = sorted({script_hash(s) for s in scripts})
    return BASE_POLICY + "; script-src " + " ".join(hashes)


def csp_meta(scripts: Sequence[str] = ()) -> str:
    """The `<meta http-equiv="Content-Security-Policy">` tag for `csp_policy(scripts)`."""
    return f'<meta http-equiv="Content-Security-Policy" content="{csp_policy(scripts)}">'


class _Elements(HTMLParser):
    """Collects the elements of a page: tag names, attributes, inline script texts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.scripts: list[str] = []
        self._script: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        if tag == "script":
            self._script = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append("".join(self._script))
            self._script = None


def parse_elements(page: str) -> _Elements:
    """The elements and inline script texts of `page` (as a browser would split them)."""
    parser = _Elements()
    parser.feed(page)
    parser.close()
    return parser


def with_csp(page: str, scripts: Sequence[str] = ()) -> str:
    """`page` with the CSP meta first in its `<head>`; `scripts` are its inline scripts' texts.

    Raises ValueError when the page has no `<head>` or its scripts are not exactly `scripts`
    (something in the data opened or split a script): such a page is not written.
    """
    found = parse_elements(page).scripts
    if sorted(found) != sorted(scripts):
        raise ValueError(
            f"the report page has {len(found)} inline scripts, expected {len(scripts)}: "
            "refusing to write a page whose scripts are not ours"
        )
    match = re.search(r"<head\b[^>]*>", page, re.IGNORECASE)
    if match is None:
        raise ValueError("the report page has no <head>")
    at = match.end()
    return page[:at] + csp_meta(scripts) + page[at:]
