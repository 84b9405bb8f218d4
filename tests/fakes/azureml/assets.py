"""ARM control plane: versioned assets (environments, models, data, codes, components)."""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.azureml.model import (
    PROVIDER,
    FakeResponse,
    HttpError,
    RecordedRequest,
    version_key,
)
from tests.fakes.azureml.routes import NAME, Route, route

ASSET_KINDS = ("environments", "models", "data", "codes", "components")


class AssetService:
    """Asset containers and versions: seeding and routes (mixed into ``FakeAzureML``; ids
    and system data come from ``WorkspaceService``)."""

    subscription_id: str
    resource_group: str
    workspace: str
    workspace_id: str
    auto_match_code_hashes: bool
    lock: Any
    # kind -> name -> version -> rest body
    assets: dict[str, dict[str, dict[str, dict[str, Any]]]]
    code_hashes: dict[str, tuple[str, str]]

    def _version_rest(
        self, kind: str, name: str, version: str, props: dict[str, Any]
    ) -> dict[str, Any]:
        base_props: dict[str, Any] = {
            "description": None,
            "tags": {},
            "properties": {},
            "isAnonymous": False,
            "isArchived": False,
            "provisioningState": "Succeeded",
        }
        base_props.update(props)
        return {
            "id": self.asset_id(kind, name, version),
            "name": version,
            "type": f"{PROVIDER}/workspaces/{kind}/versions",
            "systemData": self._system_data(),
            "properties": base_props,
        }

    def _store_version(self, kind: str, name: str, version: str, rest: dict[str, Any]) -> None:
        with self.lock:
            self.assets[kind].setdefault(name, {})[version] = rest

    def add_environment(
        self,
        name: str,
        version: str = "1",
        *,
        image: str = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest",
        conda_file: str | None = None,
    ) -> dict[str, Any]:
        props: dict[str, Any] = {
            "image": image,
            "osType": "Linux",
            "environmentType": "UserCreated",
        }
        if conda_file:
            props["condaFile"] = conda_file
        rest = self._version_rest("environments", name, version, props)
        self._store_version("environments", name, version, rest)
        return rest

    def add_model(
        self,
        name: str,
        version: str = "1",
        *,
        model_type: str = "mlflow_model",
        path: str | None = None,
        job_name: str | None = None,
        tags: dict[str, str] | None = None,
        properties: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        uri = path or (
            f"azureml://subscriptions/{self.subscription_id}/resourcegroups/{self.resource_group}"
            f"/workspaces/{self.workspace}/datastores/workspaceartifactstore/paths/models/{name}/{version}"
        )
        props = {
            "modelUri": uri,
            "modelType": model_type,
            "flavors": {},
            "jobName": job_name,
            "tags": dict(tags or {}),
            "properties": dict(properties or {}),
        }
        rest = self._version_rest("models", name, version, props)
        self._store_version("models", name, version, rest)
        return rest

    def add_data(
        self,
        name: str,
        version: str = "1",
        *,
        path: str | None = None,
        data_type: str = "uri_folder",
    ) -> dict[str, Any]:
        uri = path or f"azureml://datastores/workspaceblobstore/paths/data/{name}/{version}/"
        rest = self._version_rest("data", name, version, {"dataUri": uri, "dataType": data_type})
        self._store_version("data", name, version, rest)
        return rest

    def add_code(
        self, name: str, version: str = "1", *, content_hash: str | None = None
    ) -> dict[str, Any]:
        uri = f"https://fakestorage.blob.core.windows.net/azureml-blobstore-{self.workspace_id}/LocalUpload/{name}"
        rest = self._version_rest("codes", name, version, {"codeUri": uri})
        self._store_version("codes", name, version, rest)
        if content_hash:
            with self.lock:
                self.code_hashes[content_hash] = (name, version)
        return rest

    # ---------------------------------------------------------------- routes

    def _asset_routes(self) -> list[Route]:
        kinds = "|".join(ASSET_KINDS)
        container = rf"/(?P<kind>(?i:{kinds}))/(?P<name>{NAME})"
        version = rf"{container}/(?i:versions)/(?P<version>{NAME})"
        return [
            route("GET", rf"/(?P<kind>(?i:{kinds}))", self._list_containers),
            route("GET", container, self._get_container),
            route("PUT", container, self._put_container),
            route("GET", rf"{container}/(?i:versions)", self._list_versions_route),
            route("GET", version, self._get_version),
            route("PUT", version, self._put_version_route),
            route("DELETE", version, self._delete_version),
        ]

    def _list_containers(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        kind = m["kind"].lower()
        names = sorted(self.assets[kind])
        return FakeResponse(200, {"value": [self._container_rest(kind, n) for n in names]})

    def _get_container(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        kind, name = m["kind"].lower(), m["name"]
        if name not in self.assets[kind]:
            raise HttpError(
                404, "UserError", f"{kind} container {name} not found.", inner="NotFound"
            )
        return FakeResponse(200, self._container_rest(kind, name))

    def _put_container(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        kind, name = m["kind"].lower(), m["name"]
        self.assets[kind].setdefault(name, {})
        return FakeResponse(200, self._container_rest(kind, name))

    def _list_versions_route(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        kind, name = m["kind"].lower(), m["name"]
        return FakeResponse(200, {"value": self._list_versions(kind, name, req.query)})

    def _get_version(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        kind, name, version = m["kind"].lower(), m["name"], m["version"]
        found = self.assets[kind].get(name, {}).get(version)
        if found is None:
            raise HttpError(
                404,
                "UserError",
                f"Could not find asset with name {name} and version {version} in {kind}.",
                inner="NotFound",
            )
        return FakeResponse(200, found)

    def _put_version_route(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        return self._put_version(m["kind"].lower(), m["name"], m["version"], req.json or {})

    def _delete_version(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        self.assets[m["kind"].lower()].get(m["name"], {}).pop(m["version"], None)
        return FakeResponse(200)

    def _container_rest(self, kind: str, name: str) -> dict[str, Any]:
        versions = sorted(self.assets[kind].get(name, {}), key=version_key)
        latest = versions[-1] if versions else None
        return {
            "id": self.asset_id(kind, name),
            "name": name,
            "type": f"{PROVIDER}/workspaces/{kind}",
            "systemData": self._system_data(),
            "properties": {
                "description": None,
                "tags": {},
                "properties": {},
                "isArchived": False,
                "latestVersion": latest,
                "nextVersion": str(int(latest) + 1) if latest and latest.isdigit() else "1",
            },
        }

    def _list_versions(self, kind: str, name: str, query: dict[str, str]) -> list[dict[str, Any]]:
        if kind == "codes" and "hash" in query:
            return self._code_hash_lookup(name, query["hash"])
        items = list(self.assets[kind].get(name, {}).values())
        order = query.get("$orderBy", query.get("$orderby", "")).lower()
        if "createdtime" in order and "desc" in order:
            items.reverse()  # insertion order is creation order
        top = query.get("$top")
        if top:
            items = items[: int(top)]
        return items

    def _code_hash_lookup(self, name: str, content_hash: str) -> list[dict[str, Any]]:
        known = self.code_hashes.get(content_hash)
        if known is None and self.auto_match_code_hashes:
            version = "1"
            self.add_code(name, version, content_hash=content_hash)
            known = (name, version)
        if known is None:
            return []
        return [self.assets["codes"][known[0]][known[1]]]

    def _put_version(
        self, kind: str, name: str, version: str, body: dict[str, Any]
    ) -> FakeResponse:
        existing = self.assets[kind].get(name, {}).get(version)
        props = dict(body.get("properties") or {})
        if kind == "models":
            props.setdefault("flavors", {})
        props.setdefault("provisioningState", "Succeeded")
        rest = self._version_rest(kind, name, version, props)
        if existing is not None:
            rest["systemData"] = existing["systemData"]
        self._store_version(kind, name, version, rest)
        return FakeResponse(200 if existing is not None else 201, rest)

    def _parse_asset_ref(self, kind: str, ref: str) -> tuple[str, str] | None:
        m = re.search(rf"/workspaces/[^/]+/{kind}/([^/]+)/versions/([^/]+)$", ref, re.IGNORECASE)
        if m:
            return m.group(1), m.group(2)
        if ref.startswith("azureml:") and not ref.startswith("azureml://"):
            short = ref[len("azureml:") :]
            if short.startswith("AzureML-") or short.startswith("azureml-"):
                return None  # curated environment, expanded by the service
            if ":" in short:
                n, v = short.rsplit(":", 1)
                return n, v
        return None
