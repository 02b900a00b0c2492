"""Outgoing webhooks: a project's policies and the history of each delivery."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class WebhookPolicy(Model):
    """Where a project's events go. targets: [{type, address, auth_header, skip_cert_verify,
    payload_format}], as Harbor's WebhookTargetObject. The secret signs every body and is
    never shown again after it is set."""

    id = fields.IntField(primary_key=True)
    project_id = fields.IntField(db_index=True)
    name = fields.CharField(max_length=256)
    description = fields.TextField(default="")
    enabled = fields.BooleanField(default=True)
    event_types: fields.Field[list[str]] = fields.JSONField(default=list)
    targets: fields.Field[list[dict[str, Any]]] = fields.JSONField(default=list)
    secret = fields.CharField(max_length=256, default="")
    creator = fields.CharField(max_length=255, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "webhook_policy"
        unique_together = (("project_id", "name"),)
        indexes = (("project_id", "enabled"),)


class WebhookExecution(Model):
    """One event for one policy: pending until delivered (success) or given up (failed)."""

    id = fields.BigIntField(primary_key=True)
    policy_id = fields.IntField(db_index=True)
    event_type = fields.CharField(max_length=64)
    status = fields.CharField(max_length=16, default="pending")
    attempts = fields.IntField(default=0)
    response_code = fields.IntField(null=True)
    status_message = fields.TextField(default="")
    payload: fields.Field[dict[str, Any]] = fields.JSONField(default=dict)
    log = fields.TextField(default="")  # a line per target of each attempt (its task's log)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "webhook_execution"
