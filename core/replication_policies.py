"""Replication policies: the rows, and the schedule row a scheduled policy keeps.

A policy whose trigger is scheduled has one row in the schedule table, named
`replication-<id>`, whose fire is a "replication-schedule" job with args {"policy_id"}; it is
written, changed and removed in the transaction that changes the policy, and is enabled
exactly while the policy is. What a body may say is core/replication_rules.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from core import registries
from core.events import Tx
from core.replication_rules import PolicySpec, check_destinations
from core.replication_runs import IN_PROGRESS, PolicyUnknown, mark_lapsed
from core.replication_triggers import SCHEDULE_JOB
from models import (
    RemoteRegistry,
    ReplicationExecution,
    ReplicationPolicy,
    ReplicationTask,
    Schedule,
)
from models.errors import AlreadyExists, PreconditionFailed


class PolicyNameTaken(AlreadyExists):
    def __init__(self, name: str) -> None:
        super().__init__(f"a replication policy named {name!r} exists already")


class PolicyRunning(PreconditionFailed):
    """Harbor's 412: a policy with an execution in progress is not deleted."""

    def __init__(self, name: str) -> None:
        super().__init__(f"replication policy {name!r} has an execution in progress: stop it first")


def schedule_name(policy_id: int) -> str:
    return f"replication-{policy_id}"


async def create(spec: PolicySpec, creator: str) -> ReplicationPolicy:
    """Store a policy (and its schedule); RegistryUnknown, PolicyNameTaken."""
    await _check_remote(spec)
    await _name_free(spec.name)
    try:
        policy = await ReplicationPolicy.create(**spec.columns(), creator=creator)
    except IntegrityError:
        raise PolicyNameTaken(spec.name) from None
    await _keep_schedule(int(policy.id), spec)
    return policy


async def update(policy: ReplicationPolicy, spec: PolicySpec) -> None:
    """Replace policy's settings with spec's, its schedule with them."""
    await _check_remote(spec)
    if spec.name != policy.name:
        await _name_free(spec.name, int(policy.id))
    try:
        await ReplicationPolicy.filter(id=policy.id).update(
            **spec.columns(), updated_at=datetime.now(UTC)
        )
    except IntegrityError:
        raise PolicyNameTaken(spec.name) from None
    await _keep_schedule(int(policy.id), spec)


async def delete(tx: Tx, policy_id: int) -> ReplicationPolicy:
    """Delete a policy with its schedule and its finished executions; PolicyRunning while
    one is in progress (an execution whose worker went silent is marked failed first)."""
    policy = await get(policy_id)
    await mark_lapsed(tx)
    if await ReplicationExecution.filter(policy_id=policy_id, status=IN_PROGRESS).exists():
        raise PolicyRunning(policy.name)
    executions = await ReplicationExecution.filter(policy_id=policy_id).values_list("id", flat=True)
    await ReplicationTask.filter(execution_id__in=list(executions)).delete()
    await ReplicationExecution.filter(policy_id=policy_id).delete()
    await Schedule.filter(name=schedule_name(policy_id)).delete()
    await ReplicationPolicy.filter(id=policy_id).delete()
    return policy


async def get(policy_id: int) -> ReplicationPolicy:
    policy = await ReplicationPolicy.get_or_none(id=policy_id)
    if policy is None:
        raise PolicyUnknown(policy_id)
    return policy


async def listing(
    filters: dict[str, Any], order: list[str], offset: int, limit: int
) -> tuple[list[ReplicationPolicy], int]:
    """Policies matching filters (Tortoise keyword filters), in order (by id if none)."""
    query = ReplicationPolicy.filter(**filters)
    rows = await query.order_by(*(order or ["id"])).offset(offset).limit(limit)
    return list(rows), await query.count()


async def remote_registries(policies: list[ReplicationPolicy]) -> dict[int, RemoteRegistry]:
    """The registries the policies name, by id (one query)."""
    ids = {p.src_registry_id or p.dest_registry_id for p in policies} - {None}
    rows = await RemoteRegistry.filter(id__in=list(ids)) if ids else []
    return {int(r.id): r for r in rows}


async def _check_remote(spec: PolicySpec) -> None:
    """The remote side exists (RegistryUnknown), and literal names fit a push destination
    of its type."""
    remote = await registries.get(spec.remote_registry_id)
    if spec.dest_registry_id is not None:
        check_destinations(spec, remote.type)


async def _keep_schedule(policy_id: int, spec: PolicySpec) -> None:
    """The policy's schedule row as its trigger says: there (enabled with the policy) for a
    scheduled trigger, gone for any other. A new cron counts from now."""
    name = schedule_name(policy_id)
    if spec.schedule_cron is None:
        await Schedule.filter(name=name).delete()
        return
    existing = await Schedule.get_or_none(name=name)
    if existing is None:
        await Schedule.create(
            name=name,
            cron=spec.schedule_cron,
            kind=SCHEDULE_JOB,
            args={"policy_id": policy_id},
            enabled=spec.enabled,
            last_fire=datetime.now(UTC),
        )
        return
    if existing.cron != spec.schedule_cron:
        existing.cron, existing.last_fire = spec.schedule_cron, datetime.now(UTC)
    existing.enabled = spec.enabled
    await existing.save()


async def _name_free(name: str, own_id: int | None = None) -> None:
    if await ReplicationPolicy.filter(name=name).exclude(id=own_id or 0).exists():
        raise PolicyNameTaken(name)
