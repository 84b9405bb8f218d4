"""ARM long-running operations: the ``mfeOperationsStatus`` / ``mfeOperationResults`` URLs the
SDK polls after a create, update or delete."""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from tests.fakes.azureml.model import (
    PROVIDER,
    FakeResponse,
    HttpError,
    Operation,
    ProvisioningFault,
    RecordedRequest,
    now,
)

OPERATION_PATH = (
    rf"/subscriptions/[^/]+/providers/{PROVIDER}/locations/[^/]+"
    r"/(?P<kind>mfeOperationsStatus|mfeOperationResults)/(?P<id>[^/]+)"
)


class OperationService:
    """Operation state and the polling route (mixed into ``FakeAzureML``)."""

    subscription_id: str
    location: str
    arm_base: str
    lock: Any
    lro_polls: int
    retry_after_ms: int
    operations: dict[str, Operation]

    def complete_operations(self) -> None:
        """Finish every pending long-running operation as if it had been polled to the end."""
        with self.lock:
            for op in list(self.operations.values()):
                while op.status == "InProgress":
                    self._tick_operation(op)

    def _operation_route(self, req: RecordedRequest, m: re.Match[str]) -> FakeResponse:
        return self._get_operation(m["kind"], m["id"])

    def _op_urls(self, op_id: str) -> tuple[str, str]:
        base = (
            f"{self.arm_base}/subscriptions/{self.subscription_id}/providers/{PROVIDER}"
            f"/locations/{self.location}"
        )
        return (
            f"{base}/mfeOperationsStatus/{op_id}?api-version=2023-04-01",
            f"{base}/mfeOperationResults/{op_id}?api-version=2023-04-01",
        )

    def _retry_headers(self) -> dict[str, str]:
        return {
            "Retry-After-ms": str(self.retry_after_ms),
            "x-ms-retry-after-ms": str(self.retry_after_ms),
        }

    def _start_operation(
        self,
        on_success: Callable[[], None] | None,
        on_failure: Callable[[], None] | None,
        *,
        status: int,
        body: Any = None,
        fault: ProvisioningFault | None = None,
        location: bool = False,
        target: tuple[str, str] | None = None,
    ) -> FakeResponse:
        op_id = f"{uuid.uuid4()}"
        op = Operation(
            id=op_id,
            polls_left=fault.polls if fault else self.lro_polls,
            on_success=on_success,
            on_failure=on_failure,
            error={"code": fault.code, "message": fault.message} if fault else None,
            target=target,
        )
        self.operations[op_id] = op
        status_url, result_url = self._op_urls(op_id)
        headers = {"Azure-AsyncOperation": status_url, **self._retry_headers()}
        if location:
            headers["Location"] = result_url
        return FakeResponse(status, copy.deepcopy(body) if body is not None else None, headers)

    def _tick_operation(self, op: Operation) -> None:
        if op.status != "InProgress":
            return
        if op.polls_left > 0:
            op.polls_left -= 1
            return
        op.end = now()
        if op.error:
            op.status = "Failed"
            if op.on_failure:
                op.on_failure()
        else:
            op.status = "Succeeded"
            if op.on_success:
                op.on_success()

    def _get_operation(self, kind: str, op_id: str) -> FakeResponse:
        op = self.operations.get(op_id)
        if op is None:
            raise HttpError(404, "NotFound", f"Operation {op_id} not found.")
        self._tick_operation(op)
        if kind.lower() == "mfeoperationresults":
            if op.status == "InProgress":
                _, result_url = self._op_urls(op_id)
                return FakeResponse(202, None, {"Location": result_url, **self._retry_headers()})
            return FakeResponse(200, None)
        body: dict[str, Any] = {
            "id": urlsplit(self._op_urls(op_id)[0]).path,
            "name": op_id,
            "status": op.status,
            "startTime": op.start,
        }
        if op.end:
            body["endTime"] = op.end
        if op.status in ("Failed", "Canceled") and op.error:
            body["error"] = {**op.error, "details": []}
        headers = self._retry_headers() if op.status == "InProgress" else {}
        return FakeResponse(200, body, headers)
