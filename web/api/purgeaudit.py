"""The audit log purge: /api/v2.0/system/purgeaudit (Harbor's ExecHistory, Schedule and
stopPurge), over the run and schedule machinery garbage collection uses."""

from __future__ import annotations

import json
from typing import Any

from quart import Response

import services.purge_audit as purges
from core import gc_runs, gc_schedule
from core.purge_audit import JOB_NAME, PURGE, PURGE_SCHEDULE, PurgeParameters
from models import Schedule
from web.api import api
from web.api.calls import api_call
from web.api.common import created, current_identity, json_response, paged_response, paging
from web.api.gc import exec_history
from web.api.openapi import Content, operation
from web.api.schemas.common import ListQuery
from web.api.schemas.gc import ExecHistory, ScheduleReq
from web.api.schemas.purgeaudit import PurgeSchedule
from web.params import api_time

LOCATION = "/api/v2.0/system/purgeaudit"


@api.route("/system/purgeaudit", methods=["GET"])
@operation("getPurgeHistory", "purge", query=ListQuery, responses={200: list[ExecHistory]})
async def list_purges() -> Response:
    purges.require(await current_identity(), purges.LIST)
    pages = paging()
    rows, total = await gc_runs.history(pages.offset, pages.page_size, PURGE)
    schedule = await gc_schedule.get_schedule(PURGE_SCHEDULE)
    return paged_response([exec_history(r, schedule, JOB_NAME) for r in rows], total, pages)


@api.route("/system/purgeaudit/<int:run_id>", methods=["GET"])
@operation("getPurgeJob", "purge", responses={200: ExecHistory})
async def get_purge(run_id: int) -> Response:
    purges.require(await current_identity(), purges.READ)
    run = await gc_runs.get(run_id, PURGE)
    schedule = await gc_schedule.get_schedule(PURGE_SCHEDULE)
    return json_response(exec_history(run, schedule, JOB_NAME))


@api.route("/system/purgeaudit/<int:run_id>", methods=["PUT"])
@operation("stopPurge", "purge", responses={200: None})
async def stop_purge(run_id: int) -> Response:
    await purges.stop(await api_call(), run_id)
    return Response("", status=200)


@api.route("/system/purgeaudit/<int:run_id>/log", methods=["GET"])
@operation("getPurgeJobLog", "purge", responses={200: Content({"text/plain": str})})
async def purge_log(run_id: int) -> Response:
    purges.require(await current_identity(), purges.READ)
    run = await gc_runs.get(run_id, PURGE)
    return Response(run.log, content_type="text/plain; charset=utf-8")


@api.route("/system/purgeaudit/schedule", methods=["GET"])
@operation("getPurgeSchedule", "purge", responses={200: PurgeSchedule})
async def get_purge_schedule() -> Response:
    purges.require(await current_identity(), purges.READ)
    return json_response(schedule_json(await gc_schedule.get_schedule(PURGE_SCHEDULE)))


@api.route("/system/purgeaudit/schedule", methods=["POST"])
@operation("createPurgeSchedule", "purge", body=ScheduleReq, responses={201: None})
async def create_purge_schedule() -> Response:
    run = await purges.set_schedule(await api_call(), replace=False)
    return created(f"{LOCATION}/{run.id}" if run is not None else f"{LOCATION}/schedule")


@api.route("/system/purgeaudit/schedule", methods=["PUT"])
@operation("updatePurgeSchedule", "purge", body=ScheduleReq, responses={200: None, 201: None})
async def update_purge_schedule() -> Response:
    run = await purges.set_schedule(await api_call(), replace=True)
    if run is not None:
        return created(f"{LOCATION}/{run.id}")
    return Response("", status=200)


def schedule_json(row: Schedule | None) -> dict[str, Any]:
    """The schedule as Harbor shows it (an ExecHistory: job_kind the cron, job_parameters
    JSON text); type None, and no id, when none is set."""
    parameters = row.args.get("parameters", {}) if row is not None else PurgeParameters().as_dict()
    return {
        "id": 1 if row is not None else None,
        "job_name": "",
        "job_kind": row.args.get("cron", "") if row is not None else "",
        "job_parameters": json.dumps(parameters, separators=(",", ":"), sort_keys=True),
        "job_status": "Scheduled" if row is not None else None,
        "deleted": False,
        "schedule": gc_schedule.schedule_shape(row),
        "creation_time": row.args.get("created") if row is not None else None,
        "update_time": api_time(row.updated_at) if row is not None else None,
    }
