"""An in-process fake of the Azure ML control plane (ARM + regional hosts) and of online scoring.

The real ``azure-ai-ml`` ``MLClient`` talks to it through an injected azure-core transport, so the
SDK really serialises requests and parses responses; only the service is fake::

    fake = FakeAzureML()
    fake.add_compute("cpu-cluster")
    fake.add_environment("sklearn-env", "1")
    ml_client = make_ml_client(fake)
    job = ml_client.jobs.create_or_update(
        command(..., environment="sklearn-env@latest", compute="cpu-cluster")
    )

Hosts routed (all over ``https://``):

* ``management.azure.com``: workspace, computes, datastores, asset containers/versions
  (environments, models, data, codes), jobs (+ cancel), online endpoints (+ listKeys,
  regenerateKeys, token), online deployments (+ getLogs, skus), long-running operation URLs.
* ``<region>.api.azureml.ms``: ``/discovery`` and run history (``runs/{id}``, ``/details``,
  ``/children``).
* ``<endpoint>.<region>.inference.ml.azure.com``: ``POST /score`` (key auth, traffic, mirror,
  faults). Handlers run outside the fake's lock, so a slow model does not stall anything else;
  every answer is appended to ``fake.scoring_log`` (endpoint, deployment, mirrored, status, time,
  latency_ms, request_id, the deployment header the request carried).
* ``<region>.metrics.monitor.azure.com``: the Azure Monitor metrics batch API
  (``POST /subscriptions/{sub}/metrics:getBatch``) for online endpoints, computed from
  ``scoring_log``: ``RequestsPerMinute`` by deployment / statusCode / statusCodeClass /
  modelStatusCode and ``RequestLatency_P50/P90/P95/P99`` by deployment.

Faults: ``fail_deployment`` (an operation that ends Failed with a code: DeploymentFailed,
OutOfQuota, ResourceNotReady...), ``stall_deployment`` (never ready; deleting it cancels the
operation), ``fail_endpoint``, ``inject_scoring_fault`` (408/424/429/5xx answers),
``rotate_endpoint_keys`` (old keys get 401), ``fail_metrics`` / ``restore_metrics``.

Anything else answers 404 and is appended to ``fake.unhandled``; every request is appended to
``fake.requests``.  Long-running operations answer ``Retry-After-ms`` only: azure-core reads
``Retry-After`` first, and ``Retry-After: 0`` makes it fall back to the SDK's 5-30 s poll interval.

``serve_https`` serves the same fake on ``https://127.0.0.1:<port>`` (self-signed certificate);
point ``AZUREML_DEV_URL_MFE`` and ``REQUESTS_CA_BUNDLE`` at it.

Behaviour that is a guess about the real service (not measured) is marked ``ASSUMPTION`` in the
modules.

Layout: ``tests/fakes/azureml/`` holds one module per host or service, each with a route table
(method + path pattern -> handler, see ``routes.py``): ``workspace`` (workspace, computes,
datastores), ``assets``, ``jobs``, ``online`` (endpoints, deployments), ``operations``
(long-running operations) on the ARM host; ``run_history`` on the regional host; ``scoring``;
``metrics``; ``service`` joins them into ``FakeAzureML`` and picks the service by host.
``https_ml_client`` (or the ``azureml_https`` fixture) wraps ``serve_https`` with the environment
and a real ``MLClient`` over a plain session.
"""

from tests.fakes.azureml.loopback import HttpsClient, LoopbackServer, https_ml_client, serve_https
from tests.fakes.azureml.model import (
    ARM_HOST,
    FakeResponse,
    HttpError,
    JobScript,
    RecordedRequest,
    ScoringHandler,
)
from tests.fakes.azureml.service import FakeAzureML
from tests.fakes.azureml.transport import (
    FakeAzureMLAdapter,
    FakeCredential,
    fake_jwt,
    make_ml_client,
    make_session,
    make_transport,
)

__all__ = [
    "ARM_HOST",
    "FakeAzureML",
    "FakeAzureMLAdapter",
    "FakeCredential",
    "FakeResponse",
    "HttpError",
    "HttpsClient",
    "JobScript",
    "LoopbackServer",
    "RecordedRequest",
    "ScoringHandler",
    "fake_jwt",
    "https_ml_client",
    "make_ml_client",
    "make_session",
    "make_transport",
    "serve_https",
]
