"""Replication: the registries Berth copies to and from, the rules that say what to copy, and
each run of a rule (an execution) with one task per artifact copied or deleted."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class RemoteRegistry(Model):
    """Another registry (Harbor's Registry). type: "harbor" (Harbor or Berth) or
    "docker-registry" (any OCI distribution registry). access_secret is sealed
    (signer.sealing) and never leaves the server in clear. status: "healthy" |
    "unhealthy" | "unknown", as the last ping found it."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=255, unique=True)
    url = fields.CharField(max_length=2048)
    type = fields.CharField(max_length=32, default="docker-registry")
    description = fields.TextField(default="")
    credential_type = fields.CharField(max_length=16, default="basic")  # basic | oauth
    access_key = fields.CharField(max_length=255, default="")
    access_secret = fields.TextField(default="")  # sealed; "" when none
    insecure = fields.BooleanField(default=False)
    ca_certificate = fields.TextField(default="")
    status = fields.CharField(max_length=16, default="unknown")
    # Berth's own: requests per second an execution may send it (0: no limit), for
    # registries that answer 429 past a rate (Docker Hub)
    requests_per_second = fields.FloatField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "remote_registry"


class ReplicationPolicy(Model):
    """A rule. Push mode has dest_registry_id (the source is this registry), pull mode
    src_registry_id. filters: Harbor's [{type: name|tag|label|resource, value, decoration}].
    trigger: {type: manual|scheduled|event_based, trigger_settings: {cron}}. speed: KB/s per
    task, 0 or -1 unlimited. hook_secret: sealed secret of the CI webhook trigger, "" until
    one is made."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=255, unique=True)
    description = fields.TextField(default="")
    src_registry_id = fields.IntField(null=True, db_index=True)
    dest_registry_id = fields.IntField(null=True, db_index=True)
    dest_namespace = fields.CharField(max_length=255, default="")
    dest_namespace_replace_count = fields.IntField(default=-1)
    filters: fields.Field[list[dict[str, Any]]] = fields.JSONField(default=list)
    trigger: fields.Field[dict[str, Any]] = fields.JSONField(default=dict)
    override = fields.BooleanField(default=True)
    replicate_deletion = fields.BooleanField(default=False)
    enabled = fields.BooleanField(default=True)
    speed = fields.IntField(default=-1)
    copy_by_chunk = fields.BooleanField(default=False)
    single_active_replication = fields.BooleanField(default=False)
    hook_secret = fields.TextField(default="")
    creator = fields.CharField(max_length=255, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "replication_policy"


class ReplicationExecution(Model):
    """One run of a policy (Harbor's ReplicationExecution). status: InProgress -> Succeed |
    Failed | Stopped. trigger: manual | scheduled | event_based | webhook. scope narrows the
    run to some artifacts ({repository, reference} or {events: [...]}), None = everything the
    policy matches. delivery_id: the CI webhook delivery that started it (unique per policy)."""

    id = fields.IntField(primary_key=True)
    policy_id = fields.IntField(db_index=True)
    status = fields.CharField(max_length=16, default="InProgress", db_index=True)
    status_text = fields.TextField(default="")
    trigger = fields.CharField(max_length=16, default="manual")
    operator = fields.CharField(max_length=255, default="")
    scope: fields.Field[dict[str, Any] | None] = fields.JSONField(null=True)
    delivery_id = fields.CharField(max_length=255, null=True)
    stop_requested = fields.BooleanField(default=False)
    job_id = fields.BigIntField(null=True)
    total = fields.IntField(default=0)
    failed = fields.IntField(default=0)
    succeed = fields.IntField(default=0)
    in_progress = fields.IntField(default=0)
    stopped = fields.IntField(default=0)
    bytes = fields.BigIntField(default=0)
    heartbeat_at = fields.DatetimeField(null=True)
    start_time = fields.DatetimeField(auto_now_add=True)
    end_time = fields.DatetimeField(null=True)

    class Meta:
        table = "replication_execution"
        unique_together = (("policy_id", "delivery_id"),)


class ReplicationTask(Model):
    """One artifact copied or deleted (Harbor's ReplicationTask). status: Pending ->
    InProgress -> Succeed | Failed | Stopped. src_resource / dst_resource: "repo:tag" or
    "repo@digest". log: what the task did, line by line (the task log API)."""

    id = fields.BigIntField(primary_key=True)
    execution_id = fields.IntField(db_index=True)
    resource_type = fields.CharField(max_length=16, default="image")  # image | artifact
    src_resource = fields.CharField(max_length=1024)
    dst_resource = fields.CharField(max_length=1024)
    operation = fields.CharField(max_length=16, default="copy")  # copy | deletion
    status = fields.CharField(max_length=16, default="Pending")
    digest = fields.CharField(max_length=200, default="")
    job_id = fields.BigIntField(null=True)
    attempts = fields.IntField(default=0)
    bytes = fields.BigIntField(default=0)
    log = fields.TextField(default="")
    # what the engine does: {src, dst, digest, tags} (repositories on each side)
    spec: fields.Field[dict[str, Any]] = fields.JSONField(default=dict)
    start_time = fields.DatetimeField(null=True)
    end_time = fields.DatetimeField(null=True)

    class Meta:
        table = "replication_task"
        indexes = (("execution_id", "status"),)
