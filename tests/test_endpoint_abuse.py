"""The local endpoint against hostile and broken clients: raw sockets to 127.0.0.1 only.

Every bad request has its expected status; after each one the endpoint must still answer a valid
scoring request. Bounded: one endpoint, ~70 crafted requests, 30–50 slow sockets, 300 fuzz
cases, short read timeout (`READ_TIMEOUT`), no test waits longer than a few seconds.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops_actions.backends.endpoint import (
    DeploymentSpec,
    EndpointError,
    TrafficSplit,
    deployment_name,
    scoring_payload,
)
from mlops_actions.backends.local_endpoint import LocalEndpoint
from mlops_actions.backends.local_endpoint.state import read_admin_token
from mlops_actions.errors import InputError
from mlops_actions.processes import pid_alive
from tests.fault_model import Store, session_store

pytestmark = pytest.mark.slow
MODEL = "abuse-model"
MAX_BODY = 1024 * 1024
READ_TIMEOUT = 1.5
MAX_CONNECTIONS = 40


@dataclass
class Ctx:
    endpoint: LocalEndpoint
    port: int
    token: str
    deployment: str
    valid: bytes  # a valid scoring body

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    extra: bytes  # whatever the server sent after the first answer, until it closed


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return session_store(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory, store: Store) -> Iterator[Ctx]:
    state_dir = tmp_path_factory.mktemp("abuse") / ".mlops" / "endpoint"
    # What an older version left behind: world-readable state with inputs in it.
    (state_dir / "logs").mkdir(parents=True)
    state_dir.chmod(0o755)
    (state_dir / "logs").chmod(0o755)
    for old in ("predictions.jsonl", "router.log", "logs/old-v1.log"):
        (state_dir / old).write_text("{}\n")
        (state_dir / old).chmod(0o644)
    ep = LocalEndpoint.up(
        state_dir,
        tracking_uri=store.tracking_uri,
        preload="",
        max_body_bytes=MAX_BODY,
        read_timeout_seconds=READ_TIMEOUT,
        max_connections=MAX_CONNECTIONS,
    )
    try:
        version = store.version(MODEL)
        name = deployment_name(MODEL, version)
        ep.create_or_update_deployment(DeploymentSpec(name, MODEL, version, store.tracking_uri))
        ep.set_traffic(TrafficSplit.only(name))
        port = int(ep.base_url.rsplit(":", 1)[1])
        token = read_admin_token(ep.paths)
        assert token
        valid = json.dumps(scoring_payload(store.rows(2))).encode()
        yield Ctx(ep, port, token, name, valid)
    finally:
        pids = [int(ep.status()["pid"])]
        LocalEndpoint.down(state_dir)
        assert not [p for p in pids if pid_alive(p)]


# ---------------------------------------------------------------------- raw HTTP


def exchange(port: int, data: bytes, *, wait: float = 5.0, half_close: bool = False) -> Answer:
    """Send `data` on a new connection; read the first answer and anything after it."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        with contextlib.suppress(OSError):  # it may refuse and close before we sent it all
            sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except OSError:
                break
            if not chunk:
                break
            received += chunk
            answer = parse(received, head=data.startswith(b"HEAD "))
            if answer is not None and answer.headers.get("connection") != "close":
                break  # kept alive: one answer is all there is
    answer = parse(received, head=data.startswith(b"HEAD "))
    assert answer is not None, f"no HTTP answer, got {received[:200]!r}"
    return answer


