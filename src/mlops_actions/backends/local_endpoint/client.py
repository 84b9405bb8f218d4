"""`LocalEndpoint`: the `Endpoint` interface over the local router's admin API, and its daemon.

Starting and stopping the router process is `launcher`'s; this module holds the client side.

Admin calls carry the router's admin token (`Authorization: Bearer`, read from the 0600
`admin.token` in the state directory, which the router rewrites at every start); scoring calls
need none.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict, Unpack
from urllib.parse import quote, urlsplit

from mlops_actions.backends.endpoint import (
    DEPLOYMENT_HEADER,
    REQUEST_ID_HEADER,
    SOURCE_HEADER,
    DeploymentFailed,
    DeploymentInfo,
    DeploymentMetrics,
    DeploymentSpec,
    Endpoint,
    EndpointError,
    Invocation,
    MetricsUnavailable,
    MirrorTraffic,
    TrafficSplit,
    UnknownDeployment,
)
from mlops_actions.backends.local_endpoint._http import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_READ_TIMEOUT,
)
from mlops_actions.backends.local_endpoint.httpclient import (
    KeepAliveClient,
    Response,
    TimedOut,
    Unreachable,
)
from mlops_actions.backends.local_endpoint.launcher import (
    ROUTER_MODULE,
    WORKER_MODULE,
    launch,
    locked,
    router_command,
    stop_processes,
)
from mlops_actions.backends.local_endpoint.predlog import DURABILITY_MODES, Durability
from mlops_actions.backends.local_endpoint.state import (
    Paths,
    read_admin_token,
    read_state,
    secure,
    tail,
)
from mlops_actions.errors import InputError
from mlops_actions.processes import pid_alive

__all__ = ["ROUTER_MODULE", "WORKER_MODULE", "LocalEndpoint"]

_ADMIN_TIMEOUT = 10.0


class _AdminOptions(TypedDict, total=False):
    timeout: float
    """Seconds to wait for the answer (default _ADMIN_TIMEOUT)."""
    ok: tuple[int, ...]
    """The statuses that are not an error (default 200)."""


class LocalEndpoint(Endpoint):
    """The local endpoint whose files live in `state_dir` (see `state.Paths`).

    Use `LocalEndpoint.up(state_dir)` to start it (idempotent) or `connect` to reach a running one;
    `down` stops the router and every deployment's process but keeps the state, so the next
    `up` brings the deployments, traffic and mirror back.
    """

    backend = "local"
    inspect_hint = "`mlops endpoint status`"

    def __init__(self, state_dir: Path, url: str, name: str = "local") -> None:
        self.paths = Paths(state_dir)
        self.name = name
        self._url = url.rstrip("/")
        parts = urlsplit(self._url)
        self._http = KeepAliveClient(parts.hostname or "127.0.0.1", parts.port or 80)

    # ------------------------------------------------------------------ daemon

    @classmethod
    def up(
        cls,
        state_dir: Path,
        *,
        name: str = "local",
        port: int | None = None,
        durability: Durability | None = None,
        tracking_uri: str | None = None,
        preload: str | None = None,
        timeout_seconds: float = 60.0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        read_timeout_seconds: float = DEFAULT_READ_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> LocalEndpoint:
        """Start the endpoint in the background unless it runs; returns once it answers.

        `tracking_uri` is where deployments will usually load models from (the workers' fork
        server prepares for it); `preload` lists model libraries to import ahead of time
        (comma-separated; default scikit-learn and skops). HTTP limits: bodies up to
        `max_body_bytes` (larger: 413), a request's head and body within
        `read_timeout_seconds` of its first byte (else 408; idle connections close after as
        long), at most `max_connections` connections at once (more: 503). Idempotent: when it
        already runs, it is returned as it is (its port, durability and limits unchanged).
        Either way the state directory is made private (0700, files 0600). Raises
        EndpointError when it cannot start (the router log says why).
        """
        if max_body_bytes < 0 or read_timeout_seconds <= 0 or max_connections < 1:
            raise InputError(
                "max_body_bytes must be ≥ 0, read_timeout_seconds > 0 and max_connections ≥ 1;"
            )
        paths = Paths(state_dir.resolve())
        secure(paths)
        with locked(paths.lock):
            running = cls._running(paths, refused_is_error=True)
            if running is not None:
                return running
            previous = read_state(paths)
            chosen_port = port if port is not None else int(previous.get("port") or 0)
            mode = durability or previous.get("durability") or "write"
            if mode not in DURABILITY_MODES:
                raise InputError(f"durability must be one of {', '.join(DURABILITY_MODES)};")
            command = router_command(
                paths,
                port=chosen_port,
                fallback=port is None,  # the previous port may be taken by now
                name=name,
                durability=str(mode),
                preload=preload,
                limits=(max_body_bytes, read_timeout_seconds, max_connections),
            )
            url = launch(command, paths, tracking_uri, timeout_seconds)
            endpoint = cls(paths.root, url, name)
            endpoint._wait_healthy(time.monotonic() + timeout_seconds)
            return endpoint

    @classmethod
    def connect(cls, state_dir: Path) -> LocalEndpoint:
        """The running endpoint; raises EndpointError when it is not running."""
        paths = Paths(state_dir.resolve())
        running = cls._running(paths)
        if running is None:
            raise EndpointError(
                f"the local endpoint is not running (state in {paths.root});",
                hint="start it with `mlops endpoint up`.",
            )
        return running

    @classmethod
    def _running(cls, paths: Paths, *, refused_is_error: bool = False) -> LocalEndpoint | None:
        """The endpoint when it runs and answers our token; None when it does not run.

        With `refused_is_error`, a router that runs but refuses the token (its token file was
        replaced) raises EndpointError rather than counting as stopped: starting a second
        router on the same state would be worse.
        """
        state = read_state(paths)
        pid, url = state.get("pid"), state.get("url")
        if not isinstance(pid, int) or not url or not pid_alive(pid):
            return None
        endpoint = cls(paths.root, str(url), str(state.get("name") or "local"))
        try:
            answer = endpoint._http.request(
                "GET", "/-/health", headers=endpoint._auth(), timeout=2.0
            )
        except (Unreachable, TimedOut):
            return None
        if answer.status == 401 and refused_is_error:
            raise EndpointError(
                f"the local endpoint (pid {pid}) runs but refuses the admin token in "
                f"{paths.admin_token};",
                hint="stop it with `mlops endpoint down` (it falls back to signals), then "
                "`mlops endpoint up`.",
            )
        if answer.status != 200 or json.loads(answer.body).get("pid") != pid:
            return None
        return endpoint

    def _wait_healthy(self, deadline: float) -> None:
        while True:
            try:
                answer = self._http.request("GET", "/-/health", headers=self._auth(), timeout=2.0)
                if answer.status == 200:
                    return
            except (Unreachable, TimedOut):
                pass
            if time.monotonic() > deadline:
                raise EndpointError(
                    "the local endpoint started but does not answer;",
                    hint=f"see {self.paths.router_log}.",
                )
            time.sleep(0.05)

    @classmethod
    def down(cls, state_dir: Path, *, timeout_seconds: float = 15.0) -> bool:
        """Stop the router and every deployment process; True when something was running.

        Asks the router to shut down, then falls back to SIGTERM and SIGKILL of the processes
        named in the state file (only when they still run our modules).
        """
        paths = Paths(state_dir.resolve())
        state = read_state(paths)
        router_pid = state.get("pid") if isinstance(state.get("pid"), int) else None
        workers = [
            d.get("pid")
            for d in (state.get("deployments") or {}).values()
            if isinstance(d.get("pid"), int)
        ]
        was_running = bool(router_pid and pid_alive(router_pid))
        running = cls._running(paths)
        if running is not None:
            with contextlib.suppress(Unreachable, TimedOut):
                running._http.request("POST", "/-/shutdown", b"{}", running._auth(), timeout=5.0)
        stop_processes(router_pid, workers, time.monotonic() + timeout_seconds)
        return was_running

    def status(self) -> dict[str, Any]:
        """Name, URL, deployments, traffic and mirror as the router reports them."""
        return self._admin("GET", "/-/state")

    def wait_ready(self, timeout_seconds: float, *, poll_seconds: float = 0.1) -> float:
        """Wait until no deployment is `starting` (e.g. the ones `up` restores); returns the
        seconds waited.

        Raises DeploymentFailed, with the deployment's log tail, when one that was starting
        fails, or when one is still starting after `timeout_seconds` (it goes on starting).
        Deployments that had already failed are left as they are (`status` shows them).
        """
        started = time.monotonic()
        deadline = started + timeout_seconds
        watched: set[str] = set()
        while True:
            states = {
                str(d.get("name")): (str(d.get("state")), str(d.get("error") or ""))
                for d in self.status().get("deployments", [])
            }
            starting = sorted(n for n, (state, _) in states.items() if state == "starting")
            watched.update(starting)
            failed = sorted(n for n in watched if states.get(n, ("",))[0] == "failed")
            if failed:
                name = failed[0]
                raise DeploymentFailed(
                    f"deployment {name} did not become ready: {states[name][1]};",
                    hint=f"see {self.paths.deployment_log(name)}.",
                    log_tail=self.deployment_log_tail(name),
                )
            if not starting:
                return time.monotonic() - started
            if time.monotonic() >= deadline:
                name = starting[0]
                others = f" (also starting: {', '.join(starting[1:])})" if starting[1:] else ""
                raise DeploymentFailed(
                    f"deployment {name} is still starting after {timeout_seconds:g} s{others};",
                    hint=f"it keeps starting in the background: wait longer, or see "
                    f"{self.paths.deployment_log(name)}.",
                    log_tail=self.deployment_log_tail(name),
                )
            time.sleep(min(poll_seconds, max(0.0, deadline - time.monotonic())))

    # ------------------------------------------------------------------ Endpoint

    @property
    def url(self) -> str:
        return f"{self._url}/score"

    @property
    def base_url(self) -> str:
        return self._url

    def _auth(self) -> dict[str, str]:
        """The admin token header (read at every call: a restarted router has a new one)."""
        token = read_admin_token(self.paths)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _admin(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        **options: Unpack[_AdminOptions],
    ) -> dict[str, Any]:
        """`_admin_status` without the status."""
        return self._admin_status(method, path, body, **options)[1]

    def _admin_status(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        timeout: float = _ADMIN_TIMEOUT,
        ok: tuple[int, ...] = (200,),
    ) -> tuple[int, dict[str, Any]]:
        """One admin call with retries on connection errors; (status, JSON object)."""
        data = json.dumps(body).encode() if body is not None else None
        answer: Response | None = None
        for attempt in range(3):
            try:
                answer = self._http.request(method, path, data, self._auth(), timeout=timeout)
                break
            except Unreachable as exc:
                if attempt == 2:
                    raise EndpointError(
                        f"the local endpoint at {self._url} cannot be reached ({exc});",
                        hint=f"start it with `mlops endpoint up` (log: {self.paths.router_log}).",
                    ) from None
                time.sleep(0.2 * (attempt + 1))
            except TimedOut:
                raise EndpointError(
                    f"the local endpoint did not answer {method} {path} in {timeout:g} s;",
                    hint=f"see {self.paths.router_log}.",
                ) from None
        assert answer is not None
        try:
            value = json.loads(answer.body) if answer.body else {}
        except ValueError:
            value = {"error": answer.body[:300].decode("utf-8", errors="replace")}
        if not isinstance(value, dict):
            value = {"value": value}
        if answer.status in ok:
            return answer.status, value
        error = str(value.get("error", value))
        if answer.status == 404:
            raise UnknownDeployment(f"{error};", hint="see `mlops endpoint status`.")
        if answer.status in (400, 409):
            raise InputError(f"{error};")
        if answer.status == 401:
            raise EndpointError(
                f"the local endpoint refused {method} {path}: {error};",
                hint=f"its admin token is {self.paths.admin_token}, rewritten by every "
                "`mlops endpoint up`: run it as the user who started the endpoint.",
            )
        raise EndpointError(f"the local endpoint refused {method} {path}: {error}")

    def create_or_update_deployment(self, spec: DeploymentSpec) -> DeploymentInfo:
        body = {
            "model_name": spec.model_name,
            "model_version": str(spec.model_version),
            "model_uri": spec.model_uri,
            "tracking_uri": spec.tracking_uri,
            "registry_uri": spec.registry_uri,
            "environment": dict(spec.environment),
            "ready_timeout_seconds": spec.ready_timeout_seconds,
        }
        status, value = self._admin_status(
            "PUT",
            f"/-/deployments/{quote(spec.name)}",
            body,
            timeout=spec.ready_timeout_seconds + 15,
            ok=(200, 502),
        )
        if status != 200:
            raise DeploymentFailed(
                f"{value['error']};",
                hint=f"see {self.paths.deployment_log(spec.name)}.",
                log_tail=str(value.get("log_tail") or ""),
            )
        return _info(value)

    def get_deployment(self, name: str) -> DeploymentInfo | None:
        try:
            return _info(self._admin("GET", f"/-/deployments/{quote(name)}"))
        except UnknownDeployment:
            return None

    def list_deployments(self) -> list[DeploymentInfo]:
        return [_info(d) for d in self.status().get("deployments", [])]

    def delete_deployment(self, name: str) -> None:
        self._admin("DELETE", f"/-/deployments/{quote(name)}")

    def get_traffic(self) -> TrafficSplit:
        return TrafficSplit(self._admin("GET", "/-/traffic").get("traffic") or {})

    def set_traffic(self, split: TrafficSplit) -> None:
        self._admin("PUT", "/-/traffic", {"traffic": split.as_dict()})

    def get_mirror(self) -> MirrorTraffic:
        value = self._admin("GET", "/-/mirror")
        return MirrorTraffic(value.get("deployment"), int(value.get("percent") or 0))

    def set_mirror(self, mirror: MirrorTraffic) -> None:
        body = {"deployment": mirror.deployment, "percent": mirror.percent}
        self._admin("PUT", "/-/mirror", body)

    def invoke(
        self,
        payload: Mapping[str, Any],
        *,
        deployment: str | None = None,
        request_id: str | None = None,
        timeout_seconds: float = 30.0,
        source: str | None = None,
    ) -> Invocation:
        headers = {}
        if source:
            headers[SOURCE_HEADER] = source
        if deployment:
            headers[DEPLOYMENT_HEADER] = deployment
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id
        data = json.dumps(payload, default=str).encode()
        started = time.perf_counter()
        try:
            answer = self._http.request("POST", "/score", data, headers, timeout=timeout_seconds)
        except TimedOut:
            latency = (time.perf_counter() - started) * 1000
            return Invocation(504, "timed out", request_id or "", deployment or "", latency)
        except Unreachable as exc:
            raise EndpointError(
                f"the local endpoint at {self._url} cannot be reached ({exc});",
                hint="start it with `mlops endpoint up`.",
            ) from None
        latency = (time.perf_counter() - started) * 1000
        try:
            body: Any = json.loads(answer.body)
        except ValueError:
            body = answer.body.decode("utf-8", errors="replace")
        if answer.status == 404 and deployment:
            raise UnknownDeployment(
                f"the endpoint has no deployment named {deployment!r};",
                hint="see `mlops endpoint status`.",
            )
        return Invocation(
            answer.status,
            body,
            answer.headers.get(REQUEST_ID_HEADER, request_id or ""),
            answer.headers.get(DEPLOYMENT_HEADER, deployment or ""),
            latency,
        )

    def metrics(self, deployment: str, window_seconds: float) -> DeploymentMetrics:
        try:
            value = self._admin(
                "GET", f"/-/metrics/{quote(deployment)}?window={window_seconds:g}", timeout=5.0
            )
        except UnknownDeployment:
            raise
        except EndpointError as exc:
            raise MetricsUnavailable(str(exc)) from None
        return DeploymentMetrics(
            deployment=deployment,
            window_seconds=float(value.get("window_seconds", window_seconds)),
            requests=int(value.get("requests", 0)),
            errors={k: int(v) for k, v in (value.get("errors") or {}).items()},
            p50_ms=value.get("p50_ms"),
            p95_ms=value.get("p95_ms"),
            p99_ms=value.get("p99_ms"),
        )

    # ------------------------------------------------------------------ local extras

    def inject_metric_failures(self, count: int) -> None:
        """Make the next `count` metric reads fail (for failure tests of canary analysis)."""
        self._admin("PUT", "/-/faults", {"metrics_failures": count})

    def deployment_log_tail(self, name: str, lines: int = 20) -> str:
        return tail(self.paths.deployment_log(name), lines)


def _info(value: Mapping[str, Any]) -> DeploymentInfo:
    state = str(value.get("state", "failed"))
    return DeploymentInfo(
        name=str(value["name"]),
        model_name=str(value.get("model_name", "")),
        model_version=str(value.get("model_version", "")),
        state=state if state in ("starting", "ready", "failed", "stopped") else "failed",  # type: ignore[arg-type]
        error=str(value.get("error") or ""),
    )
