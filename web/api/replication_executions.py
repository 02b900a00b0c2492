"""Replication executions and tasks: Harbor's /api/v2.0/replication/executions (start, list,
get, stop, tasks, a task's log), with Berth's `bytes` on both and `operator` on executions;
and the CI webhook trigger's secret, POST /replication/policies/{id}/trigger_secret."""

from __future__ import annotations

from typing import Any

from quart import Response, current_app, request

import services.replication
from core import replication_hooks, replication_runs
from models import ReplicationExecution, ReplicationTask
from web.api import api
from web.api.calls import api_call
from web.api.common import (
    created,
    current_identity,
    json_response,
    paged_response,
    paging,
    wake_jobs,
)
from web.api.openapi import Content, operation
from web.api.query import parse_sort, tortoise_order
from web.api.schemas.replication import (
    ExecutionListQuery,
    StartReplicationExecution,
    TaskListQuery,
    TriggerSecret,
)
from web.api.schemas.replication import (
    ReplicationExecution as ExecutionShape,
)
from web.api.schemas.replication import (
    ReplicationTask as TaskShape,
)
from web.params import ParameterInvalid, api_time, arg, int_arg

LOCATION = "/api/v2.0/replication/executions"
EXECUTION_STATUSES = (
    replication_runs.IN_PROGRESS, replication_runs.SUCCEED, replication_runs.FAILED,
    replication_runs.STOPPED,
)  # fmt: skip
TASK_STATUSES = (replication_runs.PENDING, *EXECUTION_STATUSES)
RESOURCE_TYPES = ("image", "artifact")
SORTS = {key: key for key in ("id", "start_time", "end_time", "status")}


@api.route("/replication/executions", methods=["POST"])
@operation("startReplication", "replication", body=StartReplicationExecution, responses={201: None})
async def start_replication() -> Response:
    execution = await services.replication.start(await api_call())
    wake_jobs(True)
    return created(f"{LOCATION}/{execution.id}")


@api.route("/replication/executions", methods=["GET"])
@operation(
    "listReplicationExecutions",
    "replication",
    query=ExecutionListQuery,
    responses={200: list[ExecutionShape]},
)
async def list_replication_executions() -> Response:
    services.replication.require(await current_identity(), services.replication.LIST)
    pages = paging()
    policy_id = int_arg("policy_id", 0, 1, services.replication.MAX_ID) or None
    status = _choice("status", EXECUTION_STATUSES)
    trigger = _choice("trigger", replication_runs.TRIGGERS)
    order = tortoise_order(parse_sort(arg("sort"), SORTS), SORTS) + ["-id"]
    rows, total = await replication_runs.history(
        policy_id, status, trigger, pages.offset, pages.page_size, order
    )
    return paged_response([execution_json(r) for r in rows], total, pages)


@api.route("/replication/executions/<int:execution_id>", methods=["GET"])
@operation("getReplicationExecution", "replication", responses={200: ExecutionShape})
async def get_replication_execution(execution_id: int) -> Response:
    services.replication.require(await current_identity(), services.replication.READ)
    return json_response(execution_json(await replication_runs.get(execution_id)))


@api.route("/replication/executions/<int:execution_id>", methods=["PUT"])
@operation("stopReplication", "replication", responses={200: None})
async def stop_replication(execution_id: int) -> Response:
    await services.replication.stop(await api_call(), execution_id)
    return Response("", status=200)


@api.route("/replication/executions/<int:execution_id>/tasks", methods=["GET"])
@operation(
    "listReplicationTasks",
    "replication",
    query=TaskListQuery,
    responses={200: list[TaskShape]},
)
async def list_replication_tasks(execution_id: int) -> Response:
    services.replication.require(await current_identity(), services.replication.LIST)
    pages = paging()
    status = _choice("status", TASK_STATUSES)
    resource_type = _choice("resource_type", RESOURCE_TYPES)
    order = tortoise_order(parse_sort(arg("sort"), SORTS), SORTS) + ["id"]
    rows, total = await replication_runs.tasks(
        execution_id, status, resource_type, pages.offset, pages.page_size, order
    )
    return paged_response([task_json(r) for r in rows], total, pages)


@api.route("/replication/executions/<int:execution_id>/tasks/<int:task_id>/log", methods=["GET"])
@operation("getReplicationLog", "replication", responses={200: Content({"text/plain": str})})
async def replication_task_log(execution_id: int, task_id: int) -> Response:
    services.replication.require(await current_identity(), services.replication.READ)
    await replication_runs.get(execution_id)
    found = await replication_runs.task(execution_id, task_id)
    return Response(found.log, content_type="text/plain; charset=utf-8")


@api.route("/replication/policies/<int:policy_id>/trigger_secret", methods=["POST"])
@operation("rotateReplicationTriggerSecret", "berth", responses={200: TriggerSecret})
async def rotate_trigger_secret(policy_id: int) -> Response:
    """Berth's: a new secret for the policy's CI webhook trigger, shown this once."""
    sealer = current_app.extensions["registry"].sealed()
    secret = await services.replication.rotate_hook_secret(await api_call(), policy_id, sealer)
    return json_response({"secret": secret, "url": replication_hooks.hook_path(policy_id)})


def execution_json(row: ReplicationExecution) -> dict[str, Any]:
    """Harbor's ReplicationExecution, plus operator and bytes (copied so far)."""
    return {
        "id": row.id,
        "policy_id": row.policy_id,
        "status": row.status,
        "status_text": row.status_text,
        "trigger": row.trigger,
        "start_time": api_time(row.start_time),
        "end_time": api_time(row.end_time) if row.end_time else None,
        "total": row.total,
        "failed": row.failed,
        "succeed": row.succeed,
        "in_progress": row.in_progress,
        "stopped": row.stopped,
        "operator": row.operator,
        "bytes": row.bytes,
    }


def task_json(row: ReplicationTask) -> dict[str, Any]:
    """Harbor's ReplicationTask (job_id a string, as Harbor's), plus bytes and digest."""
    return {
        "id": row.id,
        "execution_id": row.execution_id,
        "resource_type": row.resource_type,
        "src_resource": row.src_resource,
        "dst_resource": row.dst_resource,
        "operation": row.operation,
        "job_id": str(row.job_id) if row.job_id is not None else "",
        "status": row.status,
        "start_time": api_time(row.start_time) if row.start_time else None,
        "end_time": api_time(row.end_time) if row.end_time else None,
        "bytes": row.bytes,
        "digest": row.digest,
    }


def _choice(name: str, allowed: tuple[str, ...]) -> str | None:
    """A filter that must be one of allowed (None when absent or empty)."""
    value = request.args.get(name) or None
    if value is not None and value not in allowed:
        raise ParameterInvalid(name, f"must be one of {', '.join(allowed)}")
    return value
