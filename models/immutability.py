"""Tag immutability rules of a project (Harbor's ImmutableRule)."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class ImmutableRule(Model):
    """One rule: the tags its tag selector picks, in the repositories its repository selector
    picks, cannot be moved or deleted while it is enabled. Selectors are stored as Harbor
    shows them: [{kind, decoration, pattern}] and {"repository": [{...}]}."""

    id = fields.IntField(primary_key=True)
    project: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Project", related_name="immutable_rules", on_delete=fields.CASCADE, db_index=True
    )
    priority = fields.IntField(default=0)
    disabled = fields.BooleanField(default=False)
    tag_selectors: fields.Field[list[dict[str, Any]]] = fields.JSONField(default=list)
    scope_selectors: fields.Field[dict[str, Any]] = fields.JSONField(default=dict)
    params: fields.Field[dict[str, Any]] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "immutable_rule"
