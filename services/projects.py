"""Projects: create one with its owner, change its visibility, delete it with everything
that hangs on it (memberships, robots, webhook policies)."""

from __future__ import annotations

from typing import Any

from access import config
from access.errors import InvalidInput
from access.policy import ADMIN_ONLY, Identity, holds_system
from access.robots import RobotService
from access.roles import Permission, Role
from access.users import ADMIN
from core import audit, events, project_settings, projects, quotas, webhooks
from models import User
from models.values import parse_bool
from services.attempts import Call, attempt, requested
from services.rights import ProjectRef, project_scope, project_target, require_system

_OWNER_ROLE: int | None = int(Role.PROJECT_ADMIN)  # a user's role in the project they create


async def create(call: Call) -> tuple[int, str]:
    """A new project (ProjectReq: project_name, metadata.public); its id and name. A user who
    creates one is its Project Admin. A system robot needs project:create; as in Harbor, its
    project is owned by `admin` and the robot becomes no member of it (it reaches the
    project only through the permissions it was given)."""
    target = await requested(call, "project_name")
    event = audit.Event(audit.CREATE, audit.PROJECT, target, project=target)
    async with attempt(call, event) as op:
        if op.caller.user_id is None:  # nobody (401), or a robot
            require_system(op.caller, "project:create")
        body = await op.body()
        name = body.get("project_name")
        if not isinstance(name, str):
            raise InvalidInput("project_name is required")
        event.resource = event.project = name
        public = public_of(body) or False
        settings = project_settings.checked(_metadata(body))
        event.description = f"public: {str(public).lower()}"
        owner, role = op.caller.user_id, _OWNER_ROLE
        if owner is None:  # a robot: owned by admin, nobody's membership
            owner, role = await _admin_id(), None
        limit = await _storage_limit(op.caller, body.get("storage_limit"))
        event.project_id = await projects.create_owned_project(name, public, owner, role, limit)
        await project_settings.store(event.project_id, settings)
        await events.emit(op.tx, event)
    return event.project_id, name


async def update(call: Call, ref: ProjectRef) -> None:
    """Change the project's visibility and its settings (core.project_settings)."""
    event = await _event(audit.UPDATE, ref)
    async with attempt(call, event) as op:
        scope = await project_scope(op.caller, ref, Permission.PROJECT_UPDATE)
        body = await op.body()
        public = public_of(body)
        settings = project_settings.checked(_metadata(body))
        before: dict[str, object] = {**await project_settings.store(scope.project.id, settings)}
        after: dict[str, object] = dict(settings)
        if public is not None:
            await projects.set_public(scope.project.id, public)
            before["public"], after["public"] = scope.project.public, public
        event.description = audit.changes(before, after) if after else "no change"
        await events.emit(op.tx, event)


async def delete(call: Call, ref: ProjectRef, robots: RobotService) -> None:
    """Delete an empty project with its memberships, robots and webhook policies (so that a
    new project of the same name starts clean), in one transaction with its event."""
    event = await _event(audit.DELETE, ref)
    async with attempt(call, event) as op:
        scope = await project_scope(op.caller, ref, Permission.PROJECT_DELETE)
        await projects.delete_project(scope.project.id)
        await robots.delete_project_robots(scope.project.id)
        await webhooks.delete_project_policies(scope.project.id)
        await events.emit(op.tx, event)


async def _storage_limit(caller: Identity, asked: object) -> int:
    """The new project's storage limit: what a system admin asks (bytes, -1 unlimited), else
    (nothing asked, 0, or another caller) the configured storage_per_project, as Harbor."""
    if asked is not None and asked != 0:
        quotas.checked_limit(asked, "storage_limit")
    if asked and holds_system(caller, ADMIN_ONLY):
        return int(asked)  # type: ignore[call-overload]
    default = (await config.current())["storage_per_project"]
    return int(default)


async def _admin_id() -> int | None:
    """Who owns a project a robot creates: the first system admin, `admin`, as in Harbor."""
    found = await User.get_or_none(username=ADMIN)
    return int(found.id) if found is not None else None


async def _event(operation: str, ref: ProjectRef) -> audit.Event:
    name, project_id = await project_target(ref)
    return audit.Event(operation, audit.PROJECT, name, project=name, project_id=project_id)


def _metadata(body: dict[str, Any]) -> dict[str, Any]:
    metadata = body.get("metadata", {})
    if not isinstance(metadata, dict):
        raise InvalidInput("metadata must be an object")
    return metadata


def public_of(body: dict[str, Any]) -> bool | None:
    """The visibility a ProjectReq asks for: metadata.public, else the deprecated public."""
    metadata = _metadata(body)
    value = metadata.get("public", body.get("public"))
    if value is None or isinstance(value, bool):
        return value
    return parse_bool("metadata.public", value)
