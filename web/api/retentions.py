"""Tag retention: /api/v2.0/retentions (Harbor's RetentionPolicy, RetentionExecution,
RetentionExecutionTask and the metadata of the rule templates and selectors)."""

from __future__ import annotations

from typing import Any

from quart import Response

import services.retention
from access.roles import Permission
from core import retention
from models import RetentionExecution, RetentionPolicy, RetentionTask
from web.api import api
from web.api.calls import api_call
from web.api.common import (
    created,
    json_response,
    paged_response,
    paging,
    signed_in,
    wake_jobs,
)
from web.api.openapi import Content, operation
from web.api.schemas.common import PageQuery
from web.api.schemas.retention import (
    RetentionExecution as ExecutionShape,
)
from web.api.schemas.retention import (
    RetentionExecutionTask,
    RetentionMetadata,
    RetentionOperation,
    RetentionPolicyReq,
    RetentionRun,
)
from web.api.schemas.retention import (
    RetentionPolicy as PolicyShape,
)
from web.params import api_time

LOCATION = "/api/v2.0/retentions"
P = Permission


def _template(template: str, text: str, unit: str | None) -> dict[str, Any]:
    params = [{"type": "int", "unit": unit, "required": True}] if unit else []
    return {"rule_template": template, "display_text": text, "action": "retain", "params": params}


METADATA = {
    "templates": [
        _template("latestPushedK", "the most recently pushed # artifacts", "COUNT"),
        _template("latestPulledN", "the most recently pulled # artifacts", "COUNT"),
        _template("nDaysSinceLastPush", "pushed within the last # days", "DAYS"),
        _template("nDaysSinceLastPull", "pulled within the last # days", "DAYS"),
        _template("always", "always", None),
    ],
    "scope_selectors": [
        {"display_text": "Repositories", "kind": "doublestar",
         "decorations": ["repoMatches", "repoExcludes"]},
    ],
    "tag_selectors": [
        {"display_text": "Tags", "kind": "doublestar", "decorations": ["matches", "excludes"]},
    ],
}  # fmt: skip


@api.route("/retentions/metadatas", methods=["GET"])
@operation("getRentenitionMetadata", "Retention", responses={200: RetentionMetadata})
async def get_retention_metadata() -> Response:
    await signed_in()
    return json_response(METADATA)


@api.route("/retentions", methods=["POST"])
@operation("createRetention", "Retention", body=RetentionPolicyReq, responses={201: None})
async def create_retention() -> Response:
    policy = await services.retention.create(await api_call())
    return created(f"{LOCATION}/{policy.id}")


@api.route("/retentions/<int:policy_id>", methods=["GET"])
@operation("getRetention", "Retention", responses={200: PolicyShape})
async def get_retention(policy_id: int) -> Response:
    policy = await services.retention.require(await signed_in(), policy_id, P.TAG_RETENTION_READ)
    return json_response(policy_json(policy))


@api.route("/retentions/<int:policy_id>", methods=["PUT"])
@operation("updateRetention", "Retention", body=RetentionPolicyReq, responses={200: None})
async def update_retention(policy_id: int) -> Response:
    await services.retention.update(await api_call(), policy_id)
    return Response("", status=200)


@api.route("/retentions/<int:policy_id>", methods=["DELETE"])
@operation("deleteRetention", "Retention", responses={200: None})
async def delete_retention(policy_id: int) -> Response:
    await services.retention.delete(await api_call(), policy_id)
    return Response("", status=200)


@api.route("/retentions/<int:policy_id>/executions", methods=["POST"])
@operation("triggerRetentionExecution", "Retention", body=RetentionRun, responses={201: None})
async def trigger_retention_execution(policy_id: int) -> Response:
    run = await services.retention.trigger(await api_call(), policy_id)
    wake_jobs(True)
    return created(f"{LOCATION}/{policy_id}/executions/{run.id}")


@api.route("/retentions/<int:policy_id>/executions", methods=["GET"])
@operation(
    "listRetentionExecutions", "Retention", query=PageQuery, responses={200: list[ExecutionShape]}
)
async def list_retention_executions(policy_id: int) -> Response:
    await services.retention.require(await signed_in(), policy_id, P.TAG_RETENTION_LIST)
    pages = paging()
    rows, total = await retention.executions(policy_id, pages.offset, pages.page_size)
    return paged_response([execution_json(r) for r in rows], total, pages)


@api.route("/retentions/<int:policy_id>/executions/<int:execution_id>", methods=["PATCH"])
@operation("operateRetentionExecution", "Retention", body=RetentionOperation, responses={200: None})
async def operate_retention_execution(policy_id: int, execution_id: int) -> Response:
    await services.retention.stop(await api_call(), policy_id, execution_id)
    return Response("", status=200)


@api.route("/retentions/<int:policy_id>/executions/<int:execution_id>/tasks", methods=["GET"])
@operation(
    "listRetentionTasks",
    "Retention",
    query=PageQuery,
    responses={200: list[RetentionExecutionTask]},
)
async def list_retention_tasks(policy_id: int, execution_id: int) -> Response:
    await services.retention.require(await signed_in(), policy_id, P.TAG_RETENTION_LIST)
    await retention.execution(policy_id, execution_id)
    pages = paging()
    rows, total = await retention.tasks(execution_id, pages.offset, pages.page_size)
    return paged_response([task_json(r) for r in rows], total, pages)


@api.route(
    "/retentions/<int:policy_id>/executions/<int:execution_id>/tasks/<int:task_id>",
    methods=["GET"],
)
@operation("getRetentionTaskLog", "Retention", responses={200: Content({"text/plain": str})})
async def get_retention_task_log(policy_id: int, execution_id: int, task_id: int) -> Response:
    await services.retention.require(await signed_in(), policy_id, P.TAG_RETENTION_READ)
    await retention.execution(policy_id, execution_id)
    task = await retention.task(execution_id, task_id)
    return Response(task.log, content_type="text/plain; charset=utf-8")


def policy_json(policy: RetentionPolicy) -> dict[str, Any]:
    """Harbor's RetentionPolicy."""
    return {
        "id": policy.id,
        "algorithm": policy.algorithm,
        "rules": policy.rules,
        "trigger": {
            "kind": "Schedule",
            "settings": {"cron": ""},
            "references": {},
            **policy.trigger,
        },
        "scope": {"level": "project", "ref": policy.project_id},
    }


def execution_json(row: RetentionExecution) -> dict[str, Any]:
    """Harbor's RetentionExecution."""
    return {
        "id": row.id,
        "policy_id": row.policy_id,
        "start_time": api_time(row.start_time),
        "end_time": api_time(row.end_time) if row.end_time else "",
        "status": row.status,
        "trigger": row.trigger,
        "dry_run": row.dry_run,
    }


def task_json(row: RetentionTask) -> dict[str, Any]:
    """Harbor's RetentionExecutionTask (job_id a string, as Harbor's)."""
    return {
        "id": row.id,
        "execution_id": row.execution_id,
        "repository": row.repository,
        "job_id": str(row.id),
        "status": row.status,
        "status_code": retention.STATUS_CODES.get(row.status, 0),
        "status_revision": row.status_revision,
        "start_time": api_time(row.start_time) if row.start_time else "",
        "end_time": api_time(row.end_time) if row.end_time else "",
        "total": row.total,
        "retained": row.retained,
    }
