"""Projects: /api/v2.0/projects (Harbor's Project, ProjectReq and ProjectDeletable)."""

from __future__ import annotations

from typing import Any

from quart import Response, request

import services.projects
from access.policy import Identity, member_roles, visible_project_ids
from access.roles import Permission, Role
from core import projects
from core.projects import ProjectInfo
from models.errors import InvalidInput, NotFound
from services import rights
from services.rights import ProjectScope
from web.api import api
from web.api.calls import api_call, project_ref
from web.api.common import (
    created,
    current_identity,
    json_response,
    paged_response,
    paging,
    signed_in,
)
from web.api.openapi import operation
from web.api.query import (
    KeyParsers,
    as_bool,
    parse_query,
    parse_sort,
    tortoise_filters,
    tortoise_order,
)
from web.api.robots import robots
from web.api.schemas.projects import (
    Project,
    ProjectDeletable,
    ProjectHeadQuery,
    ProjectListQuery,
    ProjectReq,
)
from web.params import api_time, name_arg, parse_bool

QUERY_KEYS: KeyParsers = {"name": str, "project_id": int, "public": as_bool, "owner_id": int}
SORT_KEYS = {"name", "project_id", "creation_time", "update_time"}
COLUMNS = {"project_id": "id", "creation_time": "created_at", "update_time": "updated_at"}
# Harbor reports the strongest of a caller's roles as current_user_role_id.
_ROLE_STRENGTH = [
    Role.PROJECT_ADMIN,
    Role.MAINTAINER,
    Role.DEVELOPER,
    Role.GUEST,
    Role.LIMITED_GUEST,
]


async def project_scope(ref: str, permission: Permission) -> ProjectScope:
    """The project a path's {project_name_or_id} names, if the caller holds permission
    (a project the caller may not see is reported missing)."""
    return await rights.project_scope(await current_identity(), project_ref(ref), permission)


@api.route("/projects", methods=["GET"])  # Quart answers HEAD here too
@operation(
    "listProjects", "project", query=ProjectListQuery, responses={200: list[Project]}, method="GET"
)
@operation("headProject", "project", query=ProjectHeadQuery, responses={200: None}, method="HEAD")
async def list_projects() -> Response:
    if request.method == "HEAD":
        return await _head_project()
    identity = await current_identity()
    filters = tortoise_filters(parse_query(request.args.get("q"), QUERY_KEYS), COLUMNS)
    filters.update(_plain_filters())
    pages = paging()
    rows, total = await projects.list_projects(
        await visible_project_ids(identity, "project:list"),
        filters,
        tortoise_order(parse_sort(request.args.get("sort"), SORT_KEYS), COLUMNS),
        pages.offset,
        pages.page_size,
    )
    return paged_response([await _render(identity, p) for p in rows], total, pages)


@api.route("/projects", methods=["POST"])
@operation("createProject", "project", body=ProjectReq, responses={201: None})
async def create_project() -> Response:
    project_id, name = await services.projects.create(await api_call())
    named = request.headers.get("X-Resource-Name-In-Location", "").lower() == "true"
    return created(f"/api/v2.0/projects/{name if named else project_id}")


@api.route("/projects/<ref>", methods=["GET"])
@operation("getProject", "project", responses={200: Project})
async def get_project(ref: str) -> Response:
    scope = await project_scope(ref, Permission.PROJECT_READ)
    return json_response(await _render(scope.identity, scope.project))


@api.route("/projects/<ref>", methods=["PUT"])
@operation("updateProject", "project", body=ProjectReq, responses={200: None})
async def update_project(ref: str) -> Response:
    await services.projects.update(await api_call(), project_ref(ref))
    return Response("", status=200)


@api.route("/projects/<ref>", methods=["DELETE"])
@operation("deleteProject", "project", responses={200: None})
async def delete_project(ref: str) -> Response:
    await services.projects.delete(await api_call(), project_ref(ref), robots())
    return Response("", status=200)


@api.route("/projects/<ref>/_deletable", methods=["GET"])
@operation("getProjectDeletable", "project", responses={200: ProjectDeletable})
async def project_deletable(ref: str) -> Response:
    scope = await project_scope(ref, Permission.PROJECT_DELETE)
    ok, message = await projects.deletable(scope.project.id)
    return json_response({"deletable": ok, "message": message})


async def _head_project() -> Response:
    await signed_in()
    name = name_arg("project_name")
    if not name:
        raise InvalidInput("project_name is required")
    if not await projects.project_name_exists(name):
        raise NotFound(f"project {name} not found")
    return Response("", status=200)


def _plain_filters() -> dict[str, Any]:
    """Harbor's own list parameters: name (a part of it), public, owner (a username)."""
    filters: dict[str, Any] = {}
    if name := request.args.get("name"):
        filters["name__icontains"] = name
    if (public := request.args.get("public")) is not None:
        filters["public"] = parse_bool("public", public)
    if owner := request.args.get("owner"):
        filters["owner"] = owner
    return filters


async def _render(identity: Identity, project: ProjectInfo) -> dict[str, Any]:
    roles = await member_roles(identity, project.id) if identity.user_id is not None else set()
    strongest = next((int(r) for r in _ROLE_STRENGTH if r in roles), 0)
    return {
        "project_id": project.id,
        "name": project.name,
        "owner_id": project.owner_id,
        "owner_name": project.owner_name,
        "creation_time": api_time(project.created_at),
        "update_time": api_time(project.updated_at),
        "repo_count": project.repo_count,
        "deleted": False,
        "metadata": {**project.metadata, "public": "true" if project.public else "false"},
        "current_user_role_id": strongest,
        "current_user_role_ids": sorted(int(r) for r in roles),
    }
