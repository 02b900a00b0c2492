"""A project's webhook policies: create, change, delete."""

from __future__ import annotations

from access.roles import Permission
from core import audit, events, webhooks
from models import WebhookPolicy
from services.attempts import Call, attempt, requested
from services.rights import ProjectRef, project_scope, project_target


async def create(call: Call, ref: ProjectRef) -> tuple[int, str]:
    """A new policy from a WebhookPolicy body; its id and its secret (shown once)."""
    event = await _event(audit.CREATE, ref, await requested(call, "name"))
    async with attempt(call, event) as op:
        scope = await project_scope(op.caller, ref, Permission.WEBHOOK_CREATE)
        spec = webhooks.parse_policy(await op.body())
        creator = scope.identity.username or ""
        policy_id, secret = await webhooks.create_policy(scope.project.id, spec, creator)
        event.description = f"event_types: {', '.join(spec.event_types)}"
        await events.emit(op.tx, event)
    return policy_id, secret


async def update(call: Call, ref: ProjectRef, policy_id: int) -> None:
    """Replace the policy's settings with a WebhookPolicy body's."""
    event = await _event(audit.UPDATE, ref, f"policy {policy_id}")
    async with attempt(call, event) as op:
        scope = await project_scope(op.caller, ref, Permission.WEBHOOK_UPDATE)
        before = await webhooks.get_policy(scope.project.id, policy_id)
        event.resource = before.name
        spec = webhooks.parse_policy(await op.body())
        await webhooks.update_policy(scope.project.id, policy_id, spec)
        event.description = _changes(before, spec)
        await events.emit(op.tx, event)


async def delete(call: Call, ref: ProjectRef, policy_id: int) -> None:
    """Delete the policy with its delivery history."""
    event = await _event(audit.DELETE, ref, f"policy {policy_id}")
    async with attempt(call, event) as op:
        scope = await project_scope(op.caller, ref, Permission.WEBHOOK_DELETE)
        event.resource = (await webhooks.get_policy(scope.project.id, policy_id)).name
        await webhooks.delete_policy(scope.project.id, policy_id)
        await events.emit(op.tx, event)


async def _event(operation: str, ref: ProjectRef, resource: str) -> audit.Event:
    name, project_id = await project_target(ref)
    return audit.Event(operation, audit.WEBHOOK, resource, project=name, project_id=project_id)


def _changes(before: WebhookPolicy, spec: webhooks.PolicySpec) -> str:
    """What an update changed; targets (which may carry credentials) and the secret are
    named without their values."""
    old = {
        "name": before.name,
        "description": before.description,
        "enabled": before.enabled,
        "event_types": before.event_types,
        "targets": before.targets,
    }
    new = {
        "name": spec.name,
        "description": spec.description,
        "enabled": spec.enabled,
        "event_types": spec.event_types,
        "targets": spec.targets,
    }
    if spec.secret:
        new["secret"] = True  # a new secret was given; old has none, so it is listed
    return audit.changes(old, new, hidden=("targets", "secret"))
