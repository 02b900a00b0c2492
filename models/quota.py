"""Tortoise models of project quotas: the limit and usage of each project, and the blobs
(and manifests) a project's usage counts, each once."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Quota(Model):
    """A project's storage limit (hard, bytes; -1 unlimited) and what it uses now (used).

    used moves only by one conditional UPDATE (used + size <= hard), so concurrent pushes
    never take it past hard (core/quotas.py).
    """

    id = fields.IntField(primary_key=True)
    project_id = fields.IntField(unique=True)
    hard = fields.BigIntField(default=-1)
    used = fields.BigIntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "quota"


class ProjectBlob(Model):
    """A blob or manifest counted in its project's usage: one row per (project, digest),
    whichever repositories of the project hold it."""

    id = fields.IntField(primary_key=True)
    project_id = fields.IntField()
    digest = fields.CharField(max_length=200)
    size = fields.BigIntField()

    class Meta:
        table = "project_blob"
        unique_together = (("project_id", "digest"),)
