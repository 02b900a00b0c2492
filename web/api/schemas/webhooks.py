"""Webhooks (Harbor's WebhookPolicy, Execution, SupportedWebhookEventTypes, Task, WebhookJob,
WebhookLastTrigger)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from web.api.schemas.common import Closed, PageQuery, RequestBody


class WebhookPolicy(Closed):
    id: int
    name: str
    description: str | None
    project_id: int
    targets: list[dict[str, Any]]
    event_types: list[str]
    creator: str | None
    creation_time: str
    update_time: str
    enabled: bool


class WebhookPolicyReq(RequestBody):
    name: str | None = None
    description: str | None = None
    targets: list[dict[str, Any]] | None = None
    event_types: list[str] | None = None
    enabled: bool | None = None


class WebhookCreated(Closed):
    id: int
    secret: str | None


class Execution(Closed):
    id: int
    vendor_type: str
    vendor_id: int
    status: str
    status_message: str | None
    trigger: str
    event_type: str
    attempts: int
    response_code: int | None
    extra_attrs: dict[str, Any]
    start_time: str
    end_time: str | None


class PayloadFormat(Closed):
    notify_type: str
    formats: list[str]


class SupportedWebhookEventTypes(Closed):
    event_type: list[str]
    notify_type: list[str]
    payload_formats: list[PayloadFormat]


class Task(Closed):
    id: int
    execution_id: int
    status: str
    status_message: str
    run_count: int
    extra_attrs: dict[str, Any]
    creation_time: str
    update_time: str
    start_time: str
    end_time: str | None


class WebhookJob(Closed):
    id: int
    policy_id: int
    event_type: str
    notify_type: str
    status: str
    job_detail: str
    creation_time: str
    update_time: str


class WebhookLastTrigger(Closed):
    policy_name: str
    event_type: str
    enabled: bool
    creation_time: str
    last_trigger_time: str | None


class WebhookJobsQuery(PageQuery):
    policy_id: int = Field(..., ge=1, le=2**31 - 1)
    status: list[str] | None = None
