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
