"""Webhook policies: /api/v2.0/projects/{project_name_or_id}/webhook/... (Harbor's
WebhookPolicy, Execution and SupportedWebhookEventTypes)."""

from __future__ import annotations

import json
from typing import Any

from quart import Response, request

import services.webhooks
from access.roles import Permission
from core import webhook_history, webhooks
from models import WebhookExecution, WebhookPolicy
from web.api import api
from web.api.calls import api_call, project_ref
from web.api.common import (
    created,
    json_response,
    paged_response,
    paging,
)
from web.api.openapi import Content, operation
from web.api.projects import project_scope
from web.api.schemas.common import ListQuery, PageQuery
from web.api.schemas.webhooks import (
    Execution,
    SupportedWebhookEventTypes,
    Task,
    WebhookCreated,
    WebhookJob,
    WebhookJobsQuery,
    WebhookLastTrigger,
    WebhookPolicyReq,
)
from web.api.schemas.webhooks import (
    WebhookPolicy as PolicyShape,
)
from web.params import ParameterInvalid, api_time, int_arg

_STATUS = webhook_history.HARBOR_STATUS
_EXECUTION = "/projects/<ref>/webhook/policies/<int:policy_id>/executions/<int:execution_id>"


@api.route("/projects/<ref>/webhook/policies", methods=["GET"])
@operation(
    "ListWebhookPoliciesOfProject", "webhook", query=PageQuery, responses={200: list[PolicyShape]}
)
async def list_policies(ref: str) -> Response:
    scope = await project_scope(ref, Permission.WEBHOOK_LIST)
    pages = paging()
    rows, total = await webhooks.list_policies(scope.project.id, pages.offset, pages.page_size)
    return paged_response([_policy(p) for p in rows], total, pages)


@api.route("/projects/<ref>/webhook/policies", methods=["POST"])
@operation(
    "CreateWebhookPolicyOfProject",
    "webhook",
    body=WebhookPolicyReq,
    responses={201: WebhookCreated},
)
async def create_policy(ref: str) -> Response:
    policy_id, secret = await services.webhooks.create(await api_call(), project_ref(ref))
    # Harbor answers with no body; the secret is shown here once and never again.
    location = f"/api/v2.0/projects/{ref}/webhook/policies/{policy_id}"
    return created(location, {"id": policy_id, "secret": secret})


@api.route("/projects/<ref>/webhook/policies/<int:policy_id>", methods=["GET"])
@operation("GetWebhookPolicyOfProject", "webhook", responses={200: PolicyShape})
async def get_policy(ref: str, policy_id: int) -> Response:
    scope = await project_scope(ref, Permission.WEBHOOK_LIST)
    return json_response(_policy(await webhooks.get_policy(scope.project.id, policy_id)))


@api.route("/projects/<ref>/webhook/policies/<int:policy_id>", methods=["PUT"])
@operation("UpdateWebhookPolicyOfProject", "webhook", body=WebhookPolicyReq, responses={200: None})
async def update_policy(ref: str, policy_id: int) -> Response:
    await services.webhooks.update(await api_call(), project_ref(ref), policy_id)
    return Response("", status=200)


@api.route("/projects/<ref>/webhook/policies/<int:policy_id>", methods=["DELETE"])
@operation("DeleteWebhookPolicyOfProject", "webhook", responses={200: None})
async def delete_policy(ref: str, policy_id: int) -> Response:
    await services.webhooks.delete(await api_call(), project_ref(ref), policy_id)
    return Response("", status=200)


@api.route("/projects/<ref>/webhook/policies/<int:policy_id>/executions", methods=["GET"])
@operation(
    "ListExecutionsOfWebhookPolicy", "webhook", query=PageQuery, responses={200: list[Execution]}
)
async def list_executions(ref: str, policy_id: int) -> Response:
    scope = await project_scope(ref, Permission.WEBHOOK_LIST)
    pages = paging()
    rows, total = await webhooks.list_executions(
        scope.project.id, policy_id, pages.offset, pages.page_size
    )
    return paged_response([_execution(e) for e in rows], total, pages)


@api.route(f"{_EXECUTION}/tasks", methods=["GET"])
@operation("ListTasksOfWebhookExecution", "webhook", query=ListQuery, responses={200: list[Task]})
async def list_tasks(ref: str, policy_id: int, execution_id: int) -> Response:
    """An execution's one task (Berth delivers to every target in one job)."""
    scope = await project_scope(ref, Permission.WEBHOOK_LIST)
    execution = await webhook_history.get_execution(scope.project.id, policy_id, execution_id)
    pages = paging()
    tasks = [_task(execution)][pages.offset : pages.offset + pages.page_size]
    return paged_response(tasks, 1, pages)


