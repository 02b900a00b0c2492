"""Durable jobs: the database is the source of truth; a broker only carries "run job N"."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Job(Model):
    """One unit of background work, written in the same transaction as its cause.

    status: pending -> running -> succeeded | failed (retries go back to pending with a later
    run_after). A running job whose lease ran out is claimable again (its worker died).
    """

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=64, db_index=True)
    args: fields.Field[dict[str, object]] = fields.JSONField(default=dict)
    status = fields.CharField(max_length=16, default="pending", db_index=True)
    attempts = fields.IntField(default=0)
    max_attempts = fields.IntField(default=5)
    progress = fields.FloatField(default=0.0)
    run_after = fields.DatetimeField(db_index=True)
    lease_until = fields.DatetimeField(null=True)
    worker = fields.CharField(max_length=128, null=True)
    last_error = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "job"


class Schedule(Model):
    """A cron trigger: when `cron` fires, one job of `kind` with `args` is enqueued."""

    name = fields.CharField(max_length=64, primary_key=True)
    cron = fields.CharField(max_length=128)
    kind = fields.CharField(max_length=64)
    args: fields.Field[dict[str, object]] = fields.JSONField(default=dict)
    enabled = fields.BooleanField(default=True)
    last_fire = fields.DatetimeField()
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "schedule"


class Lease(Model):
    """A named lease among replicas (the scheduler's): one holder until `until`."""

    name = fields.CharField(max_length=64, primary_key=True)
    holder = fields.CharField(max_length=128, default="")
    until = fields.DatetimeField()

    class Meta:
        table = "lease"


class JobQueueState(Model):
    """A job kind's queue as an admin set it: paused kinds are neither dispatched nor claimed
    (the pseudo-kind "scheduler" pauses the firing of every schedule). No row: running."""

    kind = fields.CharField(max_length=64, primary_key=True)
    paused = fields.BooleanField(default=False)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "job_queue"


class WorkerPool(Model):
    """A process running jobs (Harbor's worker pool): its Dramatiq threads, the heartbeat it
    writes every few seconds, and when each job it runs now started (job id -> ISO time)."""

    id = fields.CharField(max_length=128, primary_key=True)  # host:pid, as Job.worker names it
    host = fields.CharField(max_length=255)
    pid = fields.IntField()
    concurrency = fields.IntField()
    embedded = fields.BooleanField(default=True)  # inside `berth serve`, or a `berth worker`
    started_at = fields.DatetimeField()
    heartbeat_at = fields.DatetimeField(db_index=True)
    running: fields.Field[dict[str, str]] = fields.JSONField(default=dict)

    class Meta:
        table = "worker_pool"
