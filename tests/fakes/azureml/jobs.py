"""ARM control plane: jobs (submit, read, update, cancel, delete) and how they are scripted."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

from tests.fakes.azureml.model import (
    DEFAULT_JOB_STATUSES,
    PROVIDER,
    TERMINAL_JOB_STATUSES,
    FakeResponse,
    HttpError,
    Job,
    JobScript,
    RecordedRequest,
    SubmitFault,
    now,
)
from tests.fakes.azureml.routes import NAME, Route, route


class JobService:
    """Job state, scripting and routes (mixed into ``FakeAzureML``; uses the asset store of
    ``AssetService`` and the operations of ``OperationService``)."""

    workspace: str
    workspace_arm_id: str
    mlflow_tracking_uri: str
    lock: Any
    computes: dict[str, dict[str, Any]]
    assets: dict[str, dict[str, dict[str, dict[str, Any]]]]
    jobs: dict[str, Job]
    default_job_script: JobScript
    _job_scripts_by_name: dict[str, JobScript]
    _job_scripts_queue: list[JobScript]
    _submit_faults: list[SubmitFault]

    def script_job(
        self,
        statuses: Iterable[str] = DEFAULT_JOB_STATUSES,
        *,
        name: str | None = None,
        error_message: str | None = None,
        error_code: str = "UserError",
        properties: dict[str, str] | None = None,
        children: list[dict[str, Any]] | None = None,
    ) -> JobScript:
        """Script the status sequence of the job called ``name`` or, without a name, of the next job
        submitted (FIFO).  Each read of the job (GET job, GET run details) moves one step."""
        script = JobScript(
            statuses=list(statuses),
            error_code=error_code,
            error_message=error_message,
            properties=dict(properties or {}),
            children=list(children or []),
        )
        if not script.statuses:
            raise ValueError("statuses must not be empty")
        with self.lock:
            if name is None:
                self._job_scripts_queue.append(script)
            else:
                self._job_scripts_by_name[name] = script
        return script

    def set_job_status(self, name: str, status: str, *, error_message: str | None = None) -> None:
        """Force a job into ``status`` now (sticks)."""
        with self.lock:
            job = self.jobs[name]
            job.script = JobScript(
                statuses=[status],
                error_code=job.script.error_code,
                error_message=error_message or job.script.error_message,
                properties=job.script.properties,
                children=job.script.children,
            )
            job.index = 0
            job.canceled = status == "Canceled"

    def reject_job_submission(
        self,
        status: int = 400,
        code: str = "UserError",
        message: str = "Job validation failed.",
        *,
        inner: str | None = None,
        times: int | None = 1,
    ) -> None:
        """Make the next ``times`` job PUTs (``None``: all) fail with an ARM error."""
        with self.lock:
            self._submit_faults.append(SubmitFault(status, code, message, inner, times))

    def reject_job_quota(
        self,
        message: str = "Not enough quota available for Standard_DS3_v2 in the subscription.",
        *,
        times: int | None = 1,
    ) -> None:
        """ASSUMPTION: quota rejections at submit come back as 400 UserError / QuotaExceeded."""
        self.reject_job_submission(400, "UserError", message, inner="QuotaExceeded", times=times)

    # ---------------------------------------------------------------- routes

    def _job_routes(self) -> list[Route]:
        job = rf"/(?i:jobs)/(?P<name>{NAME})"
        return [
            route("GET", r"/(?i:jobs)", self._list_jobs),
            route("PUT", job, self._put_job_route),
            route("GET", job, self._get_job),
            route("DELETE", job, self._delete_job),
            route("*", job, self._job_exists),
            route("POST", rf"{job}/(?i:cancel)", self._cancel_job),
        ]

    def _require_job(self, name: str) -> Job:
        job = self.jobs.get(name)
        if job is None:
            raise HttpError(404, "UserError", f"Job {name} not found.", inner="NotFound")
        return job

    def _list_jobs(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        return FakeResponse(200, {"value": [self._job_rest(j) for j in self.jobs.values()]})

    def _put_job_route(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        return self._put_job(m["name"], req.json or {})

    def _get_job(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        job = self._require_job(m["name"])
        job.advance()
        return FakeResponse(200, self._job_rest(job))

    def _delete_job(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        self._require_job(m["name"])
        del self.jobs[m["name"]]
        return self._start_operation(None, None, status=202)

    def _job_exists(self, req: RecordedRequest, m: re.Match[str]) -> None:
        self._require_job(m["name"])

    def _cancel_job(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        job = self._require_job(m["name"])
        if job.status not in TERMINAL_JOB_STATUSES:
            job.canceled = True
        return self._start_operation(None, None, status=202, location=True)

    def _put_job(self, name: str, body: dict[str, Any]) -> FakeResponse:
        for fault in list(self._submit_faults):
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._submit_faults.remove(fault)
            raise HttpError(fault.status, fault.code, fault.message, inner=fault.inner)
        props = body.get("properties") or {}
        if name in self.jobs:
            return self._update_job(self.jobs[name], props)
        self._validate_job_refs(props)
        script = self._job_scripts_by_name.pop(name, None)
        if script is None and self._job_scripts_queue:
            script = self._job_scripts_queue.pop(0)
        if script is None:
            script = copy.deepcopy(self.default_job_script)
        job = Job(name=name, body=copy.deepcopy(body), script=script)
        self.jobs[name] = job
        return FakeResponse(201, self._job_rest(job))

    _MUTABLE_JOB_FIELDS = frozenset(
        {"tags", "description", "displayName", "properties", "isArchived", "status", "services"}
    )

    def _update_job(self, job: Job, props: dict[str, Any]) -> FakeResponse:
        """ASSUMPTION: a PUT on an existing job may change only tags, description, display name."""
        current = job.body.setdefault("properties", {})
        changed = sorted(
            k
            for k in set(props) | set(current)
            if k not in self._MUTABLE_JOB_FIELDS and props.get(k) != current.get(k)
        )
        if changed:
            raise HttpError(
                400,
                "UserError",
                f"Job {job.name} already exists; only tags, description and displayName can be "
                f"updated (changed: {', '.join(changed)}).",
            )
        for key in ("tags", "description", "displayName"):
            if key in props:
                current[key] = props[key]
        return FakeResponse(200, self._job_rest(job))

    def _validate_job_refs(self, props: dict[str, Any]) -> None:
        """The real service checks at submit that referenced compute/assets exist."""
        compute = props.get("computeId")
        if compute and not str(compute).startswith("azureml:"):
            cname = str(compute).rstrip("/").split("/")[-1]
            if cname not in self.computes:
                raise HttpError(
                    404,
                    "UserError",
                    f"Compute {cname} not found in workspace {self.workspace}.",
                    inner="NotFound",
                )
        refs: list[tuple[str, Any]] = [
            ("environments", props.get("environmentId")),
            ("codes", props.get("codeId")),
        ]
        trial = props.get("trial") or {}
        refs += [("environments", trial.get("environmentId")), ("codes", trial.get("codeId"))]
        for inp in (props.get("inputs") or {}).values():
            if isinstance(inp, dict) and isinstance(inp.get("uri"), str):
                refs.append(("data", inp["uri"]))
        for kind, ref in refs:
            if not ref:
                continue
            parsed = self._parse_asset_ref(kind, str(ref))
            if parsed is None:
                continue
            name, version = parsed
            if version not in self.assets[kind].get(name, {}):
                singular = {"environments": "Environment", "codes": "Code", "data": "Data"}[kind]
                raise HttpError(
                    404,
                    "UserError",
                    f"{singular} {name}:{version} not found in workspace {self.workspace}.",
                    inner="NotFound",
                )

    def _job_rest(self, job: Job) -> dict[str, Any]:
        rest = copy.deepcopy(job.body)
        rest["id"] = f"{self.workspace_arm_id}/jobs/{job.name}"
        rest["name"] = job.name
        rest["type"] = f"{PROVIDER}/workspaces/jobs"
        rest["systemData"] = {
            "createdAt": job.created_at,
            "createdBy": "fake-user@example.com",
            "createdByType": "User",
        }
        props = rest.setdefault("properties", {})
        status = job.status
        props["status"] = status
        props.setdefault("experimentName", "Default")
        props.setdefault("displayName", job.name)
        inner = dict(props.get("properties") or {})
        if status in TERMINAL_JOB_STATUSES:
            inner.update(job.script.properties)
        props["properties"] = inner
        props["services"] = {
            "Tracking": {"jobServiceType": "Tracking", "endpoint": self.mlflow_tracking_uri},
            "Studio": {
                "jobServiceType": "Studio",
                "endpoint": f"https://ml.azure.com/runs/{job.name}?wsid={self.workspace_arm_id}",
            },
        }
        outputs = props.get("outputs")
        if isinstance(outputs, dict):
            for oname, out in outputs.items():
                if isinstance(out, dict) and not out.get("uri"):
                    out["uri"] = (
                        f"azureml://datastores/workspaceartifactstore/ExperimentRun/dcid.{job.name}/{oname}"
                    )
        return rest

    def _job_error(self, job: Job) -> dict[str, Any] | None:
        if job.status != "Failed":
            return None
        return {
            "error": {
                "code": job.script.error_code,
                "message": job.script.error_message or "Job failed.",
                "severity": None,
                "messageFormat": None,
                "messageParameters": {},
                "details": [],
            },
            "componentName": "fake-azureml",
            "time": now(),
        }
