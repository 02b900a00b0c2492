"""Project members: /api/v2.0/projects/{project_name_or_id}/members (Harbor's ProjectMember)."""

from __future__ import annotations

from typing import Any

from quart import Response, request

import services.members
from access import members
from access.members import MemberInfo
from access.roles import Permission
from web.api import api
from web.api.calls import api_call, project_ref
from web.api.common import created, json_response, paged_response, paging
from web.api.openapi import operation
from web.api.projects import project_scope
from web.api.schemas.members import MemberListQuery, ProjectMember, ProjectMemberEntity, RoleRequest


@api.route("/projects/<ref>/members", methods=["GET"])
@operation(
    "listProjectMembers",
    "member",
    query=MemberListQuery,
    responses={200: list[ProjectMemberEntity]},
)
async def list_members(ref: str) -> Response:
    scope = await project_scope(ref, Permission.MEMBER_LIST)
    pages = paging()
    rows, total = await members.list_members(
        scope.project.id, request.args.get("entityname"), pages.offset, pages.page_size
    )
    return paged_response([_render(m) for m in rows], total, pages)


@api.route("/projects/<ref>/members", methods=["POST"])
@operation("createProjectMember", "member", body=ProjectMember, responses={201: None})
async def add_member(ref: str) -> Response:
    member_id = await services.members.add(await api_call(), project_ref(ref))
    return created(f"/api/v2.0/projects/{ref}/members/{member_id}")


@api.route("/projects/<ref>/members/<int:mid>", methods=["GET"])
@operation("getProjectMember", "member", responses={200: ProjectMemberEntity})
async def get_member(ref: str, mid: int) -> Response:
    scope = await project_scope(ref, Permission.MEMBER_LIST)
    return json_response(_render(await members.get_member(scope.project.id, mid)))


@api.route("/projects/<ref>/members/<int:mid>", methods=["PUT"])
@operation("updateProjectMember", "member", body=RoleRequest, responses={200: None})
async def update_member(ref: str, mid: int) -> Response:
    await services.members.update(await api_call(), project_ref(ref), mid)
    return Response("", status=200)


@api.route("/projects/<ref>/members/<int:mid>", methods=["DELETE"])
@operation("deleteProjectMember", "member", responses={200: None})
async def remove_member(ref: str, mid: int) -> Response:
    await services.members.remove(await api_call(), project_ref(ref), mid)
    return Response("", status=200)


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
