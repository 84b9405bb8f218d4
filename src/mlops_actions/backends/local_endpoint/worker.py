"""One deployment's process: loads one MLflow pyfunc model and answers `/health` and `/score`.

The router forks it from a warm fork server (`worker_child`; see `_preload`), so MLflow and the
model libraries are already imported. It binds a free port on 127.0.0.1, sends the port back and
waits for `POST /-/load`, which sets `MLOPS_ENDPOINT_DEPLOYMENT`, reads `models:/<name>/<version>`
from the registry named by the tracking URI, and runs the model's input example once as a
warm-up; `/health` answers 200 only after that. The process exits when its parent goes away (the
fork server exits with the router), so a killed router leaves no orphans. `python -m` runs one
standalone, for debugging.

`/score` takes the router's body (Azure `input_data` or MLflow's protocols) and answers
`{"predictions": [...], "scores": [...] | null}`; 400 for bad input or a schema mismatch, 500
when the model fails. `/-/load` needs the secret the router gave this process at fork
(`x-mlops-worker-token`), so no other local process can make it load a model; every request must
name this server in `Host` (DNS rebinding) and come from no foreign `Origin`. The `/-/load`
answer carries the model's signature (`{"inputs": [...], "outputs": [...]}`, MLflow's
`Schema.to_dict()`), from which the router publishes its OpenAPI document.
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import json
import os
import sys
import threading
import time
import traceback
from typing import Any

from mlops_actions.backends.local_endpoint._http import BoundedServer, HttpError, LeanHandler
from mlops_actions.backends.local_endpoint.payload import PayloadError, parse_body, to_mlflow
from mlops_actions.processes import pid_alive
from mlops_actions.scoring import probability_scorer

DEPLOYMENT_ENV = "MLOPS_ENDPOINT_DEPLOYMENT"
WORKER_TOKEN_HEADER = "x-mlops-worker-token"  # noqa: S105 (a header name, not a secret)


class _Model:
    """The loaded model and what serving needs from it."""

    def __init__(self, spec: dict[str, Any]) -> None:
        import mlflow
        import mlflow.artifacts
        import mlflow.pyfunc

        self.spec = spec
        self.deployment = str(spec["deployment"])
        os.environ.update({str(k): str(v) for k, v in (spec.get("environment") or {}).items()})
        os.environ[DEPLOYMENT_ENV] = self.deployment
        if spec.get("tracking_uri"):
            os.environ["MLFLOW_TRACKING_URI"] = str(spec["tracking_uri"])
            mlflow.set_tracking_uri(str(spec["tracking_uri"]))
        if spec.get("registry_uri"):
            mlflow.set_registry_uri(str(spec["registry_uri"]))
        started = time.perf_counter()
        local_path = mlflow.artifacts.download_artifacts(artifact_uri=str(spec["model_uri"]))
        # The requirement check reads package metadata for seconds: do it once serving.
        self.model = mlflow.pyfunc.load_model(local_path, suppress_warnings=True)
        self.load_seconds = time.perf_counter() - started
        threading.Thread(target=_check_requirements, args=(local_path,), daemon=True).start()
        schema = self.model.metadata.get_input_schema()
        self.schema = schema
        self.signature = _signature(self.model)
        self.input_columns: list[str] | None = None
        if schema is not None and schema.has_input_names():
            self.input_columns = list(schema.input_names())
        self.scorer = probability_scorer(self.model)
        example = self.model.input_example
        if example is not None:
            # A model that cannot score its own example is not ready to serve.
            self.model.predict(example)
            if self.scorer is not None:
                try:
                    self.scorer(example)
                except Exception:  # noqa: BLE001 (scores are optional: serve without them)
                    self.scorer = None

    def score(self, body: bytes) -> tuple[int, dict[str, Any]]:
        from mlflow.exceptions import MlflowException
        from mlflow.pyfunc.scoring_server import infer_and_parse_data
        from mlflow.utils.proto_json_utils import _get_jsonable_obj

        try:
            payload, _ = parse_body(body)
            request = to_mlflow(payload, self.input_columns)
            params = request.pop("params", None)
            data = infer_and_parse_data(request, self.schema)
        except PayloadError as exc:
            return 400, {"error": str(exc)}
        except MlflowException as exc:
            return 400, {"error": exc.message}
        except Exception as exc:  # noqa: BLE001 (any parse failure is the caller's input)
            return 400, {"error": f"cannot read the input: {exc}"}
        try:
            raw = self.model.predict(data, params=params) if params else self.model.predict(data)
        except MlflowException as exc:
            status = int(exc.get_http_status_code())  # type: ignore[no-untyped-call]
            return (status if 400 <= status < 600 else 500), {"error": exc.message}
        except Exception as exc:  # noqa: BLE001 (the model's own failure is a 500)
            traceback.print_exc()
            return 500, {"error": f"the model failed: {type(exc).__name__}: {exc}"}
        predictions = _get_jsonable_obj(raw, pandas_orient="records")  # type: ignore[no-untyped-call]
        if not isinstance(predictions, list):
            predictions = [predictions]
        scores = None
        if self.scorer is not None:
            try:
                scores = self.scorer(data)
            except Exception:  # noqa: BLE001 (scores are optional)
                scores = None
        return 200, {"predictions": _plain(predictions), "scores": scores}


def _signature(model: Any) -> dict[str, Any]:
    """The model's input and output schemas as JSON (MLflow's `Schema.to_dict()`), or None."""
    out: dict[str, Any] = {}
    metadata = model.metadata
    for key, getter in (("inputs", "get_input_schema"), ("outputs", "get_output_schema")):
        try:
            schema = getattr(metadata, getter)()
            out[key] = json.loads(json.dumps(schema.to_dict())) if schema is not None else None
        except Exception:  # noqa: BLE001 (a schema we cannot describe: publish none)
            out[key] = None
    return out


def _check_requirements(local_path: str) -> None:
    """Log (to the deployment log) packages whose versions differ from the model's."""
    try:
        from mlflow.pyfunc import _get_pip_requirements_from_model_path
        from mlflow.utils.requirements_utils import warn_dependency_requirement_mismatches

        warn_dependency_requirement_mismatches(_get_pip_requirements_from_model_path(local_path))
    except Exception:  # noqa: BLE001 (advice only; never fail serving over it)
        traceback.print_exc()


