"""The local endpoint: a real HTTP server on 127.0.0.1 with one process per deployment.

`mlops endpoint up` starts the router as a background process (state under `.mlops/endpoint/`);
each deployment is a worker process serving one MLflow pyfunc model, so a crashing deployment
cannot take the endpoint down. See `router` (routing, mirroring, metrics, prediction log),
`worker` (one model) and `client.LocalEndpoint` (the `Endpoint` interface over the admin API).

Importing this package imports only the standard library.
"""

from mlops_actions.backends.local_endpoint.client import LocalEndpoint
from mlops_actions.backends.local_endpoint.predlog import read_prediction_log

__all__ = ["LocalEndpoint", "read_prediction_log"]
