"""Project members: /api/v2.0/projects/{project_name_or_id}/members (Harbor's ProjectMember)."""

from __future__ import annotations

from typing import Any

from quart import Response, request

from access import members
from access.members import (
    GroupRef,
    MemberInfo,
    UserRef,
    parse_role,
)
from access.roles import Permission
from core import audit
from models.errors import InvalidInput
from web.api import api
from web.api.common import (
    created,
    json_body,
    json_response,
    paged_response,
    paging,
)
from web.api.projects import project_scope, recorded_in
from web.api.recording import peeked_body


@api.route("/projects/<ref>/members", methods=["GET"])
async def list_members(ref: str) -> Response:
    scope = await project_scope(ref, Permission.MEMBER_LIST)
    pages = paging()
    rows, total = await members.list_members(
        scope.project.id, request.args.get("entityname"), pages.offset, pages.page_size
    )
    return paged_response([_render(m) for m in rows], total, pages)


@api.route("/projects/<ref>/members", methods=["POST"])
async def add_member(ref: str) -> Response:
    named = _requested(await peeked_body())
    async with recorded_in(ref, audit.CREATE, audit.MEMBER, named) as event:
        scope = await project_scope(ref, Permission.MEMBER_CREATE)
        body = await json_body()
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
        event.resource, event.description = _label(added), f"role: {added.role.harbor_name}"
    return created(f"/api/v2.0/projects/{ref}/members/{member_id}")


@api.route("/projects/<ref>/members/<int:mid>", methods=["GET"])
async def get_member(ref: str, mid: int) -> Response:
    scope = await project_scope(ref, Permission.MEMBER_LIST)
    return json_response(_render(await members.get_member(scope.project.id, mid)))


@api.route("/projects/<ref>/members/<int:mid>", methods=["PUT"])
async def update_member(ref: str, mid: int) -> Response:
    async with recorded_in(ref, audit.UPDATE, audit.MEMBER, f"member {mid}") as event:
        scope = await project_scope(ref, Permission.MEMBER_UPDATE)
        before = await members.get_member(scope.project.id, mid)
        event.resource = _label(before)
        role = parse_role((await json_body()).get("role_id"))
        await members.update_member(scope.project.id, mid, role)
        event.description = f"role: {before.role.harbor_name} -> {role.harbor_name}"
    return Response("", status=200)


@api.route("/projects/<ref>/members/<int:mid>", methods=["DELETE"])
async def remove_member(ref: str, mid: int) -> Response:
    async with recorded_in(ref, audit.DELETE, audit.MEMBER, f"member {mid}") as event:
        scope = await project_scope(ref, Permission.MEMBER_DELETE)
        before = await members.get_member(scope.project.id, mid)
        event.resource, event.description = _label(before), f"role: {before.role.harbor_name}"
        await members.remove_member(scope.project.id, mid)
    return Response("", status=200)


def _label(member: MemberInfo) -> str:
    """How an event names a member: "user alice", "group devs"."""
    kind = "group" if member.entity_type == members.GROUP else "user"
    return f"{kind} {member.entity_name}"


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


def _render(member: MemberInfo) -> dict[str, Any]:
    return {
        "id": member.id,
        "project_id": member.project_id,
        "entity_name": member.entity_name,
        "role_name": member.role.harbor_name,
        "role_id": int(member.role),
        "entity_id": member.entity_id,
        "entity_type": member.entity_type,
    }