def _plain(value: Any) -> Any:
    """numpy scalars and arrays inside predictions → JSON-able Python values."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) else value


# The router keeps up to its own connection limit plus its mirror threads open to each worker.
WORKER_MAX_CONNECTIONS = 160


class _Server(BoundedServer):
    model: _Model | None = None
    load_error: str | None = None
    load_lock = threading.Lock()
    secret: str = ""


class _Handler(LeanHandler):
    server: _Server

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        self.send_body(status, json.dumps(payload, separators=(",", ":")).encode())

    def _body(self) -> bytes:
        return self.read_body()

    def do_GET(self) -> None:
        if self.path.split("?")[0] in ("/health", "/ping"):
            model = self.server.model
            if model is not None:
                self._send(200, {"status": "ready", "deployment": model.deployment})
            elif self.server.load_error:
                self._send(503, {"status": "failed", "error": self.server.load_error})
            else:
                self._send(503, {"status": "loading"})
            return
        self._send(404, {"error": f"no route {self.path}"})

    def do_POST(self) -> None:
        self.require_json()
        path = self.path.split("?")[0]
        if path == "/-/load":
            given = self.header_map.get(WORKER_TOKEN_HEADER, "")
            if not self.server.secret or not hmac.compare_digest(
                given.encode("utf-8", "replace"), self.server.secret.encode()
            ):
                raise HttpError(401, "loading a model needs the router's worker token")
        body = self._body()
        if path in ("/score", "/invocations"):
            model = self.server.model
            if model is None:
                self._send(503, {"error": "the model is not loaded"})
                return
            status, answer = model.score(body)
            self._send(status, answer)
        elif path == "/-/load":
            self._load(body)
        else:
            self._send(404, {"error": f"no route {self.path}"})

    def _load(self, body: bytes) -> None:
        with self.server.load_lock:
            if self.server.model is not None:
                self._send(409, {"error": "this worker already serves a model"})
                return
            try:
                spec = json.loads(body)
                model = _Model(spec)
            except Exception as exc:  # noqa: BLE001 (any load failure makes the worker unhealthy)
                traceback.print_exc()
                self.server.load_error = f"{type(exc).__name__}: {exc}"
                self._send(500, {"error": self.server.load_error})
                return
            self.server.model = model
        print(
            f"serving {spec['model_uri']} as {model.deployment} "
            f"(loaded in {model.load_seconds:.2f} s)",
            flush=True,
        )
        self._send(
            200,
            {"status": "ready", "load_seconds": model.load_seconds, "signature": model.signature},
        )


def _redirect_output(path: str) -> None:
    """From now on, this process writes (fds 1 and 2) to the deployment's own log."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)  # may hold inputs
    os.fchmod(fd, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _watch_parent(parent: int, router: int | None = None) -> None:
    """Exit when our parent or the router is gone, so a killed router leaves no orphans."""
    while True:
        if os.getppid() != parent or (router is not None and not pid_alive(router)):
            os._exit(0)
        time.sleep(0.25)


def _release_fork_server_pipes() -> None:
    """Close the fork server's and resource tracker's pipes inherited at fork.

    Both helpers exit once every holder of their pipe is gone; a worker holding them would keep
    them (and so itself, as their child) alive after the router died.
    """
    from multiprocessing import forkserver, resource_tracker

    for owner, attribute in (
        (forkserver._forkserver, "_forkserver_alive_fd"),
        (resource_tracker._resource_tracker, "_fd"),
    ):
        fd = getattr(owner, attribute, None)
        if isinstance(fd, int):
            with contextlib.suppress(OSError):
                os.close(fd)
            setattr(owner, attribute, None)


def _preload(modules: list[str]) -> None:
    import mlflow.pyfunc
    import mlflow.pyfunc.scoring_server
    import pandas  # noqa: F401

    for name in modules:
        with contextlib.suppress(Exception):
            __import__(name)
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        # Opening a registry store costs seconds (schema checks); pay it before a load is asked.
        with contextlib.suppress(Exception):
            mlflow.MlflowClient(tracking_uri=uri).search_registered_models(max_results=1)


def worker_child(
    port_conn: Any, log_path: str, router_pid: int, secret: str, limits: dict[str, Any]
) -> None:
    """Entry point of a forked worker: serve until stopped; the port goes back on `port_conn`.

    `secret` authorises `/-/load`; `limits` are `BoundedServer`'s keyword arguments.
    """
    _redirect_output(log_path)
    _release_fork_server_pipes()
    threading.Thread(target=_watch_parent, args=(os.getppid(), router_pid), daemon=True).start()
    import warnings

    warnings.simplefilter("ignore")  # library deprecation notices would fill the deployment log
    server = _Server(("127.0.0.1", 0), _Handler, **limits)
    server.secret = secret
    port_conn.send(server.server_address[1])
    port_conn.close()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops-endpoint-worker")
    parser.add_argument("--ready-fd", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--preload", default="", help="comma-separated modules to import early")
    args = parser.parse_args(argv)
    threading.Thread(target=_watch_parent, args=(args.parent_pid,), daemon=True).start()
    import warnings

    warnings.simplefilter("ignore")  # library deprecation notices would fill the deployment log
    _preload([m for m in args.preload.split(",") if m])
    server = _Server(("127.0.0.1", 0), _Handler, max_connections=WORKER_MAX_CONNECTIONS)
    server.secret = os.environ.get("MLOPS_WORKER_TOKEN", "")
    with os.fdopen(args.ready_fd, "w") as ready:
        ready.write(f"{server.server_address[1]}\n")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
