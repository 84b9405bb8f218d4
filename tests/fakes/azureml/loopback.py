"""The same fake over real HTTPS on ``127.0.0.1`` (self-signed certificate), and a real
``MLClient`` that reaches it with nothing injected."""

from __future__ import annotations

import contextlib
import datetime as _dt
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import requests

from tests.fakes.azureml.transport import FakeCredential

if TYPE_CHECKING:
    import pytest

    from tests.fakes.azureml.service import FakeAzureML


@dataclass
class LoopbackServer:
    base_url: str  # https://127.0.0.1:<port>; use as AZUREML_DEV_URL_MFE
    ca_file: str  # the self-signed certificate; use as REQUESTS_CA_BUNDLE / verify=


def _self_signed_cert(directory: str) -> tuple[str, str]:
    import ipaddress
    import os

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-azureml.localhost")])
    now = _dt.datetime.now(_dt.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path = os.path.join(directory, "fake-azureml.pem")
    key_path = os.path.join(directory, "fake-azureml.key")
    with open(cert_path, "wb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as fh:
        fh.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return cert_path, key_path


@contextlib.contextmanager
def serve_https(fake: FakeAzureML, directory: str) -> Iterator[LoopbackServer]:
    """Serve ``fake`` on ``https://127.0.0.1:<free port>`` with a fresh self-signed certificate
    written to ``directory``.  While it runs, every URL the fake returns points back at it."""
    import ssl
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    cert_path, key_path = _self_signed_cert(directory)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms stalls

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            host = self.headers.get("Host") or f"127.0.0.1:{server.server_address[1]}"
            result = fake.handle(
                self.command, f"https://{host}{self.path}", dict(self.headers.items()), body
            )
            content = result.content()
            self.send_response(result.status)
            for key, value in result.headers.items():
                if key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(content)

        do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            # a client that gave up (timed out) before the answer: nothing to report
            if not isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLError):
                super().handle_error(request, client_address)

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="fake-azureml-https", daemon=True
    )
    thread.start()
    base = f"https://127.0.0.1:{server.server_address[1]}"
    previous = fake.loopback_base
    fake.loopback_base = base
    try:
        yield LoopbackServer(base_url=base, ca_file=cert_path)
    finally:
        fake.loopback_base = previous
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class HttpsClient:
    """What ``https_ml_client`` yields: the server, a plain session and (on first use) an
    ``MLClient`` over that session."""

    fake: FakeAzureML
    server: LoopbackServer
    session: requests.Session

    @cached_property
    def ml_client(self) -> Any:
        from azure.ai.ml import MLClient
        from azure.core.pipeline.transport import RequestsTransport

        return MLClient(
            FakeCredential(self.fake.token),
            self.fake.subscription_id,
            self.fake.resource_group,
            self.fake.workspace,
            transport=RequestsTransport(session=self.session, session_owner=False),
        )


@contextlib.contextmanager
def https_ml_client(
    fake: FakeAzureML,
    directory: str,
    monkeypatch: pytest.MonkeyPatch,
    *,
    control_plane: bool = True,
) -> Iterator[HttpsClient]:
    """Serve ``fake`` over HTTPS (``serve_https``) with the environment a real client needs.

    Sets ``REQUESTS_CA_BUNDLE`` (requests prefers it to a session's own ``verify``), drops
    ``CURL_CA_BUNDLE`` and, with ``control_plane``, sets ``AZUREML_DEV_URL_MFE`` so that every
    ``MLClient`` made meanwhile sends its control plane to the server too (without it, clients
    on an injected adapter keep reaching the fake after the server stops). The session and
    ``ml_client`` use no adapter, so their calls cross TLS on 127.0.0.1.
    """
    with serve_https(fake, directory) as server, requests.Session() as session:
        if control_plane:
            monkeypatch.setenv("AZUREML_DEV_URL_MFE", server.base_url)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_file)
        monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
        yield HttpsClient(fake, server, session)
