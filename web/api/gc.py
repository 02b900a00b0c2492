"""Garbage collection: /api/v2.0/system/gc (Harbor's GCHistory, Schedule and StopGCByID),
with Berth's results (freed bytes, blobs, manifests, uploads) added to each history row."""

from __future__ import annotations

import json
from typing import Any

from quart import Response

import services.gc
from core import gc_runs, gc_schedule
from models import JobRun, Schedule
from web.api import api
from web.api.calls import api_call
from web.api.common import (
    created,
    current_identity,
    json_response,
    paged_response,
    paging,
)
from web.api.openapi import Content, operation
from web.api.schemas.common import PageQuery
from web.api.schemas.gc import GCHistory, GCSchedule, ScheduleReq
from web.params import api_time

JOB_NAME = "GARBAGE_COLLECTION"
LOCATION = "/api/v2.0/system/gc"


@api.route("/system/gc", methods=["GET"])
@operation("getGCHistory", "gc", query=PageQuery, responses={200: list[GCHistory]})
async def list_runs() -> Response:
    services.gc.require(await current_identity(), services.gc.LIST)
    pages = paging()
    rows, total = await gc_runs.history(pages.offset, pages.page_size)
    schedule = await gc_schedule.get_schedule()
    return paged_response([history_row(r, schedule) for r in rows], total, pages)


@api.route("/system/gc/<int:run_id>", methods=["GET"])
@operation("getGC", "gc", responses={200: GCHistory})
async def get_run(run_id: int) -> Response:
    services.gc.require(await current_identity(), services.gc.READ)
    run = await gc_runs.get(run_id)
    return json_response(history_row(run, await gc_schedule.get_schedule()))


@api.route("/system/gc/<int:run_id>", methods=["PUT"])
@operation("stopGC", "gc", responses={200: None})
async def stop_run(run_id: int) -> Response:
    await services.gc.stop(await api_call(), run_id)
    return Response("", status=200)


@api.route("/system/gc/<int:run_id>/log", methods=["GET"])
@operation("getGCLog", "gc", responses={200: Content({"text/plain": str})})
async def run_log(run_id: int) -> Response:
    services.gc.require(await current_identity(), services.gc.READ)
    run = await gc_runs.get(run_id)
    return Response(run.log, content_type="text/plain; charset=utf-8")


@api.route("/system/gc/schedule", methods=["GET"])
@operation("getGCSchedule", "gc", responses={200: GCSchedule})
async def get_schedule() -> Response:
    services.gc.require(await current_identity(), services.gc.READ)
    return json_response(schedule_json(await gc_schedule.get_schedule()))


@api.route("/system/gc/schedule", methods=["POST"])
@operation("createGCSchedule", "gc", body=ScheduleReq, responses={201: None})
async def create_schedule() -> Response:
    run = await services.gc.set_schedule(await api_call(), replace=False)
    if run is not None:
        return created(f"{LOCATION}/{run.id}")
    return created(f"{LOCATION}/schedule")


@api.route("/system/gc/schedule", methods=["PUT"])
@operation("updateGCSchedule", "gc", body=ScheduleReq, responses={200: None, 201: None})
async def update_schedule() -> Response:
    run = await services.gc.set_schedule(await api_call(), replace=True)
    if run is not None:
        return created(f"{LOCATION}/{run.id}")
    return Response("", status=200)


def exec_history(run: JobRun, schedule: Schedule | None, job_name: str) -> dict[str, Any]:
    """Harbor's ExecHistory of any kind of run (GC's GCHistory has the same fields)."""
    return {
        "id": run.id,
        "job_name": job_name,
        "job_kind": gc_runs.SCHEDULE if run.trigger == gc_runs.SCHEDULE else gc_runs.MANUAL,
        "job_parameters": json.dumps(run.parameters, separators=(",", ":"), sort_keys=True),
        "schedule": _fired_by(run, schedule),
        "job_status": run.status,
        "deleted": False,
        "creation_time": api_time(run.created_at),
        "update_time": api_time(run.updated_at),
    }


def history_row(run: JobRun, schedule: Schedule | None) -> dict[str, Any]:
    """Harbor's GCHistory, plus trigger (MANUAL, SCHEDULE, START, CLI) and the results."""
    results = run.results or {}
    return {
        **exec_history(run, schedule, JOB_NAME),
        "trigger": run.trigger,
        "freed_bytes": int(results.get("bytes", 0)),
        "blobs": int(results.get("blobs", 0)),
        "manifests": int(results.get("manifests", 0)),
        "uploads": int(results.get("uploads", 0)),
    }


def _fired_by(run: JobRun, schedule: Schedule | None) -> dict[str, Any] | None:
    if run.trigger != gc_runs.SCHEDULE or not run.schedule:
        return None
    upcoming = gc_schedule.schedule_shape(schedule)["next_scheduled_time"] if schedule else None
    return {
        "type": run.schedule.get("type"),
        "cron": run.schedule.get("cron"),
        "next_scheduled_time": upcoming,
    }


def schedule_json(row: Schedule | None) -> dict[str, Any]:
    """Harbor's Schedule for the one GC schedule (type None, and no id, when none is set)."""
    if row is None:
        defaults = gc_runs.GcParameters().as_dict()
        shape = gc_schedule.schedule_shape(None)
        return {"id": None, "status": None, "schedule": shape, "parameters": defaults}
    return {
        "id": 1,
        "status": "Scheduled",
        "creation_time": row.args.get("created"),
        "update_time": api_time(row.updated_at),
        "schedule": gc_schedule.schedule_shape(row),
        "parameters": row.args.get("parameters", {}),
    }
