"""Runs of the system's one-at-a-time jobs: Harbor's GC history and audit log purge history,
one row per run, each kind in its table (core/gc_runs.py serves both)."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class JobRun(Model):
    """One run. status is Harbor's job_status: Pending -> Running -> Success | Error |
    Stopped. trigger is Harbor's job_kind (MANUAL, SCHEDULE) or how else it started (START for
    gc.on_start, CLI for `berth gc`). parameters: what the caller chose for the run. results:
    what it did, once finished (what a dry run would do). heartbeat_at moves while the run is
    alive; a Running run whose heartbeat is older than core.gc.RUN_LEASE died with its
    process."""

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
    # ExecHistory.schedule); None for other triggers
    schedule: fields.Field[dict[str, Any] | None] = fields.JSONField(null=True)
    heartbeat_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        abstract = True


class GcRun(JobRun):
    """One collection. parameters: {delete_untagged, dry_run, workers}; results: {blobs,
    bytes, manifests, uploads}."""

    class Meta:
        table = "gc_run"


class PurgeRun(JobRun):
    """One audit log purge. parameters: {audit_retention_hour, include_operations, dry_run};
    results: {events} (removed, or that a dry run would remove)."""

    class Meta:
        table = "purge_audit_run"
