"""Route tables of the fake Azure ML service: method + path pattern -> handler, first match wins.

A handler gets the request, the path match and whatever the caller passes to ``dispatch`` (the
endpoint of a scoring host, the region of a metrics host). A handler that returns ``None`` means
"no such route": the request is recorded in ``fake.unhandled`` and answered 404. Handlers raise
``HttpError`` for resources that do not exist. Routes with method ``*`` that only check a
resource exists come after the specific ones, so an unknown name is a 404 of the service even on
a sub-path the fake does not serve.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tests.fakes.azureml.model import RecordedRequest

Handler = Callable[..., Any]

# one path segment (names never contain "/": the path is split on it)
NAME = r"[^/]+"


@dataclass(frozen=True)
class Route:
    """``methods`` None matches any method; ``pattern`` must match the whole path."""

    methods: frozenset[str] | None
    pattern: re.Pattern[str]
    handler: Handler


def route(methods: str, pattern: str, handler: Handler, flags: int = 0) -> Route:
    """One route; ``methods`` is ``"GET"``, ``"PUT PATCH"`` or ``"*"`` (any)."""
    wanted = None if methods == "*" else frozenset(methods.split())
    return Route(wanted, re.compile(pattern, flags), handler)


class RouteTable:
    """An ordered list of routes."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = list(routes)

    def dispatch(self, req: RecordedRequest, path: str | None = None, **context: Any) -> Any:
        """Call the first route matching ``req.method`` and ``path`` (default ``req.path``);
        None when no route matches or the handler declines."""
        target = req.path if path is None else path
        for candidate in self.routes:
            if candidate.methods is not None and req.method not in candidate.methods:
                continue
            match = candidate.pattern.fullmatch(target)
            if match:
                return candidate.handler(req, match, **context)
        return None
