"""A project's metadata one setting at a time (Harbor's project metadatas API), over the
settings Berth keeps (core.project_settings) and the project's public flag.

Each change is audited as an update of the project, with what changed.
"""

from __future__ import annotations

from typing import Any

from access.errors import InvalidInput, NotFound
from access.roles import Permission
from core import audit, events, project_settings, projects
from core.project_settings import METADATA_NAMES, PUBLIC, checked_value
from core.retention import RETENTION_ID
from services.attempts import Call, attempt
from services.rights import ProjectRef, ProjectScope, project_scope, project_target


async def read_all(scope: ProjectScope) -> dict[str, str]:
    """Every setting of the project, public included, as stored strings."""
    settings = await project_settings.settings_of(scope.project.id)
    return {**settings, PUBLIC: "true" if scope.project.public else "false"}


async def read_one(scope: ProjectScope, name: str) -> dict[str, str]:
    """{name: value}; NotFound when the project has no such setting."""
    found = (await read_all(scope)).get(name)
    if found is None:
        raise NotFound(f"the project has no metadata {name[:64]}")
    return {name: found}


async def add(call: Call, ref: ProjectRef) -> None:
    """Set every setting the body names (each value checked)."""
    await _change(call, ref, Permission.METADATA_CREATE, None)


async def update(call: Call, ref: ProjectRef, name: str) -> None:
    """Set the one setting the path names; the body is {name: value}."""
    await _change(call, ref, Permission.METADATA_UPDATE, name)


async def delete(call: Call, ref: ProjectRef, name: str) -> None:
    """Remove one setting; public cannot be removed (only switched)."""
    event = await _event(ref)
    async with attempt(call, event) as op:
        scope = await project_scope(op.caller, ref, Permission.METADATA_DELETE)
        if name == PUBLIC:
            raise InvalidInput("metadata public cannot be deleted; set it to false instead")
        if name == RETENTION_ID:
            raise _managed()
        if name not in METADATA_NAMES:  # nothing else is ever stored (nor fits the column)
            raise NotFound(f"the project has no metadata {name[:64]}")
        before = await project_settings.settings_of(scope.project.id)
        if not await project_settings.remove(scope.project.id, name):
            raise NotFound(f"the project has no metadata {name[:64]}")
        event.description = f"{name} removed (was {audit.shown(before.get(name))})"
        await events.emit(op.tx, event)


async def _change(call: Call, ref: ProjectRef, permission: Permission, only: str | None) -> None:
    event = await _event(ref)
    async with attempt(call, event) as op:
        scope = await project_scope(op.caller, ref, permission)
        values = _values(await op.body(), only)
        public = values.pop(PUBLIC, None)
        before: dict[str, object] = {**await project_settings.store(scope.project.id, values)}
        after: dict[str, object] = dict(values)
        if public is not None:
            await projects.set_public(scope.project.id, public == "true")
            before[PUBLIC] = "true" if scope.project.public else "false"
            after[PUBLIC] = public
        event.description = audit.changes(before, after)
        await events.emit(op.tx, event)


def _values(body: dict[str, Any], only: str | None) -> dict[str, str]:
    if not body:
        raise InvalidInput("body: name at least one metadata setting")
    if only is not None and set(body) != {only}:
        raise InvalidInput(f"body must set {only[:64]} and nothing else")
    if RETENTION_ID in body:
        raise _managed()
    return {name: checked_value(name, value) for name, value in body.items()}


def _managed() -> InvalidInput:
    """retention_id names the project's retention policy; the retention API (/retentions)
    keeps it with the policy, so that it never names a policy that is not the project's."""
    return InvalidInput(f"metadata.{RETENTION_ID} is set by the retention API (/retentions)")


async def _event(ref: ProjectRef) -> audit.Event:
    name, project_id = await project_target(ref)
    return audit.Event(audit.UPDATE, audit.PROJECT, name, project=name, project_id=project_id)
