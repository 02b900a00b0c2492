"""The audit log: one row per operation, written in the operation's own transaction."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class AuditEvent(Model):
    """Who did what, to which resource, when, from where, and whether it worked.

    `indexed` is false until the search pipeline has handed the row to the search backend;
    a partial index on it (models/db.py) keeps "what is left to index" cheap at any size.
    """

    id = fields.BigIntField(primary_key=True)
    occurred_at = fields.DatetimeField(db_index=True)
    username = fields.CharField(max_length=255)
    operation = fields.CharField(max_length=32)
    resource_type = fields.CharField(max_length=32)
    resource = fields.CharField(max_length=1024)
    project = fields.CharField(max_length=255, default="")
    project_id = fields.BigIntField(null=True)
    success = fields.BooleanField(default=True)
    client_address = fields.CharField(max_length=64, default="")
    user_agent = fields.CharField(max_length=512, default="")
    description = fields.TextField(default="")
    indexed = fields.BooleanField(default=False)

    class Meta:
        table = "audit_event"
        # The dashboard's filters, each newest first.
        indexes = (
            ("username", "occurred_at"),
            ("operation", "occurred_at"),
            ("resource_type", "occurred_at"),
            ("project_id", "occurred_at"),
            ("project", "occurred_at"),
        )
