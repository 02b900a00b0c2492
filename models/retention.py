"""Tag retention: a project's policy (Harbor's RetentionPolicy), each run of it (an
execution) and one task per repository the run looked at."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class RetentionPolicy(Model):
    """One per project (its id is the project's `retention_id` setting). rules: Harbor's
    RetentionRule objects as checked by core/retention_rules.py; trigger: {kind: "Schedule",
    settings: {cron}, references}; algorithm: "or"."""

    id = fields.IntField(primary_key=True)
    project_id = fields.IntField(unique=True)
    algorithm = fields.CharField(max_length=16, default="or")
    rules: fields.Field[list[dict[str, Any]]] = fields.JSONField(default=list)
    trigger: fields.Field[dict[str, Any]] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "retention_policy"


class RetentionExecution(Model):
    """One run (Harbor's RetentionExecution). status: Pending -> Running -> Success | Error |
    Stopped. trigger: MANUAL | SCHEDULE. rules: the policy's rules when the run was made, so
    a change of policy does not alter a run under way."""

    id = fields.IntField(primary_key=True)
    policy_id = fields.IntField(db_index=True)
    project_id = fields.IntField()
    status = fields.CharField(max_length=16, default="Pending")
    trigger = fields.CharField(max_length=16, default="MANUAL")
    dry_run = fields.BooleanField(default=False)
    operator = fields.CharField(max_length=255, default="")
    rules: fields.Field[list[dict[str, Any]]] = fields.JSONField(default=list)
    stop_requested = fields.BooleanField(default=False)
    job_id = fields.BigIntField(null=True)
    start_time = fields.DatetimeField(auto_now_add=True)
    end_time = fields.DatetimeField(null=True)

    class Meta:
        table = "retention_execution"


class RetentionTask(Model):
    """One repository of a run (Harbor's RetentionExecutionTask): how many artifacts it had
    (total), how many stay (retained), and its log, line by line."""

    id = fields.IntField(primary_key=True)
    execution_id = fields.IntField(db_index=True)
    repository = fields.CharField(max_length=255)
    status = fields.CharField(max_length=16, default="Pending")
    status_revision = fields.IntField(default=0)
    total = fields.IntField(default=0)
    retained = fields.IntField(default=0)
    log = fields.TextField(default="")
    start_time = fields.DatetimeField(null=True)
    end_time = fields.DatetimeField(null=True)

    class Meta:
        table = "retention_task"