@api.route(f"{_EXECUTION}/tasks/<int:task_id>/log", methods=["GET"])
@operation("GetLogsOfWebhookTask", "webhook", responses={200: Content({"text/plain": str})})
async def task_log(ref: str, policy_id: int, execution_id: int, task_id: int) -> Response:
    """The task's delivery attempts as text: when, to which target, what it answered."""
    scope = await project_scope(ref, Permission.WEBHOOK_LIST)
    execution = await webhook_history.get_task(scope.project.id, policy_id, execution_id, task_id)
    return Response(execution.log, content_type="text/plain; charset=utf-8")


@api.route("/projects/<ref>/webhook/jobs", methods=["GET"])
@operation(
    "ListWebhookJobs", "webhookjob", query=WebhookJobsQuery, responses={200: list[WebhookJob]}
)
async def list_jobs(ref: str) -> Response:
    """Harbor's ListWebhookJobs: a policy's deliveries, optionally of some statuses."""
    scope = await project_scope(ref, Permission.WEBHOOK_LIST)
    policy_id = int_arg("policy_id", 0, 1, 2**31 - 1)
    if not policy_id:
        raise ParameterInvalid("policy_id", "is required")
    statuses = [s for v in request.args.getlist("status") for s in v.split(",") if s][:10]
    pages = paging()
    rows, total = await webhook_history.list_jobs(
        scope.project.id, policy_id, statuses, pages.offset, pages.page_size
    )
    return paged_response([_job(e) for e in rows], total, pages)


@api.route("/projects/<ref>/webhook/lasttrigger", methods=["GET"])
@operation("LastTrigger", "webhook", responses={200: list[WebhookLastTrigger]})
async def last_trigger(ref: str) -> Response:
    scope = await project_scope(ref, Permission.WEBHOOK_LIST)
    triggers = await webhook_history.last_triggers(scope.project.id)
    return json_response(
        [
            {
                "policy_name": t.policy.name,
                "event_type": t.event_type,
                "enabled": t.policy.enabled,
                "creation_time": api_time(t.policy.created_at),
                "last_trigger_time": api_time(t.last_trigger) if t.last_trigger else None,
            }
            for t in triggers
        ]
    )


@api.route("/projects/<ref>/webhook/events", methods=["GET"])
@operation("GetSupportedEventTypes", "webhook", responses={200: SupportedWebhookEventTypes})
async def supported_events(ref: str) -> Response:
    await project_scope(ref, Permission.WEBHOOK_LIST)
    return json_response(
        {
            "event_type": list(webhooks.EVENT_TYPES),
            "notify_type": list(webhooks.NOTIFY_TYPES),
            "payload_formats": [
                {"notify_type": kind, "formats": list(webhooks.PAYLOAD_FORMATS)}
                for kind in webhooks.NOTIFY_TYPES
            ],
        }
    )


def _policy(policy: WebhookPolicy) -> dict[str, Any]:
    """Harbor's WebhookPolicy; the secret is never shown."""
    return {
        "id": policy.id,
        "name": policy.name,
        "description": policy.description,
        "project_id": policy.project_id,
        "targets": policy.targets,
        "event_types": policy.event_types,
        "creator": policy.creator,
        "creation_time": api_time(policy.created_at),
        "update_time": api_time(policy.updated_at),
        "enabled": policy.enabled,
    }


def _execution(execution: WebhookExecution) -> dict[str, Any]:
    """Harbor's Execution, with the delivery's attempts and last response code."""
    done = execution.status != "pending"
    return {
        "id": execution.id,
        "vendor_type": "WEBHOOK",
        "vendor_id": execution.policy_id,
        "status": _STATUS.get(execution.status, execution.status),
        "status_message": execution.status_message,
        "trigger": "EVENT",
        "event_type": execution.event_type,
        "attempts": execution.attempts,
        "response_code": execution.response_code,
        "extra_attrs": {"event_type": execution.event_type, "payload": execution.payload},
        "start_time": api_time(execution.created_at),
        "end_time": api_time(execution.updated_at) if done else None,
    }


def _task(execution: WebhookExecution) -> dict[str, Any]:
    """Harbor's Task of an execution's one delivery job."""
    done = execution.status != "pending"
    return {
        "id": execution.id,
        "execution_id": execution.id,
        "status": _STATUS.get(execution.status, execution.status),
        "status_message": execution.status_message,
        "run_count": execution.attempts,
        "extra_attrs": {"event_type": execution.event_type},
        "creation_time": api_time(execution.created_at),
        "update_time": api_time(execution.updated_at),
        "start_time": api_time(execution.created_at),
        "end_time": api_time(execution.updated_at) if done else None,
    }


def _job(execution: WebhookExecution) -> dict[str, Any]:
    """Harbor's WebhookJob: one delivery, its event as job_detail."""
    return {
        "id": execution.id,
        "policy_id": execution.policy_id,
        "event_type": execution.event_type,
        "notify_type": "http",
        "status": _STATUS.get(execution.status, execution.status),
        "job_detail": json.dumps(execution.payload, separators=(",", ":")),
        "creation_time": api_time(execution.created_at),
        "update_time": api_time(execution.updated_at),
    }
