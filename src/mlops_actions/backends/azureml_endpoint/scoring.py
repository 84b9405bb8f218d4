"""Scoring requests to a managed online endpoint, with the endpoint key fetched and refreshed.

`online_endpoints.invoke` is not used (it leaks the deployment header into later calls in the
same process): `Scorer.invoke` POSTs to the scoring URI with the endpoint key
(`Authorization: Bearer`, fetched once, refreshed after a 401), the `azureml-model-deployment`
header when a deployment is named, and `x-request-id` / `x-ms-client-request-id`. Every request's
outcome is recorded for the `probe` metrics source.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from mlops_actions.backends.azureml_endpoint.control import ControlPlane
from mlops_actions.backends.azureml_endpoint.metrics import ProbeSamples, status_class
from mlops_actions.backends.endpoint import (
    DEPLOYMENT_HEADER,
    REQUEST_ID_HEADER,
    SOURCE_HEADER,
    EndpointError,
    Invocation,
)
from mlops_actions.redact import mask, redact_uri

CLIENT_REQUEST_ID_HEADER = "x-ms-client-request-id"


class Scorer:
    """Sends scoring requests to the endpoint `control` manages, through a requests.Session."""

    def __init__(self, control: ControlPlane, session: Any | None, samples: ProbeSamples) -> None:
        self.control = control
        self.samples = samples
        self._session = session
        self._key_lock = threading.Lock()  # held while the keys are fetched
        self._key: str | None = None

    @property
    def session(self) -> Any:
        """The requests.Session that scoring requests go through (built on first use)."""
        if self._session is None:
            import requests

            self._session = requests.Session()
        return self._session

    @property
    def url(self) -> str:
        """The scoring URI; '' while the endpoint does not exist."""
        if self.control.scoring_uri is None:
            self.control.read_endpoint()
        return self.control.scoring_uri or ""

    def endpoint_key(self, stale: str | None = None) -> str:
        """The endpoint key, fetched once; fetched again when `stale` is the one we hold.

        Raises EndpointError when the keys cannot be read or the endpoint gives none.
        """
        from azure.core.exceptions import AzureError

        control = self.control
        with self._key_lock:
            if self._key is None or self._key == stale:
                try:
                    keys = control.client.online_endpoints.get_keys(control.name)
                except AzureError as exc:
                    raise control.failure(
                        exc, f"read the keys of endpoint {control.name}"
                    ) from None
                key = getattr(keys, "primary_key", None) or getattr(keys, "access_token", None)
                if not key:
                    raise EndpointError(
                        f"endpoint {control.name} gave no key;",
                        hint="deploy.endpoint must use key authentication (auth_mode: key).",
                    )
                self._key = str(key)
                # masked before anything could print it (a secondary key is as good as the first)
                mask(self._key)
                mask(str(getattr(keys, "secondary_key", None) or ""))
            return self._key

    def invoke(
        self,
        payload: Mapping[str, Any],
        *,
        deployment: str | None,
        request_id: str | None,
        timeout_seconds: float,
        source: str | None,
    ) -> Invocation:
        """One scoring request (see `Endpoint.invoke`).

        A read timeout is returned as status 504; a connection failure raises EndpointError
        (both are recorded for `probe` metrics). A 401 refreshes the key once. A 404 for a
        named deployment the endpoint lacks raises UnknownDeployment.
        """
        url = self.url
        if not url:
            raise EndpointError(
                f"endpoint {self.control.name} does not exist on Azure ML;",
                hint="create a deployment first (mlops canary-deploy).",
            )
        rid = request_id or str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            REQUEST_ID_HEADER: rid,
            CLIENT_REQUEST_ID_HEADER: rid,
        }
        if deployment:
            headers[DEPLOYMENT_HEADER] = deployment
        if source:
            headers[SOURCE_HEADER] = source
        data = json.dumps(payload, default=str).encode()
        sent = self._post(url, data, headers, timeout_seconds, deployment or "")
        if isinstance(sent, Invocation):
            return sent
        answer, latency = sent
        try:
            body: Any = answer.json()
        except ValueError:
            body = answer.text
        status = int(answer.status_code)
        if status == 404 and deployment and deployment not in self.control.deployment_names():
            self.control.unknown(deployment)
        answered_by = answer.headers.get(DEPLOYMENT_HEADER) or deployment or ""
        self.samples.record(answered_by, latency, status_class(status))
        return Invocation(
            status, body, answer.headers.get(REQUEST_ID_HEADER) or rid, answered_by, latency
        )

    def _post(
        self, url: str, data: bytes, headers: dict[str, str], timeout: float, deployment: str
    ) -> tuple[Any, float] | Invocation:
        """(the answer, its latency in ms); an Invocation with status 504 on a read timeout.

        A 401 means the key was rotated: it is fetched again and the request sent once more.
        """
        import requests

        key: str | None = None
        attempts = 0
        while True:
            attempts += 1
            key = self.endpoint_key(stale=key)
            headers["Authorization"] = f"Bearer {key}"
            started = time.perf_counter()
            try:
                answer = self.session.post(url, data=data, headers=headers, timeout=timeout)
            except requests.ConnectTimeout as exc:
                self.samples.record(deployment, _ms(started), "unavailable")
                raise self._unreachable(url, exc) from None
            except requests.Timeout:
                latency = _ms(started)
                self.samples.record(deployment, latency, "timeout")
                return Invocation(504, "timed out", headers[REQUEST_ID_HEADER], deployment, latency)
            except requests.RequestException as exc:
                self.samples.record(deployment, _ms(started), "unavailable")
                raise self._unreachable(url, exc) from None
            latency = _ms(started)
            if answer.status_code != 401 or attempts > 1:
                return answer, latency

    def _unreachable(self, url: str, exc: BaseException) -> EndpointError:
        name = self.control.name
        return EndpointError(
            f"the Azure ML endpoint {name} cannot be reached at {redact_uri(url)} "
            f"({type(exc).__name__});",
            hint=f"check the network and `az ml online-endpoint show -n {name}`.",
        )


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
