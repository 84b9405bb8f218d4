"""ARM control plane: managed online endpoints and their deployments (create, update, traffic,
keys, tokens, logs, delete), each change a long-running operation."""

from __future__ import annotations

import copy
import re
import time
import uuid
from typing import Any

from tests.fakes.azureml.model import (
    PROVIDER,
    FakeResponse,
    HttpError,
    Operation,
    ProvisioningFault,
    RecordedRequest,
    now,
)
from tests.fakes.azureml.routes import NAME, Route, route


class OnlineService:
    """Endpoint and deployment state, faults and routes (mixed into ``FakeAzureML``; uses
    ``AssetService`` to check references and ``OperationService`` for operations)."""

    location: str
    tenant_id: str
    workspace_arm_id: str
    lock: Any
    assets: dict[str, dict[str, dict[str, dict[str, Any]]]]
    endpoints: dict[str, dict[str, Any]]
    endpoint_keys: dict[str, dict[str, str]]
    deployments: dict[str, dict[str, dict[str, Any]]]
    deployment_logs: dict[tuple[str, str], str]
    operations: dict[str, Operation]
    _endpoint_faults: dict[str, ProvisioningFault]
    _deployment_faults: dict[tuple[str, str], ProvisioningFault]

    def fail_deployment(
        self,
        endpoint: str,
        deployment: str,
        code: str = "DeploymentFailed",
        message: str = "Deployment failed: the container crashed while starting.",
        *,
        polls: int = 1,
        persistent: bool = False,
    ) -> None:
        """Make the next create/update of ``endpoint/deployment`` end ``Failed`` with ``code``
        (e.g. ``DeploymentFailed``, ``OutOfQuota``, ``ResourceNotReady``)."""
        with self.lock:
            self._deployment_faults[(endpoint, deployment)] = ProvisioningFault(
                code, message, polls, persistent
            )

    def fail_endpoint(
        self,
        endpoint: str,
        code: str = "EndpointProvisioningFailed",
        message: str = "Endpoint provisioning failed.",
        *,
        polls: int = 1,
        persistent: bool = False,
    ) -> None:
        with self.lock:
            self._endpoint_faults[endpoint] = ProvisioningFault(code, message, polls, persistent)

    def stall_deployment(self, endpoint: str, deployment: str) -> None:
        """Make the next create/update of ``endpoint/deployment`` stay ``Creating``/``Updating``
        until the deployment is deleted (which cancels the operation), like a container that
        never passes its readiness probe."""
        with self.lock:
            self._deployment_faults[(endpoint, deployment)] = ProvisioningFault(
                "Canceled", "The deployment operation was canceled.", polls=10**9
            )

    def set_deployment_logs(self, endpoint: str, deployment: str, text: str) -> None:
        with self.lock:
            self.deployment_logs[(endpoint, deployment)] = text

    def rotate_endpoint_keys(self, endpoint: str) -> None:
        """Replace both keys of ``endpoint`` (as `regenerateKeys` twice): old keys get 401."""
        with self.lock:
            self.endpoint_keys[endpoint] = {
                "primaryKey": uuid.uuid4().hex,
                "secondaryKey": uuid.uuid4().hex,
            }

    # ---------------------------------------------------------------- routes

    def _online_routes(self) -> list[Route]:
        endpoint = rf"/(?i:onlineendpoints)/(?P<ep>{NAME})"
        deployment = rf"{endpoint}/(?i:deployments)/(?P<dep>{NAME})"
        return [
            route("GET", r"/(?i:onlineendpoints)", self._list_endpoints),
            route("PUT PATCH", endpoint, self._put_endpoint_route),
            route("GET", endpoint, self._get_endpoint),
            route("DELETE", endpoint, self._delete_endpoint_route),
            route("*", endpoint, self._endpoint_exists),
            route("POST", rf"{endpoint}/listKeys", self._list_keys),
            route("POST", rf"{endpoint}/regenerateKeys", self._regenerate_keys),
            route("POST", rf"{endpoint}/token", self._endpoint_token),
            route("GET", rf"{endpoint}/(?i:deployments)", self._list_deployments),
            route("PUT PATCH", deployment, self._put_deployment_route),
            route("GET", deployment, self._get_deployment),
            route("DELETE", deployment, self._delete_deployment_route),
            route("POST", rf"{deployment}/getLogs", self._deployment_logs),
            route("GET", rf"{deployment}/skus", self._deployment_skus),
            # unknown names are 404 on any sub-path, known ones unhandled
            route("*", rf"{deployment}(?:/.*)?", self._deployment_exists),
            route("*", rf"{endpoint}/.*", self._endpoint_exists),
        ]

    def _require_endpoint(self, ep: str) -> dict[str, Any]:
        if ep not in self.endpoints:
            raise HttpError(404, "UserError", f"Online endpoint {ep} not found.", inner="NotFound")
        return self.endpoints[ep]

    def _require_deployment(self, ep: str, name: str) -> dict[str, Any]:
        self._require_endpoint(ep)
        deps = self.deployments.setdefault(ep, {})
        if name not in deps:
            raise HttpError(
                404, "UserError", f"Deployment {name} not found in endpoint {ep}.", inner="NotFound"
            )
        return deps[name]

    def _list_endpoints(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        return FakeResponse(200, {"value": list(self.endpoints.values())})

    def _put_endpoint_route(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        return self._put_endpoint(m["ep"], req.json or {}, patch=req.method == "PATCH")

    def _get_endpoint(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        return FakeResponse(200, self._require_endpoint(m["ep"]))

    def _delete_endpoint_route(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        self._require_endpoint(m["ep"])
        return self._delete_endpoint(m["ep"])

    def _endpoint_exists(self, req: RecordedRequest, m: re.Match[str]) -> None:
        self._require_endpoint(m["ep"])

    def _list_keys(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        self._require_endpoint(m["ep"])
        return FakeResponse(200, self.endpoint_keys[m["ep"]])

    def _regenerate_keys(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        self._require_endpoint(m["ep"])
        key_type = str((req.json or {}).get("keyType", "Primary")).lower()
        self.endpoint_keys[m["ep"]][f"{key_type}Key"] = uuid.uuid4().hex
        return self._start_operation(None, None, status=202, location=True)

    def _endpoint_token(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        self._require_endpoint(m["ep"])
        return FakeResponse(
            200,
            {
                "accessToken": f"aml-token-{m['ep']}",
                "tokenType": "Bearer",
                "expiryTimeUtc": int(time.time()) + 3600,
                "refreshAfterTimeUtc": int(time.time()) + 1800,
            },
        )

    def _list_deployments(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        self._require_endpoint(m["ep"])
        deps = self.deployments.setdefault(m["ep"], {})
        return FakeResponse(200, {"value": list(deps.values())})

    def _put_deployment_route(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        self._require_endpoint(m["ep"])
        body = req.json or {}
        return self._put_deployment(m["ep"], m["dep"], body, patch=req.method == "PATCH")

    def _get_deployment(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        return FakeResponse(200, self._require_deployment(m["ep"], m["dep"]))

    def _delete_deployment_route(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        self._require_deployment(m["ep"], m["dep"])
        return self._delete_deployment(m["ep"], m["dep"])

    def _deployment_exists(self, req: RecordedRequest, m: re.Match[str]) -> None:
        self._require_deployment(m["ep"], m["dep"])

    def _deployment_logs(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        ep, name = m["ep"], m["dep"]
        self._require_deployment(ep, name)
        text = self.deployment_logs.get(
            (ep, name),
            f"Fake inference-server log for {ep}/{name}\nListening on 0.0.0.0:5001\n",
        )
        tail = (req.json or {}).get("tail")
        if tail:
            text = "\n".join(text.splitlines()[-int(tail) :])
        return FakeResponse(200, {"content": text})

    def _deployment_skus(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        self._require_deployment(m["ep"], m["dep"])
        return FakeResponse(200, {"value": []})

    # ---------------------------------------------------------------- behaviour

    def _validate_traffic(self, ep: str, props: dict[str, Any]) -> None:
        deps = self.deployments.get(ep, {})
        traffic = props.get("traffic") or {}
        mirror = props.get("mirrorTraffic") or {}
        for kind, mapping in (("traffic", traffic), ("mirror traffic", mirror)):
            for dep, pct in mapping.items():
                if dep not in deps:
                    raise HttpError(
                        400,
                        "BadArgument",
                        f"Deployment {dep} named in {kind} does not exist in endpoint {ep}.",
                    )
                if not isinstance(pct, int) or not 0 <= pct <= 100:
                    raise HttpError(400, "BadArgument", f"Invalid {kind} value {pct!r} for {dep}.")
        total = sum(traffic.values())
        if traffic and total not in (0, 100):
            raise HttpError(
                400, "BadArgument", f"Traffic values must sum to 0 or 100; got {total}."
            )
        if len(mirror) > 1 or sum(mirror.values()) > 50:
            raise HttpError(
                400,
                "BadArgument",
                "Mirror traffic can target one deployment with at most 50 percent.",
            )

    def _put_endpoint(self, ep: str, body: dict[str, Any], *, patch: bool) -> FakeResponse:
        existing = self.endpoints.get(ep)
        if patch and existing is None:
            raise HttpError(404, "UserError", f"Online endpoint {ep} not found.", inner="NotFound")
        if existing is not None:
            rest = copy.deepcopy(existing)
            for key in ("tags", "identity", "kind", "sku"):
                if key in body:
                    rest[key] = body[key]
            new_props = body.get("properties") or {}
            for key, value in new_props.items():
                if key not in ("scoringUri", "swaggerUri", "provisioningState"):
                    rest["properties"][key] = value
            rest["systemData"]["lastModifiedAt"] = now()
        else:
            rest = self._new_endpoint_rest(ep, body)
        props = rest["properties"]
        props.setdefault("traffic", {})
        props.setdefault("mirrorTraffic", {})
        if props["traffic"] is None:
            props["traffic"] = {}
        if props["mirrorTraffic"] is None:
            props["mirrorTraffic"] = {}
        self._validate_traffic(ep, props)
        props["provisioningState"] = "Updating" if existing is not None else "Creating"
        self.endpoints[ep] = rest
        if existing is None:
            self.endpoint_keys[ep] = {
                "primaryKey": uuid.uuid4().hex,
                "secondaryKey": uuid.uuid4().hex,
            }
            self.deployments.setdefault(ep, {})
        fault = self._endpoint_faults.get(ep)
        if fault and not fault.persistent:
            del self._endpoint_faults[ep]

        def ok() -> None:
            if ep in self.endpoints:
                self.endpoints[ep]["properties"]["provisioningState"] = "Succeeded"

        def failed() -> None:
            if ep in self.endpoints:
                self.endpoints[ep]["properties"]["provisioningState"] = "Failed"

        return self._start_operation(
            ok,
            failed,
            status=200 if existing is not None else 201,
            body=rest,
            fault=fault,
        )

    def _stored(self, body: dict[str, Any], path: str, name: str, kind: str) -> dict[str, Any]:
        """A copy of a PUT body as the service stores it: ARM id, name, type, location, tags."""
        rest = copy.deepcopy(body)
        rest.update(
            id=f"{self.workspace_arm_id}/{path}",
            name=name,
            type=f"{PROVIDER}/workspaces/{kind}",
            location=body.get("location") or self.location,
            systemData=self._system_data(),
        )
        rest.setdefault("tags", {})
        return rest

    def _new_endpoint_rest(self, ep: str, body: dict[str, Any]) -> dict[str, Any]:
        """The stored form of a new endpoint: ids, identity, scoring URIs, defaults."""
        rest = self._stored(body, f"onlineEndpoints/{ep}", ep, "onlineEndpoints")
        rest.setdefault("kind", None)
        identity = rest.get("identity") or {"type": "SystemAssigned"}
        if identity.get("type", "").lower().startswith("systemassigned"):
            identity.setdefault("principalId", str(uuid.uuid5(uuid.NAMESPACE_URL, ep)))
            identity.setdefault("tenantId", self.tenant_id)
        rest["identity"] = identity
        props = rest.setdefault("properties", {})
        props.setdefault("authMode", "Key")
        props["scoringUri"] = self.scoring_uri(ep)
        props["swaggerUri"] = self.scoring_uri(ep).replace("/score", "/swagger.json")
        props.setdefault("publicNetworkAccess", "Enabled")
        props.setdefault("properties", {})
        props["properties"].setdefault("azureml.onlineendpointid", rest["id"])
        return rest

    def _delete_endpoint(self, ep: str) -> FakeResponse:
        self.endpoints[ep]["properties"]["provisioningState"] = "Deleting"

        def done() -> None:
            self.endpoints.pop(ep, None)
            self.deployments.pop(ep, None)
            self.endpoint_keys.pop(ep, None)

        return self._start_operation(done, None, status=202, location=True)

    def _put_deployment(
        self, ep: str, name: str, body: dict[str, Any], *, patch: bool
    ) -> FakeResponse:
        if ep not in self.endpoints:
            raise HttpError(404, "UserError", f"Online endpoint {ep} not found.", inner="NotFound")
        deps = self.deployments.setdefault(ep, {})
        existing = deps.get(name)
        if patch and existing is None:
            raise HttpError(404, "UserError", f"Deployment {name} not found.", inner="NotFound")
        rest = self._deployment_rest(ep, name, existing, body)
        props = rest["properties"]
        self._validate_deployment_refs(props)
        props["provisioningState"] = "Updating" if existing is not None else "Creating"
        deps[name] = rest
        fault = self._deployment_faults.get((ep, name))
        if fault and not fault.persistent:
            del self._deployment_faults[(ep, name)]

        def ok() -> None:
            dep = self.deployments.get(ep, {}).get(name)
            if dep is not None:
                dep["properties"]["provisioningState"] = "Succeeded"

        def failed() -> None:
            dep = self.deployments.get(ep, {}).get(name)
            if dep is not None:
                dep["properties"]["provisioningState"] = "Failed"

        return self._start_operation(
            ok,
            failed,
            status=200 if existing is not None else 201,
            body=rest,
            fault=fault,
            target=(ep, name),
        )

    def _deployment_rest(
        self, ep: str, name: str, existing: dict[str, Any] | None, body: dict[str, Any]
    ) -> dict[str, Any]:
        """The stored form of a deployment after a PUT/PATCH of ``body``, with the service's
        defaults filled in."""
        if existing is not None:
            rest = copy.deepcopy(existing)
            if "sku" in body:
                rest["sku"] = body["sku"]
            if "tags" in body:
                rest["tags"] = body["tags"]
            for key, value in (body.get("properties") or {}).items():
                if key != "provisioningState":
                    rest["properties"][key] = value
            rest["systemData"]["lastModifiedAt"] = now()
        else:
            rest = self._stored(
                body,
                f"onlineEndpoints/{ep}/deployments/{name}",
                name,
                "onlineEndpoints/deployments",
            )
        props = rest.setdefault("properties", {})
        props.setdefault("endpointComputeType", "Managed")
        props.setdefault("scaleSettings", {"scaleType": "Default"})
        if not props["scaleSettings"]:
            props["scaleSettings"] = {"scaleType": "Default"}
        props.setdefault("appInsightsEnabled", False)
        props.setdefault("egressPublicNetworkAccess", "Enabled")
        props.setdefault("properties", {})
        sku = rest.get("sku") or {}
        sku.setdefault("name", "Default")
        sku.setdefault("capacity", 1)
        rest["sku"] = sku
        return rest

    def _validate_deployment_refs(self, props: dict[str, Any]) -> None:
        refs = [("models", props.get("model")), ("environments", props.get("environmentId"))]
        code_cfg = props.get("codeConfiguration") or {}
        refs.append(("codes", code_cfg.get("codeId")))
        for kind, ref in refs:
            if not ref:
                continue
            parsed = self._parse_asset_ref(kind, str(ref))
            if parsed and parsed[1] not in self.assets[kind].get(parsed[0], {}):
                raise HttpError(
                    404,
                    "UserError",
                    f"{kind[:-1].capitalize()} {parsed[0]}:{parsed[1]} not found.",
                    inner="NotFound",
                )

    def _delete_deployment(self, ep: str, name: str) -> FakeResponse:
        traffic = self.endpoints[ep]["properties"].get("traffic") or {}
        if traffic.get(name):
            raise HttpError(
                400,
                "BadArgument",
                f"Deployment {name} receives {traffic[name]}% of traffic; "
                "set it to 0 before deleting.",
            )
        self.deployments[ep][name]["properties"]["provisioningState"] = "Deleting"
        # ASSUMPTION: deleting a deployment ends its pending create/update as Canceled.
        for op in self.operations.values():
            if op.target == (ep, name) and op.status == "InProgress":
                op.status, op.end = "Canceled", now()
                op.error = {"code": "Canceled", "message": f"Deployment {name} was deleted."}

        def done() -> None:
            self.deployments.get(ep, {}).pop(name, None)
            props = self.endpoints.get(ep, {}).get("properties", {})
            for key in ("traffic", "mirrorTraffic"):
                (props.get(key) or {}).pop(name, None)

        return self._start_operation(done, None, status=202, location=True)
