"""Garbage collection (Harbor's GCHistory, Schedule, ScheduleObj)."""

from __future__ import annotations

from typing import Any

from web.api.schemas.common import Closed, RequestBody


class ScheduleObj(Closed):
    type: str | None
    cron: str | None
    next_scheduled_time: str | None


class ExecHistory(Closed):
    """A run of a system job (Harbor's ExecHistory: GC, the audit log purge)."""

    id: int
    job_name: str
    job_kind: str
    job_parameters: str
    schedule: ScheduleObj | None
    job_status: str
    deleted: bool
    creation_time: str
    update_time: str


class GCHistory(ExecHistory):
    trigger: str
    freed_bytes: int
    blobs: int
    manifests: int
    uploads: int


class GCSchedule(Closed):
    id: int | None
    status: str | None
    creation_time: str | None = None
    update_time: str | None = None
    schedule: dict[str, Any]
    parameters: dict[str, Any]


class ScheduleReq(RequestBody):
    schedule: dict[str, Any] | None = None
    parameters: dict[str, Any] | None = None
