"""Project members: add a user or a group with a role, change the role, remove them."""

from __future__ import annotations

from typing import Any

from access import members
from access.errors import InvalidInput
from access.members import GroupRef, MemberInfo, UserRef, parse_role
from access.roles import Permission
from core import audit, events
from services.attempts import Call, attempt, peeked
from services.rights import ProjectRef, project_scope, project_target


async def add(call: Call, ref: ProjectRef) -> int:
    """Add the member_user or member_group of a ProjectMember body with its role_id; the
    new member's id."""
    event = await _event(audit.CREATE, ref, _requested(await peeked(call)))
    async with attempt(call, event) as op:
        scope = await project_scope(op.caller, ref, Permission.MEMBER_CREATE)
        body = await op.body()
        user = _ref(UserRef, body.get("member_user"), {"user_id": int, "username": str})
        group = _ref(
            GroupRef,
            body.get("member_group"),
            {"id": int, "group_name": str, "group_type": int, "ldap_group_dn": str},
        )
        member_id = await members.add_member(
            scope.project.id, parse_role(body.get("role_id")), user, group
        )
        added = await members.get_member(scope.project.id, member_id)
        event.resource, event.description = label(added), f"role: {added.role.harbor_name}"
        await events.emit(op.tx, event)
    return member_id


async def update(call: Call, ref: ProjectRef, member_id: int) -> None:
    """Give the member the role_id of the body."""
    event = await _event(audit.UPDATE, ref, f"member {member_id}")
    async with attempt(call, event) as op:
        scope = await project_scope(op.caller, ref, Permission.MEMBER_UPDATE)
        before = await members.get_member(scope.project.id, member_id)
        event.resource = label(before)
        role = parse_role((await op.body()).get("role_id"))
        await members.update_member(scope.project.id, member_id, role)
        event.description = f"role: {before.role.harbor_name} -> {role.harbor_name}"
        await events.emit(op.tx, event)


async def remove(call: Call, ref: ProjectRef, member_id: int) -> None:
    event = await _event(audit.DELETE, ref, f"member {member_id}")
    async with attempt(call, event) as op:
        scope = await project_scope(op.caller, ref, Permission.MEMBER_DELETE)
        before = await members.get_member(scope.project.id, member_id)
        event.resource, event.description = label(before), f"role: {before.role.harbor_name}"
        await members.remove_member(scope.project.id, member_id)
        await events.emit(op.tx, event)


def label(member: MemberInfo) -> str:
    """How an event names a member: "user alice", "group devs"."""
    kind = "group" if member.entity_type == members.GROUP else "user"
    return f"{kind} {member.entity_name}"


async def _event(operation: str, ref: ProjectRef, resource: str) -> audit.Event:
    name, project_id = await project_target(ref)
    return audit.Event(operation, audit.MEMBER, resource, project=name, project_id=project_id)


def _requested(body: dict[str, Any]) -> str:
    """The member a request names, as far as it can be read (for a refused attempt)."""
    for kind, value, keys in (
        ("user", body.get("member_user"), ("username", "user_id")),
        ("group", body.get("member_group"), ("group_name", "ldap_group_dn", "id")),
    ):
        if isinstance(value, dict):
            named = next((value[k] for k in keys if value.get(k) not in (None, "")), None)
            if named is not None:
                return f"{kind} {str(named)[:255]}"
    return ""


def _ref(kind: Any, value: object, fields: dict[str, type]) -> Any:
    """A UserRef or GroupRef from a request object, each field checked for its type."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInput("member_user and member_group must be objects")
    checked = {}
    for name, expected in fields.items():
        field = value.get(name)
        if field is not None and (isinstance(field, bool) or not isinstance(field, expected)):
            raise InvalidInput(f"{name} must be a {expected.__name__}")
        checked[name] = field
    return kind(**checked)
