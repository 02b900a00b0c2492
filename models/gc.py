"""Garbage-collection runs: Harbor's GC history, one row per collection."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class GcRun(Model):
    """One collection. status is Harbor's job_status: Pending -> Running -> Success | Error |
    Stopped. trigger is Harbor's job_kind (MANUAL, SCHEDULE) or how else it started (START for
    gc.on_start, CLI for `berth gc`). parameters: {delete_untagged, dry_run, workers}.
    results: {blobs, bytes, manifests, uploads} once finished (what a dry run would free).
    heartbeat_at moves while the run is alive; a Running run whose heartbeat is older than
    core.gc.RUN_LEASE died with its process."""

    id = fields.IntField(primary_key=True)
    trigger = fields.CharField(max_length=16, default="MANUAL")
    parameters: fields.Field[dict[str, Any]] = fields.JSONField(default=dict)
    status = fields.CharField(max_length=16, default="Pending", db_index=True)
    stop_requested = fields.BooleanField(default=False)
    job_id = fields.BigIntField(null=True)
    operator = fields.CharField(max_length=255, default="")
    results: fields.Field[dict[str, Any] | None] = fields.JSONField(null=True)
    log = fields.TextField(default="")
    # {type, cron} of the schedule that fired a SCHEDULE run, as it was then (Harbor's
    # GCHistory.schedule); None for other triggers
    schedule: fields.Field[dict[str, Any] | None] = fields.JSONField(null=True)
    heartbeat_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "gc_run"
