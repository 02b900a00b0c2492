"""Labels (Harbor's global and project labels) and the artifacts that carry them."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Label(Model):
    """A label: global (scope "g", no project; system admins manage them) or of one project
    (scope "p"). Its name is unique within its scope: per project by unique_together, among
    global labels by the partial index label_global_name (models/db.py _EXTRA_SCHEMA)."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=128)
    description = fields.TextField(default="")
    color = fields.CharField(max_length=32, default="")
    scope = fields.CharField(max_length=1)  # "g" | "p"
    project: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Project", related_name="labels", on_delete=fields.CASCADE, null=True
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "label"
        unique_together = (("project", "name"),)


class ArtifactLabel(Model):
    """A label attached to an artifact (a manifest); goes with either."""

    id = fields.IntField(primary_key=True)
    label: fields.ForeignKeyRelation[Label] = fields.ForeignKeyField(
        "models.Label", related_name="artifacts", on_delete=fields.CASCADE
    )
    manifest: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Manifest", related_name="labels", on_delete=fields.CASCADE, db_index=True
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "artifact_label"
        unique_together = (("manifest", "label"),)
