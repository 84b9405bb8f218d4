"""A lean HTTP/1.1 keep-alive client for 127.0.0.1 (stdlib only).

The router adds one hop to every prediction, so its HTTP costs count: the standard library's
client parses headers with the `email` package and builds a file object per response, which is
most of a request's CPU here. `KeepAliveClient` keeps one connection per calling thread and
parses answers plainly: status line, `Name: value` headers, a `Content-Length` body (or one up
to the close). The router uses it towards its workers, `LocalEndpoint` towards the router.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from typing import IO, Protocol

MAX_HEADER_LINE = 65536
MAX_HEADERS = 100


@dataclass(frozen=True)
class Response:
    """One HTTP answer: status, headers (names lowercased) and the whole body."""

    status: int
    headers: dict[str, str]
    body: bytes


class Unreachable(Exception):
    """The server could not be reached, or dropped the connection before answering."""


class TimedOut(Exception):
    """The server did not answer within the timeout."""


class _Connection:
    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader: IO[bytes] = self.sock.makefile("rb")
        self.timeout = timeout

    def close(self) -> None:
        try:
            self.reader.close()
        finally:
            self.sock.close()


class _LineReader(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...


def read_headers(reader: _LineReader) -> dict[str, str] | None:
    """`Name: value` lines up to the blank line, names lowercased; None when malformed."""
    headers: dict[str, str] = {}
    while True:
        line = reader.readline(MAX_HEADER_LINE + 1)
        if len(line) > MAX_HEADER_LINE or len(headers) > MAX_HEADERS:
            return None
        if line in (b"\r\n", b"\n", b""):
            return headers
        name, sep, value = line.decode("iso-8859-1").partition(":")
        if not sep:
            return None
        headers[name.strip().lower()] = value.strip()


class KeepAliveClient:
    """Sends requests to one host:port, reusing a connection per calling thread."""

    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None) -> None:
        self.host = host
        self.port = port
        self.headers = dict(headers or {})  # sent with every request
        self._local = threading.local()

    def _connection(self, timeout: float) -> tuple[_Connection, bool]:
        """This thread's connection, and whether it was already open (reused)."""
        conn: _Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            if conn.timeout != timeout:
                conn.sock.settimeout(timeout)
                conn.timeout = timeout
            return conn, True
        conn = _Connection(self.host, self.port, timeout)
        self._local.conn = conn
        return conn, False

    def _drop(self) -> None:
        conn: _Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        *,
        timeout: float = 30.0,
    ) -> Response:
        """One request; raises Unreachable or TimedOut; retries once on a stale kept-alive conn."""
        data = body or b""
        head = [
            f"{method} {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Content-Type: application/json",
            f"Content-Length: {len(data)}",
        ]
        head += [f"{k}: {v}" for k, v in {**self.headers, **(headers or {})}.items()]
        message = ("\r\n".join(head) + "\r\n\r\n").encode("iso-8859-1") + data
        for attempt in (0, 1):
            reused = False
            try:
                conn, reused = self._connection(timeout)
                conn.sock.sendall(message)
                answer = self._read(conn.reader)
            except TimeoutError as exc:
                self._drop()
                raise TimedOut(f"no answer from {self.host}:{self.port} in {timeout:g} s") from exc
            except (OSError, ValueError, _Malformed) as exc:
                self._drop()
                # A kept-alive socket the server already closed fails on first use: retry once
                # on a fresh connection. A fresh connection that fails means the server is gone.
                if reused and attempt == 0:
                    continue
                raise Unreachable(f"{self.host}:{self.port}: {exc or type(exc).__name__}") from exc
            if answer.headers.get("connection", "").lower() == "close":
                self._drop()
            return answer
        raise Unreachable(f"{self.host}:{self.port}: connection lost")  # pragma: no cover

    @staticmethod
    def _read(reader: IO[bytes]) -> Response:
        status_line = reader.readline(MAX_HEADER_LINE + 1)
        if not status_line:
            raise _Malformed("the connection closed before an answer")
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise _Malformed(f"not an HTTP answer: {status_line[:80]!r}")
        status = int(parts[1])
        headers = read_headers(reader)
        if headers is None:
            raise _Malformed("malformed answer headers")
        length = headers.get("content-length")
        if length is not None:
            body = reader.read(int(length))
            if len(body) != int(length):
                raise _Malformed("the connection closed in the middle of the answer")
        elif headers.get("connection", "").lower() == "close":
            body = reader.read()
        else:
            body = b""
        return Response(status, headers, body)

    def close(self) -> None:
        self._drop()


class _Malformed(Exception):
    """An answer that is not HTTP, or one cut short."""
