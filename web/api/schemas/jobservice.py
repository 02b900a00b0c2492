"""The job service and schedules (Harbor's WorkerPool, Worker, JobQueue, ActionRequest,
ScheduleTask, SchedulerStatus)."""

from __future__ import annotations

from typing import Any

from web.api.schemas.common import Closed, RequestBody


class WorkerPool(Closed):
    pid: int
    worker_pool_id: str
    start_at: str
    heartbeat_at: str
    concurrency: int
    host: str


class Worker(Closed):
    """A thread of a pool; the job fields only while it runs one."""

    id: str
    pool_id: str
    job_name: str | None = None
    job_id: str | None = None
    start_at: str | None = None
    check_in: str | None = None
    checkin_at: str | None = None


class JobQueue(Closed):
    job_type: str
    count: int
    latency: int
    paused: bool


class ActionRequest(RequestBody):
    action: str  # stop, pause or resume (checked by the service, in any case)


class ScheduleTask(Closed):
    id: int
    vendor_type: str
    vendor_id: int
    cron: str
    update_time: str
    extra_attrs: dict[str, Any]


class SchedulerStatus(Closed):
    paused: bool
