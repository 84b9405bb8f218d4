"""The local endpoint router's HTTP server: scoring routes, `/swagger.json` and the admin API.

Admin routes under `/-/`: `health`, `state`, `deployments/<name>` (GET, PUT = create or update and
wait until healthy, DELETE), `traffic` and `mirror` (GET, PUT), `metrics/<name>?window=<seconds>`,
`faults` (PUT; makes the next metric reads fail, for failure tests), `shutdown` (POST).

Scoring and `/swagger.json` are open to local processes, as a model server's are. Admin routes
need `Authorization: Bearer <token>` (the router's admin token). Every route answers 421 unless
`Host` names this server (DNS rebinding), 403 when a foreign `Origin` sent it, and 415 when a
body that must be JSON has another `Content-Type` (those checks, and the HTTP limits, are
`_http`'s). Standard library only.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import threading
import traceback
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from mlops_actions.backends.local_endpoint._http import BoundedServer, HttpError, LeanHandler
from mlops_actions.backends.local_endpoint.routing import json_bytes

if TYPE_CHECKING:
    from mlops_actions.backends.local_endpoint.router import Router

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,62}$")
"""A valid deployment name: a letter, then letters, digits and hyphens."""

_SCORING = ("/score", "/invocations")
_SWAGGER = "/swagger.json"
# Admin routes: exact paths, then prefixes followed by a deployment name; their methods.
_ADMIN = {
    "/-/health": ("GET",),
    "/-/state": ("GET",),
    "/-/traffic": ("GET", "PUT"),
    "/-/mirror": ("GET", "PUT"),
    "/-/faults": ("PUT",),
    "/-/shutdown": ("POST",),
}
_ADMIN_PREFIXES = {"/-/deployments/": ("GET", "PUT", "DELETE"), "/-/metrics/": ("GET",)}


def allowed(path: str) -> tuple[bool, tuple[str, ...]] | None:
    """(is an admin route, its methods) for a known route; None for an unknown one."""
    if path in _SCORING:
        return False, ("POST",)
    if path == _SWAGGER:
        return False, ("GET",)
    if path in _ADMIN:
        return True, _ADMIN[path]
    for prefix, methods in _ADMIN_PREFIXES.items():
        if path.startswith(prefix):
            return True, methods
    if path.startswith("/-/"):
        return True, ()  # an unknown admin route: still only for those with the token
    return None


class RouterServer(BoundedServer):
    """The router's listening server; its handlers reach the router through `router`."""

    router: Router


class RouterHandler(LeanHandler):
    """One connection to the router: routes each request to scoring or the admin API."""

    server: RouterServer

    def _reply(self, result: tuple[int, dict[str, Any]]) -> None:
        self.send_body(result[0], json_bytes(result[1]))

    def _json_body(self) -> dict[str, Any]:
        try:
            value = json.loads(self.read_body() or b"{}")
        except (ValueError, RecursionError):
            raise HttpError(400, "the body is not valid JSON") from None
        if not isinstance(value, dict):
            raise HttpError(400, "the body must be a JSON object")
        return value

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except Exception:  # noqa: BLE001 (a bug must answer 500, not drop the connection)
            traceback.print_exc()
            self.answer_error(500, "internal error in the endpoint router")

    def _authorise(self) -> None:
        given = self.header_map.get("authorization", "")
        scheme, _, token = given.partition(" ")
        expected = self.server.router.admin_token
        if (
            scheme.lower() != "bearer"
            or not expected
            or not hmac.compare_digest(token.strip().encode("utf-8", "replace"), expected.encode())
        ):
            raise HttpError(401, "admin routes need the endpoint's admin token (Bearer)")

    def _dispatch(self) -> None:
        raw_path, _, raw_query = self.path.partition("?")
        path = unquote(raw_path)
        route = allowed(path)
        if route is None:
            raise HttpError(404, f"no route {path[:100]!r}")
        admin, methods = route
        if admin:
            self._authorise()
        if not methods:
            raise HttpError(404, f"no route {path[:100]!r}")
        if self.command not in methods:
            raise HttpError(
                405, f"{self.command} is not allowed on {path[:100]}", {"Allow": ", ".join(methods)}
            )
        if self.command in ("POST", "PUT"):
            self.require_json()
        router = self.server.router
        if not admin:
            if path == _SWAGGER:
                self.read_body()
                self._reply(router.swagger(self.header_map))
                return
            status, body, out = router.score(self.read_body(), self.header_map)
            self.send_body(status, body, out)
            return
        self._admin(router, self.command, path, parse_qs(raw_query))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch

    def _admin(self, router: Router, method: str, path: str, query: dict[str, list[str]]) -> None:
        body = self._json_body() if method in ("POST", "PUT") else None
        if body is None:
            self.read_body()  # a GET or DELETE body is read (within the limits) and ignored
        name = _deployment_name(path)
        if path == "/-/health":
            self._reply((200, {"status": "ok", "pid": os.getpid(), "url": router.url}))
        elif path == "/-/state":
            self._reply((200, router.state_dict()))
        elif path == "/-/shutdown":
            self._reply((200, {"status": "stopping"}))
            threading.Thread(target=router.shutdown, daemon=True).start()
        elif path == "/-/traffic":
            self._reply((200, router.traffic_dict()) if body is None else router.put_traffic(body))
        elif path == "/-/mirror":
            self._reply((200, router.mirror_dict()) if body is None else router.put_mirror(body))
        elif path == "/-/faults" and body is not None:
            self._reply(router.put_faults(_metrics_failures(body)))
        elif path.startswith("/-/metrics/"):
            self._reply(router.metrics_of(name, _window(query)))
        elif method == "PUT":
            assert body is not None
            self._reply(router.put_deployment(name, body))
        elif method == "DELETE":
            self._reply(router.delete_deployment(name))
        else:
            self._reply(router.get_deployment(name))


def _deployment_name(path: str) -> str:
    """The deployment a `/-/deployments/<name>` or `/-/metrics/<name>` path names ('' if none)."""
    name = ""
    for prefix in _ADMIN_PREFIXES:
        if path.startswith(prefix):
            name = path.removeprefix(prefix)
            if not NAME.match(name):
                raise HttpError(400, f"invalid deployment name {name[:80]!r}")
    return name


def _metrics_failures(body: dict[str, Any]) -> int:
    failures = body.get("metrics_failures", 0)
    if isinstance(failures, bool) or not isinstance(failures, int) or failures < 0:
        raise HttpError(400, "metrics_failures must be a whole number ≥ 0")
    return failures


def _window(query: dict[str, list[str]]) -> float:
    try:
        window = float(query.get("window", ["60"])[0])
    except ValueError:
        raise HttpError(400, "window must be a number of seconds") from None
    if not 0 <= window <= 1e9:  # also refuses nan
        raise HttpError(400, "window must be a number of seconds")
    return window
