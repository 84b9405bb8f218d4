"""Lean HTTP/1.1 serving for 127.0.0.1: a request handler and a bounded server (stdlib only).

The router adds one hop to every prediction, so its HTTP costs count: the standard library parses
headers with the `email` package and builds a file object per request, which is most of a
request's CPU here. So both ends parse plainly (the client side is `httpclient`, re-exported
here): request line, `Name: value` headers, a `Content-Length` or chunked body, keep-alive.

The server side assumes nothing of its peer (any local process, or a web page through a browser):
- `BoundedServer` serves at most `max_connections` connections at once, each on one of at most
  that many threads; one more is answered 503 at once and closed;
- a connection that sends nothing for `read_timeout` seconds is closed, and a request whose head
  and body have not fully arrived `read_timeout` seconds after its first byte is answered 408
  (one watchdog thread enforces it, so dripping one byte at a time does not extend it);
- every request must name this server in `Host` (127.0.0.1:PORT or localhost:PORT; else 421,
  against DNS rebinding) and come from no foreign `Origin` (else 403: a web page);
- a body larger than `max_body_bytes` is answered 413 from its `Content-Length`, before reading;
  bad lengths, malformed heads and bad chunked framing are answered 400, unknown methods 501,
  all as JSON `{"error": ...}`, and the connection is closed after every such answer.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, cast

from mlops_actions.backends.local_endpoint.httpclient import (
    MAX_HEADER_LINE,
    MAX_HEADERS,
    KeepAliveClient,
    Response,
    TimedOut,
    Unreachable,
)

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_READ_TIMEOUT",
    "MAX_HEADERS",
    "MAX_HEADER_LINE",
    "BoundedServer",
    "HttpError",
    "KeepAliveClient",
    "LeanHandler",
    "Response",
    "TimedOut",
    "Unreachable",
]

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_READ_TIMEOUT = 10.0
DEFAULT_MAX_CONNECTIONS = 64
_LENGTH = re.compile(r"^[0-9]{1,18}$")
_CHUNK_SIZE = re.compile(rb"^[0-9A-Fa-f]{1,15}$")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$")  # an HTTP method
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9a-z-]{1,256}$")
_SINGLE = ("content-length", "transfer-encoding", "host", "content-type", "authorization")


class HttpError(Exception):
    """A request the server answers with `status` and closes the connection after."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class BoundedServer(HTTPServer):
    """An HTTP server with a bounded number of connection threads and a read deadline.

    At most `max_connections` connections are served at once, each by one thread (threads are
    started as needed, never more than `max_connections`, and kept); one more connection is
    answered 503 at once and closed. A watchdog stops reading requests that are not complete
    `read_timeout` seconds after their first byte (see `LeanHandler`).
    """

    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[LeanHandler],
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if max_connections < 1 or read_timeout <= 0 or max_body_bytes < 0:
            raise ValueError("max_connections ≥ 1, read_timeout > 0 and max_body_bytes ≥ 0")
        self.max_connections = max_connections
        self.read_timeout = read_timeout
        self.max_body_bytes = max_body_bytes
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._queue: deque[tuple[socket.socket, Any]] = deque()
        self._busy = 0
        self._threads = 0
        self._deadlines: dict[LeanHandler, float] = {}
        self._closing = False
        super().__init__(address, handler)
        threading.Thread(target=self._watchdog, name="http-watchdog", daemon=True).start()

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up (a DNS query); 127.0.0.1 needs none.
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()[:2]
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            if self._busy >= self.max_connections:
                refuse = True
            else:
                refuse = False
                self._busy += 1
                self._queue.append((request, client_address))
                if self._threads < self._busy:
                    self._threads += 1
                    threading.Thread(
                        target=self._serve_connections, name="http", daemon=True
                    ).start()
                self._ready.notify()
        if refuse:
            _refuse(request)
            self.shutdown_request(request)

    def _serve_connections(self) -> None:
        while True:
            with self._lock:
                while not self._queue:
                    if self._closing:
                        return
                    self._ready.wait()
                request, client_address = self._queue.popleft()
            try:
                self.finish_request(request, client_address)
            except Exception:  # noqa: BLE001 (one connection's failure must not end the thread)
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)
                with self._lock:
                    self._busy -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a peer that went away mid-answer is not worth a traceback in the log

    def server_close(self) -> None:
        super().server_close()
        with self._lock:
            self._closing = True
            self._ready.notify_all()

    def connection_stats(self) -> dict[str, int]:
        with self._lock:
            return {"connections": self._busy, "threads": self._threads}

    def watch(self, handler: LeanHandler, deadline: float) -> None:
        with self._lock:
            self._deadlines[handler] = deadline

    def unwatch(self, handler: LeanHandler) -> None:
        with self._lock:
            self._deadlines.pop(handler, None)

    def _watchdog(self) -> None:
        while not self._closing:
            time.sleep(min(0.2, self.read_timeout / 4))
            now = time.monotonic()
            with self._lock:
                late = [h for h, deadline in self._deadlines.items() if deadline <= now]
                for handler in late:
                    del self._deadlines[handler]
            for handler in late:
                handler.timed_out = True
                with contextlib.suppress(OSError):
                    # A blocked read returns end-of-file; the answer (408) can still be written.
                    handler.connection.shutdown(socket.SHUT_RD)


