"""Ways into the fake without a network: a ``requests`` adapter, a credential and the real
``MLClient`` wired through an azure-core transport."""

from __future__ import annotations

import base64
import io
import json
import time
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from urllib3 import HTTPResponse

if TYPE_CHECKING:
    from tests.fakes.azureml.service import FakeAzureML


class FakeAzureMLAdapter(BaseAdapter):
    """A ``requests`` adapter that answers every request from a :class:`FakeAzureML`."""

    def __init__(self, fake: FakeAzureML) -> None:
        super().__init__()
        self.fake = fake

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        body = request.body
        if hasattr(body, "read"):
            body = body.read()  # type: ignore[union-attr]
        if isinstance(body, str):
            body = body.encode()
        result = self.fake.handle(
            request.method or "GET", request.url or "", dict(request.headers), body or None
        )
        content = result.content()
        raw_headers = {**result.headers, "Content-Length": str(len(content))}
        raw = HTTPResponse(
            body=io.BytesIO(content),
            headers=raw_headers,
            status=result.status,
            preload_content=False,
            decode_content=False,
            request_url=request.url,
        )
        response = requests.Response()
        response.status_code = result.status
        response.headers = CaseInsensitiveDict(raw_headers)
        response.raw = raw
        response.reason = raw.reason or ""
        response.url = request.url or ""
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        response.request = request
        response.connection = self  # type: ignore[assignment]
        return response

    def close(self) -> None:
        pass


def fake_jwt(tenant_id: str, *, oid: str = "00000000-0000-0000-0000-0000000000bb") -> str:
    """An unsigned-looking JWT with the claims azure-ai-ml reads (``tid``, ``oid``)."""

    def enc(obj: Any) -> str:
        raw = json.dumps(obj, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = {"alg": "RS256", "typ": "JWT"}
    claims = {
        "aud": "https://management.azure.com/",
        "iss": f"https://sts.windows.net/{tenant_id}/",
        "tid": tenant_id,
        "oid": oid,
        "upn": "fake-user@example.com",
        "exp": 4102444800,
    }
    return f"{enc(header)}.{enc(claims)}.{enc('fake-signature')}"


class FakeCredential:
    """A ``TokenCredential`` that hands out the fake's bearer token."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.scopes_requested: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.scopes_requested.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


def make_session(fake: FakeAzureML) -> requests.Session:
    """A ``requests.Session`` whose ``https://`` (and ``http://``) traffic goes to ``fake``."""
    session = requests.Session()
    adapter = FakeAzureMLAdapter(fake)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.trust_env = False
    return session


def make_transport(fake: FakeAzureML) -> Any:
    """An azure-core ``RequestsTransport`` over ``make_session(fake)`` (for any azure client)."""
    from azure.core.pipeline.transport import RequestsTransport

    return RequestsTransport(session=make_session(fake), session_owner=False)


def make_ml_client(fake: FakeAzureML, *, credential: Any = None, **kwargs: Any) -> Any:
    """A real ``azure.ai.ml.MLClient`` wired to ``fake`` through a requests transport.

    ``credential`` defaults to one holding the fake's token; other keywords go to ``MLClient``.
    """
    from azure.ai.ml import MLClient

    return MLClient(
        credential or FakeCredential(fake.token),
        fake.subscription_id,
        fake.resource_group,
        fake.workspace,
        transport=make_transport(fake),
        **kwargs,
    )
