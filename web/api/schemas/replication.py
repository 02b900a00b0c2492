"""Replication policies, executions and tasks (Harbor's ReplicationPolicy,
ReplicationExecution, ReplicationTask, StartReplicationExecution)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from models.values import MAX_NAME
from web.api.schemas.common import Closed, ListQuery, PageQuery, RequestBody
from web.api.schemas.registries import MissingRegistry, Registry


class ReplicationPolicy(Closed):
    id: int
    name: str
    description: str | None
    src_registry: Registry | MissingRegistry
    dest_registry: Registry | MissingRegistry
    dest_namespace: str | None
    dest_namespace_replace_count: int | None
    trigger: dict[str, Any]
    filters: list[dict[str, Any]]
    replicate_deletion: bool
    deletion: bool
    override: bool
    enabled: bool
    speed: int | None
    copy_by_chunk: bool
    single_active_replication: bool
    creation_time: str
    update_time: str


class ReplicationPolicyReq(RequestBody):
    name: str | None = None
    description: str | None = None
    src_registry: dict[str, Any] | None = None
    dest_registry: dict[str, Any] | None = None
    dest_namespace: str | None = None
    dest_namespace_replace_count: int | None = None
    trigger: dict[str, Any] | None = None
    filters: list[dict[str, Any]] | None = None
    replicate_deletion: bool | None = None
    deletion: bool | None = None
    override: bool | None = None
    enabled: bool | None = None
    speed: int | None = None
    copy_by_chunk: bool | None = None
    single_active_replication: bool | None = None


class ReplicationExecution(Closed):
    id: int
    policy_id: int
    status: str
    status_text: str | None
    trigger: str
    start_time: str
    end_time: str | None
    total: int
    failed: int
    succeed: int
    in_progress: int
    stopped: int
    operator: str | None
    bytes: int


class ReplicationTask(Closed):
    id: int
    execution_id: int
    resource_type: str | None
    src_resource: str | None
    dst_resource: str | None
    operation: str | None
    job_id: str
    status: str
    start_time: str | None
    end_time: str | None
    bytes: int
    digest: str | None


class StartReplicationExecution(RequestBody):
    policy_id: int | None = None


class TriggerSecret(Closed):
    secret: str
    url: str


class PolicyListQuery(ListQuery):
    name: str | None = Field(None, max_length=MAX_NAME)


class ExecutionListQuery(PageQuery):
    policy_id: int | None = Field(None, ge=1)
    status: str | None = Field(None, max_length=MAX_NAME)
    trigger: str | None = Field(None, max_length=MAX_NAME)
    sort: str | None = Field(None, max_length=MAX_NAME)


class TaskListQuery(PageQuery):
    status: str | None = Field(None, max_length=MAX_NAME)
    resource_type: str | None = Field(None, max_length=MAX_NAME)
    sort: str | None = Field(None, max_length=MAX_NAME)
