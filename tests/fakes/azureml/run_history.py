"""The regional host ``<region>.api.azureml.ms``: ``/discovery`` and run history of jobs."""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.fakes.azureml.model import (
    PROVIDER,
    TERMINAL_JOB_STATUSES,
    FakeResponse,
    HttpError,
    Job,
    RecordedRequest,
    now,
)
from tests.fakes.azureml.routes import NAME, Route, route

# the workspace part is matched in any case, the run's own sub-paths exactly
RUN_PATH = (
    r"(?i:/history/v1\.0/subscriptions/[^/]+/resourceGroups/[^/]+/providers/"
    rf"{PROVIDER}/workspaces/[^/]+(?:/experiments/[^/]+|/experimentids/[^/]+)?"
    rf"/runs/)(?P<run>{NAME})"
)


class RunHistoryService:
    """Run history routes over the jobs of ``JobService`` (mixed into ``FakeAzureML``)."""

    jobs: dict[str, Job]

    def _regional_routes(self) -> list[Route]:
        return [
            route("GET", "/discovery", self._discovery),
            route("PATCH", RUN_PATH, self._patch_run_route),
            route("GET", RUN_PATH, self._get_run),
            route("GET", rf"{RUN_PATH}/details", self._get_run_details),
            route("GET", rf"{RUN_PATH}/children", self._get_run_children),
            route("GET PATCH", rf"{RUN_PATH}/.*", self._run_exists),
        ]

    def _discovery(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        return FakeResponse(200, self.discovery_rest())

    def _require_run(self, m: re.Match[str]) -> Job:
        job = self.jobs.get(m["run"])
        if job is None:
            raise HttpError(404, "UserError", f"Run {m['run']} not found.", inner="NotFound")
        return job

    def _patch_run_route(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        return self._patch_run(self._require_run(m), req.json or {})

    def _get_run(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        return FakeResponse(200, self._run_rest(self._require_run(m), details=False))

    def _get_run_details(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        job = self._require_run(m)
        job.advance()
        return FakeResponse(200, self._run_rest(job, details=True))

    def _get_run_children(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        job = self._require_run(m)
        children = [self._child_run(job, c) for c in job.script.children]
        return FakeResponse(200, {"value": children, "continuationToken": None})

    def _run_exists(self, req: RecordedRequest, m: re.Match[str]) -> None:
        self._require_run(m)

    def _patch_run(self, job: Job, body: dict[str, Any]) -> FakeResponse:
        """Run-history PATCH (``jobs.update`` and create_or_update of a fetched job): merges
        tags and properties, sets display name / description, ``hidden`` archives."""
        props = job.body.setdefault("properties", {})
        for key in ("tags", "properties"):
            if body.get(key):
                props[key] = {**(props.get(key) or {}), **body[key]}
        for key in ("displayName", "description"):
            if body.get(key) is not None:
                props[key] = body[key]
        if body.get("hidden") is not None:
            props["isArchived"] = bool(body["hidden"])
        return FakeResponse(200, self._run_rest(job, details=False))

    def _run_rest(self, job: Job, *, details: bool) -> dict[str, Any]:
        props = job.body.get("properties") or {}
        status = job.status
        rest: dict[str, Any] = {
            "runId": job.name,
            "runUuid": str(uuid.uuid5(uuid.NAMESPACE_URL, job.name)),
            "status": status,
            "target": str(props.get("computeId") or "").split("/")[-1] or None,
            "startTimeUtc": job.created_at if status not in ("NotStarted", "Queued") else None,
            "endTimeUtc": now() if status in TERMINAL_JOB_STATUSES else None,
            "tags": dict(props.get("tags") or {}),
            "properties": dict(props.get("properties") or {}),
            "error": self._job_error(job),
            "warnings": [],
        }
        if status in TERMINAL_JOB_STATUSES:
            rest["properties"].update(job.script.properties)
        if details:
            rest["logFiles"] = {}
            rest["runDefinition"] = {}
        else:
            rest["displayName"] = props.get("displayName") or job.name
            rest["experimentId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, "Default"))
            rest["parentRunId"] = None
            rest["runType"] = "azureml.scriptrun"
        return rest

    def _child_run(self, parent: Job, child: dict[str, Any]) -> dict[str, Any]:
        return {
            "runId": child["name"],
            "parentRunId": parent.name,
            "rootRunId": parent.name,
            "status": child.get("status", "Completed"),
            "displayName": child.get("name"),
            "tags": dict(child.get("tags") or {}),
            "properties": dict(child.get("properties") or {}),
            "runType": "azureml.scriptrun",
            "createdUtc": parent.created_at,
        }
