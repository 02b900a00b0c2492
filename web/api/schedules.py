"""Harbor's schedules: /schedules (the cron triggers Berth runs: GC, the audit purge,
replication policies', the scrub; jobservice-monitor:list) and
/schedules/all/paused (whether the scheduler's queue is paused; any signed-in caller)."""

from __future__ import annotations

from quart import Response

import services.jobservice
from core import jobs, schedules
from core.schedules import ScheduleTask
from models.values import ParameterInvalid
from web.api import api
from web.api.common import current_identity, json_response, paged_response, paging, signed_in
from web.api.openapi import operation
from web.api.schemas.common import PageQuery
from web.api.schemas.jobservice import SchedulerStatus
from web.api.schemas.jobservice import ScheduleTask as ScheduleTaskModel
from web.params import api_time


@api.get("/schedules")
@operation("listSchedules", "schedule", query=PageQuery, responses={200: list[ScheduleTaskModel]})
async def list_schedules() -> Response:
    services.jobservice.require(await current_identity())
    pages = paging()
    rows, total = await schedules.listing(pages.offset, pages.page_size)
    return paged_response([schedule_json(r) for r in rows], total, pages)


@api.get("/schedules/<job_type>/paused")
@operation("getSchedulePaused", "schedule", responses={200: SchedulerStatus})
async def get_schedule_paused(job_type: str) -> Response:
    await signed_in()
    if job_type.lower() != "all":
        raise ParameterInvalid("job_type", "can only be 'all'")
    return json_response({"paused": await jobs.queue_paused(jobs.SCHEDULER_QUEUE)})


def schedule_json(task: ScheduleTask) -> dict[str, object]:
    """Harbor's ScheduleTask, with the schedule's job arguments as extra_attrs."""
    return {
        "id": task.id,
        "vendor_type": task.vendor_type,
        "vendor_id": task.vendor_id,
        "cron": task.cron,
        "update_time": api_time(task.update_time),
        "extra_attrs": task.extra_attrs,
    }
