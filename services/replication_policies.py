"""Replication policies from the REST API: create, change, delete.

Each is one attempt (services.attempts): the system-level right first
("replication-policy:create" / "update" / "delete"), then the body, then the change — the
policy row and its schedule row — and its audit event in one transaction.
"""

from __future__ import annotations

from access.policy import Identity
from core import audit, events, replication_policies
from core.replication_rules import PolicySpec, parse_policy
from models import ReplicationPolicy
from services.attempts import Call, attempt, requested
from services.rights import require_system

CREATE, LIST, READ = (
    "replication-policy:create",
    "replication-policy:list",
    "replication-policy:read",
)
UPDATE, DELETE = "replication-policy:update", "replication-policy:delete"


def require(identity: Identity, permission: str) -> None:
    """The rights check of the policy reads (401 / 403)."""
    require_system(identity, permission)


async def create(call: Call) -> ReplicationPolicy:
    """A new policy from Harbor's ReplicationPolicy body; its creator is the caller."""
    event = audit.Event(audit.CREATE, audit.REPLICATION_POLICY, await requested(call, "name"))
    async with attempt(call, event) as op:
        require_system(op.caller, CREATE)
        spec = parse_policy(await op.body())
        creator = op.caller.username or ""
        policy = await replication_policies.create(spec, creator)
        event.resource = spec.name
        event.description = ", ".join(
            f"{key}: {audit.shown(value)}" for key, value in _described(spec).items() if value
        )
        await events.emit(op.tx, event)
    return policy


async def update(call: Call, policy_id: int) -> None:
    """Change a policy; what the body leaves out stays as it was."""
    event = audit.Event(audit.UPDATE, audit.REPLICATION_POLICY, f"policy {policy_id}")
    async with attempt(call, event) as op:
        require_system(op.caller, UPDATE)
        before = await replication_policies.get(policy_id)
        event.resource = before.name
        spec = parse_policy(await op.body(), before)
        await replication_policies.update(before, spec)
        event.description = audit.changes(_described(parse_policy({}, before)), _described(spec))
        await events.emit(op.tx, event)


async def delete(call: Call, policy_id: int) -> None:
    """Delete a policy, its schedule and its finished executions (412 while one runs)."""
    event = audit.Event(audit.DELETE, audit.REPLICATION_POLICY, f"policy {policy_id}")
    async with attempt(call, event) as op:
        require_system(op.caller, DELETE)
        event.resource = (await replication_policies.get(policy_id)).name
        await replication_policies.delete(op.tx, policy_id)
        await events.emit(op.tx, event)


def _described(spec: PolicySpec) -> dict[str, object]:
    """A policy as its audit events describe it."""
    return {
        "src_registry": spec.src_registry_id,
        "dest_registry": spec.dest_registry_id,
        "name": spec.name,
        "description": spec.description,
        "dest_namespace": spec.dest_namespace,
        "dest_namespace_replace_count": spec.dest_namespace_replace_count,
        "filters": spec.filters,
        "trigger": spec.trigger,
        "override": spec.override,
        "replicate_deletion": spec.replicate_deletion,
        "enabled": spec.enabled,
        "speed": spec.speed,
        "copy_by_chunk": spec.copy_by_chunk,
        "single_active_replication": spec.single_active_replication,
    }