def parse(received: bytes, *, head: bool = False) -> Answer | None:
    """The first answer in `received` (None while incomplete); `head`: it answers a HEAD."""
    top, sep, rest = received.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = top.decode("iso-8859-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = 0 if head else int(headers.get("content-length", "0"))
    if len(rest) < length:
        return None
    return Answer(status, headers, rest[:length], rest[length:])


def request(
    ctx: Ctx,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    host: str | None = None,
    token: str | None = None,
    content_type: str | None = "application/json",
    extra: dict[str, str] | None = None,
    length: str | None = None,
) -> bytes:
    head = [f"{method} {path} HTTP/1.1", f"Host: {host or ctx.host}"]
    if token:
        head.append(f"Authorization: Bearer {token}")
    if content_type:
        head.append(f"Content-Type: {content_type}")
    head.append(f"Content-Length: {length if length is not None else len(body)}")
    head += [f"{k}: {v}" for k, v in (extra or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("iso-8859-1") + body


def still_serves(ctx: Ctx) -> None:
    answer = exchange(ctx.port, request(ctx, "POST", "/score", ctx.valid))
    assert answer.status == 200, answer.body[:300]
    assert len(json.loads(answer.body)) == 2


def chunked(ctx: Ctx, chunks: list[bytes], *, end: bytes = b"0\r\n\r\n") -> bytes:
    head = (
        f"POST /score HTTP/1.1\r\nHost: {ctx.host}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    return head + b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks) + end


def deep(depth: int) -> bytes:
    return b'{"input_data": ' + b"[" * depth + b"]" * depth + b"}"


SPEC = json.dumps(
    {"model_name": "evil", "model_version": "1", "model_uri": "file:///tmp/evil-model"}
).encode()
WRONG = "x" * 43

# (label, request builder, expected status). Each is one bad request.
Case = tuple[str, Callable[[Ctx], bytes], int]
CASES: list[Case] = [
    # admin routes: the token
    ("state without token", lambda c: request(c, "GET", "/-/state"), 401),
    ("state with a wrong token", lambda c: request(c, "GET", "/-/state", token=WRONG), 401),
    ("state with an empty bearer", lambda c: request(c, "GET", "/-/state", token=" "), 401),
    (
        "state with Basic auth",
        lambda c: request(c, "GET", "/-/state", extra={"Authorization": f"Basic {c.token}"}),
        401,
    ),
    (
        "token with a different case",
        lambda c: request(c, "GET", "/-/state", token=c.token.swapcase()),
        401,
    ),
    ("file:// model without token", lambda c: request(c, "PUT", "/-/deployments/evil", SPEC), 401),
    (
        "file:// model with a wrong token",
        lambda c: request(c, "PUT", "/-/deployments/evil", SPEC, token=WRONG),
        401,
    ),
    ("shutdown without token", lambda c: request(c, "POST", "/-/shutdown", b"{}"), 401),
    ("delete without token", lambda c: request(c, "DELETE", f"/-/deployments/{c.deployment}"), 401),
    ("traffic without token", lambda c: request(c, "PUT", "/-/traffic", b'{"traffic":{}}'), 401),
    ("faults without token", lambda c: request(c, "PUT", "/-/faults", b"{}"), 401),
    ("unknown admin route without token", lambda c: request(c, "GET", "/-/nothing"), 401),
    (
        "unknown admin route with token",
        lambda c: request(c, "GET", "/-/nothing", token=c.token),
        404,
    ),
    # browsers: foreign origins and text/plain
    (
        "text/plain shutdown from a foreign Origin",
        lambda c: request(
            c,
            "POST",
            "/-/shutdown",
            b"{}",
            content_type="text/plain",
            extra={"Origin": "http://evil.example"},
        ),
        403,
    ),
    (
        "shutdown with token from a foreign Origin",
        lambda c: request(
            c, "POST", "/-/shutdown", b"{}", token=c.token, extra={"Origin": "https://evil.example"}
        ),
        403,
    ),
    (
        "text/plain shutdown with token",
        lambda c: request(
            c, "POST", "/-/shutdown", b"{}", token=c.token, content_type="text/plain"
        ),
        415,
    ),
    (
        "shutdown with no Content-Type",
        lambda c: request(c, "POST", "/-/shutdown", b"", token=c.token, content_type=None),
        415,
    ),
    (
        "form-encoded traffic with token",
        lambda c: request(
            c,
            "PUT",
            "/-/traffic",
            b"traffic=x",
            token=c.token,
            content_type="application/x-www-form-urlencoded",
        ),
        415,
    ),
    (
        "scoring from a foreign Origin",
        lambda c: request(c, "POST", "/score", c.valid, extra={"Origin": "http://evil.example"}),
        403,
    ),
    (
        "scoring from a null Origin",
        lambda c: request(c, "POST", "/score", c.valid, extra={"Origin": "null"}),
        403,
    ),
    (
        "text/plain scoring",
        lambda c: request(c, "POST", "/score", c.valid, content_type="text/plain"),
        415,
    ),
    (
        "scoring without Content-Type",
        lambda c: request(c, "POST", "/score", c.valid, content_type=None),
        415,
    ),
    # DNS rebinding: Host
    (
        "state with Host evil.example and token",
        lambda c: request(c, "GET", "/-/state", host="evil.example", token=c.token),
        421,
    ),
    (
        "state with Host evil.example:PORT",
        lambda c: request(c, "GET", "/-/state", host=f"evil.example:{c.port}", token=c.token),
        421,
    ),
    (
        "scoring with Host evil.example",
        lambda c: request(c, "POST", "/score", c.valid, host="evil.example"),
        421,
    ),
    (
        "swagger with Host evil.example",
        lambda c: request(c, "GET", "/swagger.json", host="evil.example"),
        421,
    ),
    ("Host without port", lambda c: request(c, "POST", "/score", c.valid, host="127.0.0.1"), 421),
    (
        "Host with another port",
        lambda c: request(c, "POST", "/score", c.valid, host="127.0.0.1:1"),
        421,
    ),
    (
        "no Host",
        lambda c: b"GET /swagger.json HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        400,
    ),
    (
        "two Host headers",
        lambda c: (
            f"GET /swagger.json HTTP/1.1\r\nHost: {c.host}\r\nHost: evil.example\r\n\r\n".encode()
        ),
        400,
    ),
    # lengths and bodies
    ("200 MB Content-Length", lambda c: request(c, "POST", "/score", length=str(200 * 2**20)), 413),
    (
        "Content-Length just over the cap",
        lambda c: request(c, "POST", "/score", length=str(MAX_BODY + 1)),
        413,
    ),
    (
        "huge Content-Length with Expect: 100-continue",
        lambda c: request(c, "POST", "/score", length=str(2**40), extra={"Expect": "100-continue"}),
        413,
    ),
    ("Content-Length -1", lambda c: request(c, "POST", "/score", c.valid, length="-1"), 400),
    ("Content-Length abc", lambda c: request(c, "POST", "/score", c.valid, length="abc"), 400),
    ("Content-Length +5", lambda c: request(c, "POST", "/score", c.valid, length="+5"), 400),
    ("Content-Length 1_0", lambda c: request(c, "POST", "/score", c.valid, length="1_0"), 400),
    ("Content-Length 5, 5", lambda c: request(c, "POST", "/score", c.valid, length="5, 5"), 400),
    ("Content-Length 10**30", lambda c: request(c, "POST", "/score", length="1" + "0" * 30), 400),
    (
        "two Content-Length headers",
        lambda c: request(c, "POST", "/score", c.valid, extra={"Content-Length": "1"}),
        400,
    ),
    (
        "Content-Length and Transfer-Encoding",
        lambda c: request(c, "POST", "/score", c.valid, extra={"Transfer-Encoding": "chunked"}),
        400,
    ),
    (
        "Transfer-Encoding gzip",
        lambda c: chunked(c, [c.valid]).replace(
            b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip"
        ),
        501,
    ),
    ("chunked, bad size", lambda c: chunked(c, [], end=b"zz\r\nab\r\n0\r\n\r\n"), 400),
    ("chunked, size 2**64", lambda c: chunked(c, [], end=b"10000000000000000\r\n"), 400),
    ("chunked, no CRLF after a chunk", lambda c: chunked(c, [], end=b"2\r\n{}XX0\r\n\r\n"), 400),
    ("chunked, over the cap", lambda c: chunked(c, [b" " * (MAX_BODY // 2)] * 3), 413),
    ("deep nesting", lambda c: request(c, "POST", "/score", deep(100_000)), 400),
    ("deep nesting, chunked", lambda c: chunked(c, [deep(50_000)]), 400),
    (
        "deep nesting in admin PUT",
        lambda c: request(c, "PUT", "/-/traffic", deep(100_000), token=c.token),
        400,
    ),
    ("invalid JSON", lambda c: request(c, "POST", "/score", b'{"input_data": [1,'), 400),
    ("invalid UTF-8", lambda c: request(c, "POST", "/score", b'{"input_data": "\xff\xfe"}'), 400),
    ("JSON that is not an object", lambda c: request(c, "POST", "/score", b"[1, 2]"), 400),
    ("empty body", lambda c: request(c, "POST", "/score", b""), 400),
    (
        "both input_data and dataframe_split",
        lambda c: request(c, "POST", "/score", b'{"input_data":{},"dataframe_split":{}}'),
        400,
    ),
    (
        "admin body not an object",
        lambda c: request(c, "PUT", "/-/traffic", b"[]", token=c.token),
        400,
    ),
    ("admin invalid JSON", lambda c: request(c, "PUT", "/-/traffic", b"{", token=c.token), 400),
    (
        "faults with a boolean",
        lambda c: request(c, "PUT", "/-/faults", b'{"metrics_failures": true}', token=c.token),
        400,
    ),
    (
        "metrics window nan",
        lambda c: request(c, "GET", f"/-/metrics/{c.deployment}?window=nan", token=c.token),
        400,
    ),
    (
        "unknown deployment header",
        lambda c: request(
            c, "POST", "/score", c.valid, extra={"azureml-model-deployment": "nope-v1"}
        ),
        404,
    ),
    (
        "swagger of an unknown deployment",
        lambda c: request(c, "GET", "/swagger.json", extra={"azureml-model-deployment": "nope-v1"}),
        404,
    ),
    # request lines and headers
    ("garbage request line", lambda c: b"GARBAGE\r\n\r\n", 400),
    ("request line with four parts", lambda c: b"GET / x HTTP/1.1\r\n\r\n", 400),
    ("request line with a double space", lambda c: b"GET  /score HTTP/1.1\r\n\r\n", 400),
    ("HTTP/2.0", lambda c: f"GET /swagger.json HTTP/2.0\r\nHost: {c.host}\r\n\r\n".encode(), 505),
    ("not HTTP", lambda c: b"GET /swagger.json SPDY/3\r\n\r\n", 400),
    (
        "absolute-form target",
        lambda c: f"GET http://evil.example/-/state HTTP/1.1\r\nHost: {c.host}\r\n\r\n".encode(),
        400,
    ),
    ("scheme-relative target", lambda c: request(c, "GET", "//evil.example/-/state"), 404),
    ("request line over 64 KB", lambda c: b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
    (
        "header line without colon",
        lambda c: f"GET /swagger.json HTTP/1.1\r\nHost: {c.host}\r\nnocolon\r\n\r\n".encode(),
        400,
    ),
    (
        "header name with a space",
        lambda c: f"GET /swagger.json HTTP/1.1\r\nHost : {c.host}\r\n\r\n".encode(),
        400,
    ),
    (
        "header line over 64 KB",
        lambda c: request(c, "GET", "/swagger.json", extra={"X-Big": "a" * 70_000}),
        431,
    ),
    (
        "101 headers",
        lambda c: request(c, "GET", "/swagger.json", extra={f"X-H{i}": "1" for i in range(101)}),
        431,
    ),
    ("binary request line", lambda c: b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
    # methods
    ("GET /score", lambda c: request(c, "GET", "/score"), 405),
    ("PUT /score", lambda c: request(c, "PUT", "/score", c.valid), 405),
    (
        "OPTIONS /score (CORS preflight)",
        lambda c: request(c, "OPTIONS", "/score", extra={"Origin": f"http://{c.host}"}),
        405,
    ),
    ("HEAD /score", lambda c: request(c, "HEAD", "/score"), 405),
    ("BREW /score", lambda c: request(c, "BREW", "/score"), 501),
    ("POST /swagger.json", lambda c: request(c, "POST", "/swagger.json", b"{}"), 405),
    (
        "DELETE /-/traffic with token",
        lambda c: request(c, "DELETE", "/-/traffic", token=c.token),
        405,
    ),
    ("GET /-/shutdown with token", lambda c: request(c, "GET", "/-/shutdown", token=c.token), 405),
    (
        "PATCH /-/state with token",
        lambda c: request(c, "PATCH", "/-/state", b"{}", token=c.token),
        405,
    ),
    # path traversal in deployment names
    (
        "GET deployment ../../etc/passwd",
        lambda c: request(c, "GET", "/-/deployments/..%2F..%2Fetc%2Fpasswd", token=c.token),
        400,
    ),
    (
        "PUT deployment ../evil",
        lambda c: request(c, "PUT", "/-/deployments/..%2Fevil", SPEC, token=c.token),
        400,
    ),
    (
        "PUT deployment with a slash",
        lambda c: request(c, "PUT", "/-/deployments/a/b", SPEC, token=c.token),
        400,
    ),
    (
        "DELETE deployment ../x",
        lambda c: request(c, "DELETE", "/-/deployments/../x", token=c.token),
        400,
    ),
    (
        "metrics of ../state",
        lambda c: request(c, "GET", "/-/metrics/..%2fstate", token=c.token),
        400,
    ),
    (
        "deployment name with NUL",
        lambda c: request(c, "GET", "/-/deployments/a%00b", token=c.token),
        400,
    ),
    ("raw NUL in the path", lambda c: b"GET /score\x00 HTTP/1.1\r\n\r\n", 400),
    ("route ../../etc/passwd", lambda c: request(c, "GET", "/../../etc/passwd"), 404),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_request_is_refused_and_the_endpoint_lives_on(ctx: Ctx, case: Case) -> None:
    label, build, expected = case
    started = time.monotonic()
    answer = exchange(ctx.port, build(ctx))
    assert answer.status == expected, (label, answer.status, answer.body[:300])
    assert time.monotonic() - started < 1.0, "refused at once, not after a timeout"
    assert (
        answer.status == 200
        or case[1](ctx).startswith(b"HEAD ")
        or json.loads(answer.body)["error"]
    )
    assert answer.extra == b"", "one answer only (a bad request line used to get 400 + 500)"
    if expected == 405:
        assert answer.headers["allow"] in ("GET", "POST", "GET, PUT", "PUT")
    still_serves(ctx)


def test_refused_admin_calls_changed_nothing(ctx: Ctx) -> None:
    for _, build, _ in CASES:  # every bad request again, then the state must be as it was
        exchange(ctx.port, build(ctx))
    assert pid_alive(int(ctx.endpoint.status()["pid"]))
    assert [d.name for d in ctx.endpoint.list_deployments()] == [ctx.deployment]
    assert ctx.endpoint.get_traffic() == TrafficSplit.only(ctx.deployment)
    still_serves(ctx)


EVIL_MODEL = """
import os
from pathlib import Path

import mlflow
from mlflow.pyfunc import PythonModel


class Evil(PythonModel):
    def load_context(self, context):
        Path(os.environ["EVIL_MARKER"]).write_text("ran")  # any code, as the endpoint's user

    def predict(self, context, model_input: list[str], params=None) -> list[int]:
        return [0] * len(model_input)


mlflow.models.set_model(Evil())
"""


def test_a_file_model_runs_code_only_for_the_token_holder(ctx: Ctx, tmp_path: Path) -> None:
    """`PUT /-/deployments/NAME` with a `file://` pyfunc runs its code: without the token it is
    refused and nothing runs; with it (our client) the same request does run it."""
    import mlflow.pyfunc

    code = tmp_path / "evil.py"
    code.write_text(EVIL_MODEL)
    model_dir = tmp_path / "evil-model"
    mlflow.pyfunc.save_model(str(model_dir), python_model=str(code), pip_requirements=[])
    marker = tmp_path / "marker"
    spec = {
        "model_name": "evil",
        "model_version": "1",
        "model_uri": model_dir.as_uri(),
        "environment": {"EVIL_MARKER": str(marker)},
    }
    body = json.dumps(spec).encode()
    for token in (None, WRONG, ctx.token[:-1]):
        answer = exchange(
            ctx.port, request(ctx, "PUT", "/-/deployments/evil-v1", body, token=token)
        )
        assert answer.status == 401
    assert not marker.exists() and ctx.endpoint.get_deployment("evil-v1") is None
    put = request(ctx, "PUT", "/-/deployments/evil-v1", body, token=ctx.token)
    answer = exchange(ctx.port, put, wait=60)
    assert answer.status == 200, answer.body[:300]
    try:
        assert marker.read_text() == "ran"  # the request the token guards does execute code
    finally:
        ctx.endpoint.delete_deployment("evil-v1")


def test_a_worker_loads_no_model_for_anyone_but_its_router(ctx: Ctx) -> None:
    """A deployment's own port is on 127.0.0.1 too: `/-/load` needs the router's secret, and
    Host and Origin are checked there as well."""
    [info] = [d for d in ctx.endpoint.status()["deployments"] if d["name"] == ctx.deployment]
    port = int(info["port"])
    worker = Ctx(ctx.endpoint, port, "", ctx.deployment, ctx.valid)
    load = request(worker, "POST", "/-/load", SPEC)
    assert exchange(port, load).status == 401
    wrong = request(worker, "POST", "/-/load", SPEC, extra={"x-mlops-worker-token": WRONG})
    assert exchange(port, wrong).status == 401
    rebound = request(worker, "POST", "/score", ctx.valid, host="evil.example")
    assert exchange(port, rebound).status == 421
    foreign = request(worker, "POST", "/score", ctx.valid, extra={"Origin": "http://evil.example"})
    assert exchange(port, foreign).status == 403
    plain = request(worker, "POST", "/score", ctx.valid, content_type="text/plain")
    assert exchange(port, plain).status == 415
    assert exchange(port, request(worker, "POST", "/score", length="-1")).status == 400
    assert exchange(port, request(worker, "POST", "/score", length=str(MAX_BODY + 1))).status == 413
    served = exchange(port, request(worker, "POST", "/score", ctx.valid))
    assert served.status == 200 and len(json.loads(served.body)["predictions"]) == 2
    still_serves(ctx)


def test_chunked_bodies_are_served(ctx: Ctx) -> None:
    half = len(ctx.valid) // 2
    answer = exchange(ctx.port, chunked(ctx, [ctx.valid[:half], ctx.valid[half:]]))
    assert answer.status == 200 and len(json.loads(answer.body)) == 2
    with_ext = chunked(ctx, [ctx.valid], end=b"0;ext=1\r\nX-Trailer: 1\r\n\r\n")
    assert exchange(ctx.port, with_ext).status == 200


def test_a_body_at_the_cap_is_read_and_one_byte_more_is_not(ctx: Ctx) -> None:
    body = ctx.valid[:-1] + b" " * (MAX_BODY - len(ctx.valid)) + b"}"
    assert len(body) == MAX_BODY
    assert exchange(ctx.port, request(ctx, "POST", "/score", body)).status == 200
    started = time.monotonic()
    answer = exchange(ctx.port, request(ctx, "POST", "/score", body + b" "))
    assert answer.status == 413 and time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    "partial",
    [
        "request line",
        "headers",
        "body",
        "chunked body",
    ],
)
def test_half_sent_requests_time_out_with_408(ctx: Ctx, partial: str) -> None:
    full = request(ctx, "POST", "/score", ctx.valid)
    data = {
        "request line": b"POST /sco",
        "headers": full[: full.index(b"\r\n") + 10],
        "body": full[: len(full) - 10],
        "chunked body": chunked(ctx, [ctx.valid])[:-20],
    }[partial]
    started = time.monotonic()
    answer = exchange(ctx.port, data, wait=READ_TIMEOUT + 3)
    waited = time.monotonic() - started
    assert answer.status == 408 and READ_TIMEOUT - 0.1 < waited < READ_TIMEOUT + 1.5
    still_serves(ctx)


def test_a_client_that_stops_mid_body_is_dropped(ctx: Ctx) -> None:
    full = request(ctx, "POST", "/score", ctx.valid)
    with socket.create_connection(("127.0.0.1", ctx.port), timeout=5) as sock:
        sock.sendall(full[:-10])
        sock.shutdown(socket.SHUT_WR)  # closes its side half-way through the body
        data = sock.recv(65536)
    answer = parse(data)
    assert data == b"" or (answer is not None and answer.status == 408)
    still_serves(ctx)


def test_idle_connections_are_closed_after_the_read_timeout(ctx: Ctx) -> None:
    with socket.create_connection(("127.0.0.1", ctx.port), timeout=READ_TIMEOUT + 3) as sock:
        started = time.monotonic()
        assert sock.recv(100) == b""  # closed without an answer: nothing was asked
        assert time.monotonic() - started < READ_TIMEOUT + 1


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no thread count")


def test_slowloris_cannot_starve_the_endpoint_and_threads_stay_bounded(ctx: Ctx) -> None:
    pid = int(ctx.endpoint.status()["pid"])
    slow: list[socket.socket] = []
    try:
        for _ in range(30):
            sock = socket.create_connection(("127.0.0.1", ctx.port), timeout=5)
            sock.sendall(f"POST /score HTTP/1.1\r\nHost: {ctx.host}\r\nContent-Le".encode())
            slow.append(sock)
        time.sleep(0.2)
        started = time.monotonic()
        assert ctx.endpoint.invoke(json.loads(ctx.valid)).status == 200
        assert time.monotonic() - started < 1.0  # served within a second, 30 slow sockets open
        # 20 more exceed the connection limit: those over it are refused at once, not queued.
        extra = [socket.create_connection(("127.0.0.1", ctx.port), timeout=5) for _ in range(20)]
        slow += extra
        refused = 0
        for sock in extra:
            sock.settimeout(0.5)
            try:
                data = sock.recv(4096)
            except TimeoutError:
                continue
            answer = parse(data)
            if answer is not None and answer.status == 503:
                refused += 1
        assert refused >= 50 - MAX_CONNECTIONS - 1
        threads = _threads(pid)
        assert threads <= MAX_CONNECTIONS + 12, f"{threads} threads for {len(slow)} sockets"
        # After the read timeout every slow request is answered 408 and its thread is free.
        deadline = time.monotonic() + READ_TIMEOUT + 2
        for sock in slow[:30]:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            answer = parse(sock.recv(4096))
            assert answer is not None and answer.status == 408
    finally:
        for sock in slow:
            sock.close()
    started = time.monotonic()
    assert ctx.endpoint.invoke(json.loads(ctx.valid)).status == 200
    assert time.monotonic() - started < 1.0
    assert _threads(pid) <= MAX_CONNECTIONS + 12


def test_state_is_private_and_up_tightened_what_was_there(ctx: Ctx) -> None:
    root = ctx.endpoint.paths.root

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    assert mode(root) == 0o700 and mode(root / "logs") == 0o700
    for name in ("admin.token", "predictions.jsonl", "router.log", "state.json", "up.lock"):
        assert mode(root / name) == 0o600, name
    logs = list((root / "logs").iterdir())
    assert {p.name for p in logs} >= {"old-v1.log", f"{ctx.deployment}.log"}
    assert all(mode(p) == 0o600 for p in logs)
    # A new deployment's log and the rewritten state are created private too.
    assert (root / "predictions.jsonl").stat().st_size > 4  # it did log predictions
    token = (root / "admin.token").read_text().strip()
    assert len(token) >= 40 and token == ctx.token
    assert ctx.token not in (root / "state.json").read_text()
    assert ctx.token not in (root / "router.log").read_text()


def test_a_replaced_token_is_refused_and_up_starts_no_second_router(ctx: Ctx) -> None:
    """The client reads the token file at every call; when it no longer matches, admin calls
    fail with a hint and `up` refuses to start a second router on the same state."""
    root = ctx.endpoint.paths.root
    before = read_admin_token(ctx.endpoint.paths)
    (root / "admin.token").write_text("stale\n")
    try:
        with pytest.raises(EndpointError, match="admin token"):
            ctx.endpoint.status()
        with pytest.raises(EndpointError, match="refuses the admin token"):
            LocalEndpoint.up(root)
    finally:
        (root / "admin.token").write_text(f"{before}\n")
    assert ctx.endpoint.status()["pid"] == LocalEndpoint.up(root).status()["pid"]


def test_up_refuses_impossible_limits(tmp_path: Path) -> None:
    impossible: list[dict[str, Any]] = [
        {"max_body_bytes": -1},
        {"read_timeout_seconds": 0},
        {"max_connections": 0},
    ]
    for limits in impossible:
        with pytest.raises(InputError, match="max_body_bytes must be"):
            LocalEndpoint.up(tmp_path / "endpoint", **limits)
    assert not (tmp_path / "endpoint").exists()  # refused before anything was created


# ---------------------------------------------------------------------- OpenAPI and fuzzing


def swagger(ctx: Ctx) -> dict[str, Any]:
    answer = exchange(ctx.port, request(ctx, "GET", "/swagger.json"))
    assert answer.status == 200
    document: dict[str, Any] = json.loads(answer.body)
    return document


def test_swagger_publishes_the_model_signature(ctx: Ctx, store: Store) -> None:
    document = swagger(ctx)
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {"/score", "/invocations"}
    schemas = document["components"]["schemas"]
    split = schemas["AzureInputData"]["properties"]["input_data"]
    assert split["properties"]["columns"]["const"] == list(store.features.columns)
    cells = split["properties"]["data"]["items"]["prefixItems"]
    types = dict(zip(store.features.columns, cells, strict=True))
    for column, dtype in store.features.dtypes.items():
        expected = {"i": "integer", "f": "number", "O": "string"}[dtype.kind]
        assert types[column]["type"] == expected, column
    records = schemas["DataframeRecords"]["properties"]["dataframe_records"]["items"]
    assert set(records["required"]) == set(store.features.columns)
    assert schemas["AzurePredictions"]["items"]["type"] == "integer"  # the model's output: labels
    post = document["paths"]["/score"]["post"]
    assert {"400", "413", "415", "421", "502", "503"} <= set(post["responses"])
    named = exchange(
        ctx.port,
        request(ctx, "GET", "/swagger.json", extra={"azureml-model-deployment": ctx.deployment}),
    )
    assert json.loads(named.body) == document


def _resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


_STRINGS = ["", "a", "debt_consolidation", "rent", "ü√∂", "\u0000", "x" * 300, "1e3", "null"]


def generate(schema: dict[str, Any], document: dict[str, Any], rng: random.Random) -> Any:
    """A random instance of `schema` (the subset of JSON Schema the document uses).

    Numbers stay within ±50: the test model's logistic formula overflows (and fails with 500,
    a model failure) for inputs in the hundreds, which is the model's behaviour, not the
    endpoint's.
    """
    schema = _resolve(schema, document)
    if "const" in schema:
        return schema["const"]
    if "oneOf" in schema:
        return generate(rng.choice(schema["oneOf"]), document, rng)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = rng.choice([k for k in kind if k != "null"] or kind)
    if kind == "object":
        props = schema.get("properties", {})
        required = schema.get("required", [])
        return {
            key: generate(sub, document, rng)
            for key, sub in props.items()
            if key in required or (key != "params" and rng.random() < 0.3)
        }
    if kind == "array":
        if "prefixItems" in schema:
            return [generate(sub, document, rng) for sub in schema["prefixItems"]]
        count = rng.randint(max(1, schema.get("minItems", 0)), 4)
        return [generate(schema.get("items", {}), document, rng) for _ in range(count)]
    if kind == "integer":
        return rng.randint(-50, 50)
    if kind == "number":
        return rng.choice([0.0, -0.0, 1.5, rng.uniform(-50, 50), 1e-300])
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "string":
        return rng.choice(_STRINGS)
    return None


_JUNK: list[Any] = [
    None, True, 0, -1, 2**63, -(2**63) - 1, 10**30, 1e308, -1e308, 0.5, "", "NaN", "Infinity",
    "1", "x" * 10_000, [], [None], {}, {"a": 1}, [[[[[]]]]], "\ud800",
]  # fmt: skip


def mutate(value: Any, rng: random.Random) -> Any:
    """`value` with one random change: a node replaced, removed or wrapped, or a key added."""
    if isinstance(value, dict) and value and rng.random() < 0.7:
        key = rng.choice(list(value))
        choice = rng.random()
        if choice < 0.2:
            return {k: v for k, v in value.items() if k != key}
        if choice < 0.3:
            return {
                **value,
                rng.choice(["extra", "columns", "index", "data", ""]): rng.choice(_JUNK),
            }
        return {**value, key: mutate(value[key], rng)}
    if isinstance(value, list) and value and rng.random() < 0.7:
        i = rng.randrange(len(value))
        choice = rng.random()
        if choice < 0.15:
            return value[:i] + value[i + 1 :]
        if choice < 0.25:
            return [*value, rng.choice(_JUNK)]
        return [*value[:i], mutate(value[i], rng), *value[i + 1 :]]
    if rng.random() < 0.1:
        return [value]
    return rng.choice(_JUNK)


def _index_fits(value: dict[str, Any]) -> bool:
    """What JSON Schema cannot say: a split body's `index` has one label per row of `data`."""
    split = value.get("input_data") or value.get("dataframe_split")
    if isinstance(split, dict) and "index" in split:
        return len(split["index"]) == len(split["data"])
    return True


def test_fuzz_the_scoring_contract_from_its_openapi_document(ctx: Ctx) -> None:
    """≤ 300 cases from the published document, seeded: no 5xx but 502/503, valid → 200."""
    import jsonschema

    document = swagger(ctx)
    post = document["paths"]["/score"]["post"]
    body_schema = post["requestBody"]["content"]["application/json"]["schema"]
    validator = jsonschema.Draft202012Validator(
        {**body_schema, "components": document["components"]}
    )
    rng = random.Random(20261202)
    statuses: dict[int, int] = {}
    failures: list[tuple[int, str]] = []
    valid_seen = invalid_seen = 0
    started = time.monotonic()
    cases = 300
    for i in range(cases):
        if time.monotonic() - started > 50:
            break
        value = generate(body_schema, document, rng)
        if i % 3:
            for _ in range(rng.randint(1, 3)):
                value = mutate(value, rng)
        if i % 25 == 24:  # bytes that are not even JSON
            raw = json.dumps(value).encode()[: rng.randint(0, 40)] + rng.choice(
                [b"", b"\xff", b"]"]
            )
            is_valid = False
        else:
            raw = json.dumps(value, allow_nan=False).encode() if value is not None else b"null"
            is_valid = validator.is_valid(value) and _index_fits(value)
        extra = {}
        if rng.random() < 0.1:
            extra["x-request-id"] = rng.choice(["ok-1", "bad id!", "a" * 200, ""])
        if rng.random() < 0.05:
            extra["azureml-model-deployment"] = rng.choice([ctx.deployment, "nope-v1"])
        answer = exchange(
            ctx.port, request(ctx, "POST", rng.choice(["/score", "/invocations"]), raw, extra=extra)
        )
        statuses[answer.status] = statuses.get(answer.status, 0) + 1
        if is_valid and extra.get("azureml-model-deployment") != "nope-v1":
            valid_seen += 1
            if answer.status != 200:
                failures.append((answer.status, f"valid {raw[:200]!r}: {answer.body[:200]!r}"))
        else:
            invalid_seen += 1
            if answer.status >= 500 and answer.status not in (502, 503):
                failures.append((answer.status, f"{raw[:200]!r}: {answer.body[:200]!r}"))
    elapsed = time.monotonic() - started
    print(f"fuzz: {valid_seen} valid, {invalid_seen} invalid, {elapsed:.1f} s, statuses {statuses}")
    assert not failures, failures[:5]
    assert valid_seen >= 50 and invalid_seen >= 100  # both sides were exercised
    assert set(statuses) - {200, 400, 404} == set(), statuses
    still_serves(ctx)