def _refuse(request: Any) -> None:
    body = b'{"error":"the endpoint serves too many connections; retry shortly"}'
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    )
    with contextlib.suppress(OSError):
        request.setblocking(False)
        request.send(head.encode("ascii") + body)


class LeanHandler(BaseHTTPRequestHandler):
    """`BaseHTTPRequestHandler` with a plain header parser, limits and one write per answer.

    `self.headers` is a dict with lowercased names. Headers and body leave in one segment with
    Nagle off: in two segments they would meet the peer's delayed ACK (~40 ms per request).
    Runs under a `BoundedServer`, whose `read_timeout` and `max_body_bytes` it applies.
    """

    protocol_version = "HTTP/1.1"
    wbufsize = -1
    disable_nagle_algorithm = True
    server: BoundedServer
    timed_out = False

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.read_timeout)  # every operation: idle, read, write

    def handle_one_request(self) -> None:
        self.close_connection = True  # until a whole request was read and answered
        self.command, self.requestline, self.request_version = "", "", "HTTP/1.1"
        self.headers = {}  # type: ignore[assignment]
        self._body_read = False
        self._reading = True
        try:
            reader = cast(io.BufferedReader, self.rfile)
            if not reader.peek(1):  # waits up to read_timeout for the next request
                return
        except (TimeoutError, OSError, ValueError):
            return
        self.server.watch(self, time.monotonic() + self.server.read_timeout)
        try:
            self.raw_requestline = self.rfile.readline(MAX_HEADER_LINE + 1)
            if not self.parse_request():
                return
            method = getattr(self, f"do_{self.command}", None)
            if method is None:
                raise HttpError(501, f"method {self.command[:32]} is not supported")
            method()
            self.wfile.flush()
        except HttpError as exc:
            self.answer_error(exc.status, exc.message, exc.headers)
        except TimeoutError:
            if self._reading:
                self.answer_error(408, "the request did not arrive in time")
            else:  # the answer could not be written: nothing more to say
                self.close_connection = True
        except ConnectionError:
            self.close_connection = True
        finally:
            self.server.unwatch(self)

    def answer_error(
        self, status: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        """Answer a request we will not serve, then close the connection (best effort)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.send_body(status, json.dumps({"error": message}).encode(), headers)
            self.wfile.flush()
            self._linger()

    def _linger(self, seconds: float = 0.5, most: int = 1 << 20) -> None:
        """Read (and drop) what the peer still sends for a moment before closing, so the
        answer is not lost to the reset that closing with unread input causes."""
        self.connection.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + seconds
        drained = 0
        while drained < most:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self.connection.settimeout(remaining)
            chunk = self.connection.recv(65536)
            if not chunk:
                return
            drained += len(chunk)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        self.answer_error(code, message or explain or "error")

    def parse_request(self) -> bool:
        raw: bytes = getattr(self, "raw_requestline", b"")  # set by handle_one_request
        if not raw.endswith(b"\n"):
            if self.timed_out or (raw and len(raw) <= MAX_HEADER_LINE):
                raise HttpError(408, "the request line did not arrive in time")
            raise HttpError(414, "request line too long")
        line = str(raw, "iso-8859-1").rstrip("\r\n")
        self.requestline = line
        self.request_version = "HTTP/1.1"
        parts = line.split(" ")
        if len(parts) != 3 or not _TOKEN.match(parts[0]) or not parts[1]:
            raise HttpError(400, f"bad request line {line[:80]!r}")
        command, path, version = parts
        if version not in ("HTTP/1.0", "HTTP/1.1"):
            if not version.startswith("HTTP/"):
                raise HttpError(400, f"bad request line {line[:80]!r}")
            raise HttpError(505, f"unsupported version {version[:20]!r}")
        if not path.startswith("/") or any(c in path for c in "\x00\t#"):
            raise HttpError(400, "the request target must be a path starting with /")
        self.command, self.path, self.request_version = command, path, version
        headers = self._read_headers()
        self.headers = headers  # type: ignore[assignment]
        if "content-length" not in headers and "transfer-encoding" not in headers:
            self._reading_done()
        connection = headers.get("connection", "").lower()
        if version == "HTTP/1.0":
            self.close_connection = connection != "keep-alive"
        else:
            self.close_connection = connection == "close"
        self.check_host()
        self.check_origin()
        return True

    def _read_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        while True:
            line = self.rfile.readline(MAX_HEADER_LINE + 1)
            if not line.endswith(b"\n"):
                if len(line) > MAX_HEADER_LINE:
                    raise HttpError(431, "a header line is too long")
                raise HttpError(408, "the request headers did not arrive in time")
            if line in (b"\r\n", b"\n"):
                return headers
            if len(headers) >= MAX_HEADERS:
                raise HttpError(431, f"more than {MAX_HEADERS} headers")
            name, sep, value = line.decode("iso-8859-1").partition(":")
            name = name.lower()
            if not sep or not _HEADER_NAME.match(name):
                raise HttpError(400, "malformed header line")
            if name in headers and name in _SINGLE:
                raise HttpError(400, f"more than one {name} header")
            headers[name] = value.strip()

    @property
    def header_map(self) -> dict[str, str]:
        """The request's headers, names lowercased."""
        return self.headers  # type: ignore[return-value]

    def _reading_done(self) -> None:
        self._body_read = True
        self._reading = False
        self.server.unwatch(self)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def send_body(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self) -> bytes:
        """The request body (Content-Length or chunked), at most `max_body_bytes`.

        Raises HttpError: 400 for a bad length or chunked framing, 413 when too large (from
        the header, before reading), 501 for another transfer coding, 408 when it does not
        arrive in time. Reads it once; later calls answer b"".
        """
        if self._body_read:
            return b""
        self._body_read = True
        body = self._read_body()
        self._reading_done()
        return body

    def _read_body(self) -> bytes:
        headers = self.header_map
        limit = self.server.max_body_bytes
        coding = headers.get("transfer-encoding")
        length_text = headers.get("content-length")
        if coding is not None:
            if coding.strip().lower() != "chunked":
                raise HttpError(501, f"transfer coding {coding[:40]!r} is not supported")
            if length_text is not None:
                raise HttpError(400, "both Content-Length and Transfer-Encoding")
            self._continue()
            return self._read_chunked(limit)
        if length_text is None:
            return b""
        if not _LENGTH.match(length_text):
            raise HttpError(400, f"Content-Length {length_text[:40]!r} is not a length")
        length = int(length_text)
        if length > limit:
            raise HttpError(413, f"the body is larger than {limit} bytes")
        if not length:
            return b""
        self._continue()
        body = self.rfile.read(length)
        if len(body) != length:
            raise HttpError(408, "the body did not arrive in time")
        return body

    def _continue(self) -> None:
        expect = self.header_map.get("expect", "")
        if expect.lower() == "100-continue" and self.request_version == "HTTP/1.1":
            self.send_response_only(100)
            self.end_headers()
            self.wfile.flush()

    def _read_chunked(self, limit: int) -> bytes:
        body = bytearray()
        while True:
            line = self.rfile.readline(1024)
            if not line.endswith(b"\n"):
                raise HttpError(408 if len(line) < 1024 else 400, "bad or incomplete chunk")
            size_text = line.split(b";", 1)[0].strip()
            if not _CHUNK_SIZE.match(size_text):
                raise HttpError(400, "bad chunk size")
            size = int(size_text, 16)
            if size == 0:
                break
            if len(body) + size > limit:
                raise HttpError(413, f"the body is larger than {limit} bytes")
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                raise HttpError(408, "the body did not arrive in time")
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise HttpError(400, "a chunk does not end with CRLF")
            body += chunk
        for _ in range(MAX_HEADERS + 1):  # trailers, ignored
            line = self.rfile.readline(MAX_HEADER_LINE + 1)
            if line in (b"\r\n", b"\n"):
                return bytes(body)
            if not line.endswith(b"\n"):
                raise HttpError(408, "the body did not arrive in time")
        raise HttpError(431, "too many trailers")

    def check_host(self) -> None:
        """Refuse a Host other than this server's address (DNS rebinding) with 421."""
        host = self.header_map.get("host")
        if not host:
            raise HttpError(400, "the Host header is missing")
        if host.lower() not in (f"127.0.0.1:{self.server.port}", f"localhost:{self.server.port}"):
            raise HttpError(421, f"this server does not answer for Host {host[:80]!r}")

    def check_origin(self) -> None:
        """Refuse requests that a web page of another origin sent through a browser (403)."""
        origin = self.header_map.get("origin")
        port = self.server.port
        if origin is not None and origin.lower() not in (
            f"http://127.0.0.1:{port}",
            f"http://localhost:{port}",
        ):
            raise HttpError(403, f"requests from origin {origin[:80]!r} are not accepted")

    def require_json(self) -> None:
        """Refuse a body whose Content-Type is not JSON (415): browsers send text/plain
        cross-origin without asking first."""
        value = self.header_map.get("content-type", "")
        media = value.split(";", 1)[0].strip().lower()
        if media != "application/json" and not (
            media.startswith("application/") and media.endswith("+json")
        ):
            raise HttpError(415, f"Content-Type must be application/json, not {value[:60]!r}")
