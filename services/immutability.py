"""A project's tag immutability rules: create, change, delete (rights, audit, one transaction)."""

from __future__ import annotations

from access.roles import Permission
from core import audit, events, immutability
from services.attempts import Call, attempt
from services.rights import ProjectRef, project_scope, project_target


async def create(call: Call, ref: ProjectRef) -> int:
    """A new rule from an ImmutableRule body; its id."""
    event = await _event(audit.CREATE, ref, "immutable tag rule")
    async with attempt(call, event) as op:
        scope = await project_scope(op.caller, ref, Permission.IMMUTABLE_TAG_CREATE)
        spec = immutability.parse_rule(await op.body())
        rule_id = await immutability.create_rule(scope.project.id, spec)
        event.resource = f"immutable tag rule {rule_id}"
        event.description = immutability.describe((spec.repository, spec.tag))
        await events.emit(op.tx, event)
    return rule_id


async def update(call: Call, ref: ProjectRef, rule_id: int) -> None:
    """Apply an ImmutableRule body: switch the rule on or off, or replace its selectors."""
    event = await _event(audit.UPDATE, ref, f"immutable tag rule {rule_id}")
    async with attempt(call, event) as op:
        scope = await project_scope(op.caller, ref, Permission.IMMUTABLE_TAG_UPDATE)
        body = await op.body()
        event.description = await immutability.update_rule(scope.project.id, rule_id, body)
        await events.emit(op.tx, event)


async def delete(call: Call, ref: ProjectRef, rule_id: int) -> None:
    event = await _event(audit.DELETE, ref, f"immutable tag rule {rule_id}")
    async with attempt(call, event) as op:
        scope = await project_scope(op.caller, ref, Permission.IMMUTABLE_TAG_DELETE)
        rule = await immutability.delete_rule(scope.project.id, rule_id)
        event.description = immutability.describe(immutability.rule_selectors(rule))
        await events.emit(op.tx, event)


async def _event(operation: str, ref: ProjectRef, resource: str) -> audit.Event:
    name, project_id = await project_target(ref)
    return audit.Event(
        operation, audit.IMMUTABLE_RULE, resource, project=name, project_id=project_id
    )
