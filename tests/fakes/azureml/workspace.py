"""ARM control plane, workspace level: the workspace itself, computes and datastores.

Also the ids and URLs the other services hand out (they point at the loopback server while
``serve_https`` runs).
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from tests.fakes.azureml.model import (
    ARM_HOST,
    LOOPBACK_SCORING_PREFIX,
    PROVIDER,
    FakeResponse,
    HttpError,
    RecordedRequest,
    now,
)
from tests.fakes.azureml.routes import NAME, Route, RouteTable, route

# every workspace-scoped ARM path; ``rest`` is routed by the workspace table
WORKSPACE_PATH = (
    rf"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/{PROVIDER}"
    r"/workspaces/(?P<ws>[^/]+)(?P<rest>/.*)?"
)


class WorkspaceService:
    """Workspace, compute and datastore state and routes (mixed into ``FakeAzureML``)."""

    subscription_id: str
    resource_group: str
    workspace: str
    location: str
    tenant_id: str
    workspace_id: str
    lock: Any
    loopback_base: str | None
    computes: dict[str, dict[str, Any]]
    datastores: dict[str, dict[str, Any]]
    _workspace_table: RouteTable

    # ---------------------------------------------------------------- ids and urls

    @property
    def workspace_arm_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/{PROVIDER}/workspaces/{self.workspace}"
        )

    @property
    def api_host(self) -> str:
        return f"{self.location}.api.azureml.ms"

    @property
    def arm_base(self) -> str:
        return self.loopback_base or f"https://{ARM_HOST}"

    @property
    def api_base(self) -> str:
        return self.loopback_base or f"https://{self.api_host}"

    @property
    def discovery_url(self) -> str:
        return f"{self.api_base}/discovery"

    @property
    def mlflow_tracking_uri(self) -> str:
        host = urlsplit(self.api_base).netloc
        return f"azureml://{host}/mlflow/v1.0{self.workspace_arm_id}"

    def scoring_uri(self, endpoint: str) -> str:
        if self.loopback_base:
            return f"{self.loopback_base}{LOOPBACK_SCORING_PREFIX}/{endpoint}/score"
        return f"https://{endpoint}.{self.location}.inference.ml.azure.com/score"

    def asset_id(self, kind: str, name: str, version: str | None = None) -> str:
        rid = f"{self.workspace_arm_id}/{kind}/{name}"
        return f"{rid}/versions/{version}" if version is not None else rid

    def _system_data(self) -> dict[str, Any]:
        stamp = now()
        return {
            "createdAt": stamp,
            "createdBy": "fake-user@example.com",
            "createdByType": "User",
            "lastModifiedAt": stamp,
            "lastModifiedBy": "fake-user@example.com",
            "lastModifiedByType": "User",
        }

    def workspace_rest(self) -> dict[str, Any]:
        rg = f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}/providers"
        return {
            "id": self.workspace_arm_id,
            "name": self.workspace,
            "type": f"{PROVIDER}/workspaces",
            "location": self.location,
            "kind": "Default",
            "tags": {},
            "identity": {
                "type": "SystemAssigned",
                "principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, self.workspace_id)),
                "tenantId": self.tenant_id,
            },
            "sku": {"name": "Basic", "tier": "Basic"},
            "systemData": self._system_data(),
            "properties": {
                "friendlyName": self.workspace,
                "description": "",
                "workspaceId": self.workspace_id,
                "storageAccount": f"{rg}/Microsoft.Storage/storageAccounts/fakestorage",
                "keyVault": f"{rg}/Microsoft.KeyVault/vaults/fake-kv",
                "applicationInsights": f"{rg}/Microsoft.insights/components/fake-ai",
                "containerRegistry": f"{rg}/Microsoft.ContainerRegistry/registries/fakeacr",
                "discoveryUrl": self.discovery_url,
                "mlFlowTrackingUri": self.mlflow_tracking_uri,
                "provisioningState": "Succeeded",
                "publicNetworkAccess": "Enabled",
                "hbiWorkspace": False,
                "v1LegacyMode": False,
                "tenantId": self.tenant_id,
                "storageHnsEnabled": False,
            },
        }

    def discovery_rest(self) -> dict[str, str]:
        base = self.api_base
        return {
            "api": base,
            "catalog": base,
            "experimentation": base,
            "gallery": f"{base}/marketplace/api",
            "history": base,
            "hyperdrive": base,
            "labeling": base,
            "modelmanagement": base,
            "pipelines": base,
            "studio": "https://ml.azure.com",
        }

    # ---------------------------------------------------------------- seeding

    def add_compute(
        self,
        name: str,
        *,
        compute_type: str = "AmlCompute",
        vm_size: str = "STANDARD_DS3_V2",
        max_nodes: int = 4,
    ) -> dict[str, Any]:
        rest = {
            "id": f"{self.workspace_arm_id}/computes/{name}",
            "name": name,
            "type": f"{PROVIDER}/workspaces/computes",
            "location": self.location,
            "tags": {},
            "systemData": self._system_data(),
            "properties": {
                "computeType": compute_type,
                "computeLocation": self.location,
                "provisioningState": "Succeeded",
                "isAttachedCompute": False,
                "disableLocalAuth": True,
                "properties": {
                    "vmSize": vm_size,
                    "vmPriority": "Dedicated",
                    "osType": "Linux",
                    "scaleSettings": {
                        "minNodeCount": 0,
                        "maxNodeCount": max_nodes,
                        "nodeIdleTimeBeforeScaleDown": "PT120S",
                    },
                    "allocationState": "Steady",
                    "currentNodeCount": 0,
                    "targetNodeCount": 0,
                },
            },
        }
        with self.lock:
            self.computes[name] = rest
        return rest

    def add_datastore(self, name: str, *, default: bool = False) -> dict[str, Any]:
        rest = {
            "id": f"{self.workspace_arm_id}/datastores/{name}",
            "name": name,
            "type": f"{PROVIDER}/workspaces/datastores",
            "systemData": self._system_data(),
            "properties": {
                "datastoreType": "AzureBlob",
                "accountName": "fakestorage",
                "containerName": f"azureml-blobstore-{self.workspace_id}",
                "endpoint": "core.windows.net",
                "protocol": "https",
                "serviceDataAccessAuthIdentity": "WorkspaceSystemAssignedIdentity",
                "credentials": {"credentialsType": "None"},
                "isDefault": default,
                "tags": {},
                "properties": {},
            },
        }
        with self.lock:
            self.datastores[name] = rest
        return rest

    # ---------------------------------------------------------------- routes

    def _workspace_route(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse | None:
        """Any workspace-scoped path: check the ids, then route the rest of the path (empty
        segments dropped) through the workspace table."""
        if (
            m.group("sub") != self.subscription_id
            or m.group("rg").lower() != self.resource_group.lower()
            or m.group("ws").lower() != self.workspace.lower()
        ):
            raise HttpError(
                404, "ResourceNotFound", f"Workspace {m.group('ws')} not found in {m.group('rg')}."
            )
        segments = [s for s in (m.group("rest") or "").split("/") if s]
        rest = "/" + "/".join(segments) if segments else ""
        result: FakeResponse | None = self._workspace_table.dispatch(req, rest)
        return result

    def _workspace_routes(self) -> list[Route]:
        computes = r"/(?i:computes)"
        datastore = rf"/(?i:datastores)/(?P<name>{NAME})"
        return [
            route("GET", "", self._get_workspace),
            route("GET", computes, self._list_computes),
            route("GET", rf"{computes}/(?P<name>{NAME})", self._get_compute),
            route("GET", r"/(?i:datastores)", self._list_datastores),
            route("GET", datastore, self._get_datastore),
            route("POST", rf"{datastore}/listSecrets", self._datastore_secrets),
            route("*", rf"{datastore}(?:/.*)?", self._datastore_exists),
        ]

    def _get_workspace(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        return FakeResponse(200, self.workspace_rest())

    def _list_computes(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        return FakeResponse(200, {"value": list(self.computes.values())})

    def _get_compute(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        name = m["name"]
        if name not in self.computes:
            raise HttpError(404, "ResourceNotFound", f"Compute {name} was not found.")
        return FakeResponse(200, self.computes[name])

    def _list_datastores(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        return FakeResponse(200, {"value": list(self.datastores.values())})

    def _require_datastore(self, name: str) -> dict[str, Any]:
        if name not in self.datastores:
            raise HttpError(404, "UserError", f"Datastore {name} not found.", inner="NotFound")
        return self.datastores[name]

    def _get_datastore(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        return FakeResponse(200, self._require_datastore(m["name"]))

    def _datastore_secrets(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        self._require_datastore(m["name"])
        return FakeResponse(200, {"secretsType": "None"})

    def _datastore_exists(self, req: RecordedRequest, m: re.Match[str]) -> None:
        self._require_datastore(m["name"])
