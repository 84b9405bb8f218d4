"""Credentials out of everything we print: one rule for URIs, one for text that holds URIs.

A tracking URI such as `https://user:token@host`, a blob URL with a SAS (`?sv=…&sig=…`) or an
OAuth redirect (`#access_token=…`) must never reach a report, a job summary, an output, a PR
comment or a log line. `redact_uri` drops the userinfo and replaces the value of every
credential-like query or fragment parameter with `***`; `redact_text` does that to every URI
inside free text and also hides `Authorization`-style values (`Bearer …`, `AccountKey=…`).

Values that must be used but never shown (an endpoint key, a token) are masked with
`::add-mask::` before anything could print them: `mask` (only on a GitHub Actions runner; the
command goes to stderr, so stdout stays the step's report or JSON).
"""

from __future__ import annotations

import io
import re
import sys
from typing import TextIO, cast
from urllib.parse import unquote

HIDDEN = "***"

SECRET_PARAMS = frozenset(
    {
        "sig",
        "signature",
        "token",
        "access_token",
        "id_token",
        "refresh_token",
        "sas",
        "sas_token",
        "key",
        "api_key",
        "apikey",
        "api-key",
        "code",
        "password",
        "passwd",
        "pwd",
        "secret",
        "client_secret",
        "auth",
        "authorization",
        "credential",
        "credentials",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "x-goog-signature",
        "x-goog-credential",
    }
)
"""Query/fragment parameter names (lower case) whose values are credentials."""

_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#@\s]*)@")
_PARAM = re.compile(r"(?P<sep>^|[?&;#])(?P<name>[^=&;#?]+)=(?P<value>[^&;#]*)")
_AUTHORIZATION = re.compile(
    r"(?i)(?P<name>\bAuthorization|\bProxy-Authorization|\bOcp-Apim-Subscription-Key|"
    r"\bx-api-key)(?P<eq>[\"']?\s*[:=]\s*[\"']?)(?P<value>(?:(?:Bearer|Basic|Token)\s+)?"
    r"[^\s\"',})]+)"
)
_BEARER = re.compile(r"\b(?P<scheme>Bearer)(?P<space>\s+)(?P<value>[A-Za-z0-9._~+/=-]{8,})")
_TEXT_SECRET = re.compile(
    r"(?i)\b(?P<name>AccountKey|SharedAccessKey|SharedAccessSignature|sig|password|pwd|"
    r"client_secret|access_token|api[_-]?key|token)(?P<eq>\s*[=:]\s*)(?P<value>[^\s&;,'\"]+)"
)
_masked: set[str] = set()


def redact_uri(text: str) -> str:
    """`text` (one URI) without userinfo and with every credential parameter's value hidden.

    `https://user:token@host/x?sv=1&sig=abc#k` → `https://host/x?sv=1&sig=***#k`. Anything that
    is not a URI comes back unchanged.
    """
    uri = _USERINFO.sub(lambda m: m["scheme"], text, count=1)
    if "?" not in uri and "#" not in uri:
        return uri
    cut = min(i for i in (uri.find("?"), uri.find("#")) if i >= 0)
    head, rest = uri[:cut], uri[cut:]
    return head + _PARAM.sub(_hide_param, rest)


def redact_text(text: str) -> str:
    """Free text (a message, a command line, a job spec) with every URI in it redacted, and
    `Bearer …`, `AccountKey=…`, `password=…`-style values hidden."""
    out = _URI.sub(lambda m: redact_uri(m[0]), text)
    out = _AUTHORIZATION.sub(lambda m: f"{m['name']}{m['eq']}{HIDDEN}", out)
    out = _BEARER.sub(lambda m: f"{m['scheme']}{m['space']}{HIDDEN}", out)
    return _TEXT_SECRET.sub(_hide_text_secret, out)


def uri_secrets(text: str) -> list[str]:
    """The credentials `redact_uri` would hide in `text` (userinfo password, parameter values)."""
    found: list[str] = []
    for uri in _URI.findall(text):
        match = _USERINFO.match(uri)
        if match and match["userinfo"]:
            user, _, password = match["userinfo"].partition(":")
            found.append(password or user)
        cut = [i for i in (uri.find("?"), uri.find("#")) if i >= 0]
        if cut:
            for param in _PARAM.finditer(uri[min(cut) :]):
                if _is_secret(param["name"]) and param["value"]:
                    found.append(param["value"])
    return [s for s in dict.fromkeys([*found, *(unquote(s) for s in found)]) if s]


def mask(value: str | None, stream: TextIO | None = None) -> None:
    """Ask the runner to mask `value` from now on (on GitHub Actions only; once per value)."""
    from mlops_actions.github import runtime

    if not value or value in _masked or not runtime.in_github_actions():
        return
    _masked.add(value)
    runtime.add_mask(value, stream=stream or sys.stderr)


def mask_uri(text: str | None, stream: TextIO | None = None) -> None:
    """`mask` every credential inside the URIs of `text` (see `uri_secrets`)."""
    for secret in uri_secrets(text or ""):
        mask(secret, stream)


def _is_secret(name: str) -> bool:
    key = unquote(name).strip().lower()
    return key in SECRET_PARAMS or key.endswith(("_token", "_secret", "_key", "-token", "-key"))


def _hide_param(match: re.Match[str]) -> str:
    if not _is_secret(match["name"]) or not match["value"]:
        return match[0]
    return f"{match['sep']}{match['name']}={HIDDEN}"


def _hide_text_secret(match: re.Match[str]) -> str:
    if match["value"] == HIDDEN:
        return match[0]
    return f"{match['name']}{match['eq']}{HIDDEN}"


class RedactingWriter(io.TextIOBase):
    """A text stream that writes `redact_text` of what it gets to `target` (for output of
    libraries that print URIs, e.g. the Azure ML SDK's log streaming)."""

    def __init__(self, target: TextIO) -> None:
        super().__init__()
        self.target = target

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.target.write(redact_text(text))
        return len(text)

    def flush(self) -> None:
        self.target.flush()


def redacting(target: TextIO) -> TextIO:
    """`target` behind a `RedactingWriter`."""
    return cast(TextIO, RedactingWriter(target))
