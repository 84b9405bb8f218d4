"""`AzureMLEndpoint`: the `Endpoint` interface on an Azure ML managed online endpoint.

Control plane through azure-ai-ml (`MLClient`): the endpoint is created on first use (key auth),
each deployment serves a registered model version of the workspace (`azureml:<name>:<version>`,
an MLflow model deployed without code unless `deploy.azureml.environment` and `scoring_script`
are set), and traffic and mirror traffic are the endpoint's own `traffic` / `mirror_traffic`,
read back from the service on every call. Every long-running operation is waited for (the SDK's
progress dots are kept off stdout, so `--json` output stays clean).

Scoring does not use `online_endpoints.invoke` (it leaks the deployment header into later calls
in the same process): `invoke` POSTs to the scoring URI with the endpoint key
(`Authorization: Bearer`, fetched once, refreshed after a 401), the `azureml-model-deployment`
header when a deployment is named, and `x-request-id` / `x-ms-client-request-id`.

Request metrics come from one of two places (`deploy.analysis.source`):

- `azure-monitor` (also what `endpoint` means here): Azure Monitor's metrics of the endpoint
  resource (namespace `Microsoft.MachineLearningServices/workspaces/onlineEndpoints`):
  `RequestsPerMinute` split by `statusCode`, and `RequestLatency_P50/P95/P99`, both filtered by
  `deployment`, over one-minute bins. Azure publishes them with a delay of a minute or more and
  per minute, so give canary steps several minutes when analysing with them.
- `probe`: the requests this object itself sent through `invoke` (the canary step's probe
  traffic), counted for the deployment that answered (the `azureml-model-deployment` response
  header); exact and immediate, but blind to other clients' traffic.

Errors: Azure's authentication failures become `BackendError` with a hint about azure/login
(OIDC); other service failures `EndpointError`, failed or unhealthy deployments
`DeploymentFailed` (with the deployment's log tail), unknown names `UnknownDeployment`, invalid
settings `InputError`, metrics failures `MetricsUnavailable`.

Authentication is `DefaultAzureCredential` unless an `MLClient`, a credential, a requests session
or MetricsClient options (e.g. an azure-core `transport`) are passed in: the tests wire all of
them to a fake of the service. Importing this package imports nothing heavy.

The parts: `spec` (settings and the SDK entities built from them), `control` (the control plane:
deployments, traffic, deletion, long-running operations), `scoring` (invoke and the endpoint
key), `metrics` (Azure Monitor and probe metrics) and `endpoint` (`AzureMLEndpoint`, which wires
them together).
"""

from mlops_actions.backends.azureml_endpoint.control import LOG_TAIL_LINES, UPDATE_TIMEOUT_SECONDS
from mlops_actions.backends.azureml_endpoint.endpoint import AzureMLEndpoint
from mlops_actions.backends.azureml_endpoint.metrics import (
    LATENCY_METRICS,
    METRIC_NAMESPACE,
    REQUESTS_METRIC,
    status_class,
)
from mlops_actions.backends.azureml_endpoint.scoring import CLIENT_REQUEST_ID_HEADER
from mlops_actions.backends.azureml_endpoint.spec import AzureEndpointSpec, MetricsSource, Probe

__all__ = [
    "CLIENT_REQUEST_ID_HEADER",
    "LATENCY_METRICS",
    "LOG_TAIL_LINES",
    "METRIC_NAMESPACE",
    "REQUESTS_METRIC",
    "UPDATE_TIMEOUT_SECONDS",
    "AzureEndpointSpec",
    "AzureMLEndpoint",
    "MetricsSource",
    "Probe",
    "status_class",
]
