"""The local endpoint: a real HTTP server on 127.0.0.1 with one process per deployment.

`mlops endpoint up` starts the router as a background process (state under `.mlops/endpoint/`);
each deployment is a worker process serving one MLflow pyfunc model, so a crashing deployment
cannot take the endpoint down. The router process: `router` (`Router`: deployments, state
file, admin operations), `routing` (traffic split, mirroring, prediction log writes), `admin`
(its HTTP server and admin API), `supervisor` (worker processes) and `daemon` (command line,
detaching). `worker` serves one model; `client.LocalEndpoint` is the `Endpoint` interface over
the admin API, `launcher` starts and stops the router process for it; `httpclient` and `_http`
are the lean HTTP client and server both ends use.

Importing this package imports only the standard library.
"""

from mlops_actions.backends.local_endpoint.client import LocalEndpoint
from mlops_actions.backends.local_endpoint.predlog import read_prediction_log

__all__ = ["LocalEndpoint", "read_prediction_log"]
