"""Projects: /api/v2.0/projects (Harbor's Project, ProjectReq and ProjectDeletable)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from quart import Response, request

from access.errors import AuthenticationFailed, Forbidden
from access.policy import Identity, member_roles, project_access, visible_project_ids
from access.roles import Permission, Role
from core import audit, projects, webhooks
from core.projects import ProjectInfo
from models import fetch
from models.errors import InvalidInput, NotFound
from web.api import api
from web.api.common import (
    created,
    current_identity,
    json_body,
    json_response,
    paged_response,
    paging,
    signed_in,
)
from web.api.query import (
    KeyParsers,
    as_bool,
    parse_query,
    parse_sort,
    tortoise_filters,
    tortoise_order,
)
from web.api.recording import changes, recorded, requested
from web.api.robots import robots
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


@dataclass(frozen=True, slots=True)
class ProjectScope:
    """A project the caller may see, and what the caller may do there."""

    identity: Identity
    project: ProjectInfo
    permissions: frozenset[Permission]


async def project_scope(ref: str, permission: Permission) -> ProjectScope:
    """The project named by a path's {project_name_or_id}, if the caller holds permission.

    A project the caller may not see is reported missing (404), as if it did not exist.
    """
    identity = await current_identity()
    project = await projects.find_project(ref, _by_name(ref))
    access = await project_access(identity, project.name) if project else None
    if project is None or access is None or Permission.PROJECT_READ not in access.permissions:
        raise NotFound(f"project {ref} not found")
    if permission not in access.permissions:
        if identity.anonymous:
            raise AuthenticationFailed("sign in first")
        raise Forbidden(f"the role does not allow {permission.value} in project {project.name}")
    return ProjectScope(identity, project, access.permissions)


async def project_target(ref: str) -> tuple[str, int | None]:
    """The name and id of the project a path names, for the audit event of a change to it.
    Read before the rights check, so that a refused attempt is filed under its project."""
    if _by_name(ref):
        rows = await fetch("SELECT name, id FROM project WHERE name = ?", ref)
    elif len(ref) < 12:  # longer digit strings name no project (find_project's rule)
        rows = await fetch("SELECT name, id FROM project WHERE id = ?", int(ref))
    else:
        rows = []
    return (str(rows[0][0]), int(rows[0][1])) if rows else (ref, None)  # type: ignore[call-overload]


@contextlib.asynccontextmanager
async def recorded_in(
    ref: str, operation: str, resource_type: str, resource: str | None = None
) -> AsyncIterator[audit.Event]:
    """`recorded` for a change to, or inside, the project a path names; the resource is the
    project's name unless another is given."""
    name, project_id = await project_target(ref)
    async with recorded(
        operation,
        resource_type,
        name if resource is None else resource,
        project=name,
        project_id=project_id,
    ) as event:
        yield event


def _by_name(ref: str) -> bool:
    return request.headers.get("X-Is-Resource-Name", "").lower() == "true" or not ref.isdigit()


@api.route("/projects", methods=["GET"])  # Quart answers HEAD here too
async def list_projects() -> Response:
    if request.method == "HEAD":
        return await _head_project()
    identity = await current_identity()
    filters = tortoise_filters(parse_query(request.args.get("q"), QUERY_KEYS), COLUMNS)
    filters.update(_plain_filters())
    pages = paging()
    rows, total = await projects.list_projects(
        await visible_project_ids(identity),
        filters,
        tortoise_order(parse_sort(request.args.get("sort"), SORT_KEYS), COLUMNS),
        pages.offset,
        pages.page_size,
    )
    return paged_response([await _render(identity, p) for p in rows], total, pages)


@api.route("/projects", methods=["POST"])
async def create_project() -> Response:
    target = await requested("project_name")
    async with recorded(audit.CREATE, audit.PROJECT, target, project=target) as event:
        identity = await signed_in()
        if identity.user_id is None:
            raise Forbidden("only users may create projects")
        body = await json_body()
        name = body.get("project_name")
        if not isinstance(name, str):
            raise InvalidInput("project_name is required")
        event.resource = event.project = name
        public = _public_of(body) or False
        event.description = f"public: {str(public).lower()}"
        project_id = await projects.create_owned_project(
            name, public, identity.user_id, int(Role.PROJECT_ADMIN)
        )
        event.project_id = project_id
    named = request.headers.get("X-Resource-Name-In-Location", "").lower() == "true"
    return created(f"/api/v2.0/projects/{name if named else project_id}")


@api.route("/projects/<ref>", methods=["GET"])
async def get_project(ref: str) -> Response:
    scope = await project_scope(ref, Permission.PROJECT_READ)
    return json_response(await _render(scope.identity, scope.project))


@api.route("/projects/<ref>", methods=["PUT"])
async def update_project(ref: str) -> Response:
    async with recorded_in(ref, audit.UPDATE, audit.PROJECT) as event:
        scope = await project_scope(ref, Permission.PROJECT_UPDATE)
        public = _public_of(await json_body())
        if public is not None:
            await projects.set_public(scope.project.id, public)
            event.description = changes({"public": scope.project.public}, {"public": public})
        else:
            event.description = "no change"
    return Response("", status=200)


@api.route("/projects/<ref>", methods=["DELETE"])
async def delete_project(ref: str) -> Response:
    async with recorded_in(ref, audit.DELETE, audit.PROJECT):
        scope = await project_scope(ref, Permission.PROJECT_DELETE)
        await projects.delete_project(scope.project.id)
        await robots().delete_project_robots(scope.project.id)  # a same-named project starts clean
        await webhooks.delete_project_policies(scope.project.id)
    return Response("", status=200)


@api.route("/projects/<ref>/_deletable", methods=["GET"])
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


def _public_of(body: dict[str, Any]) -> bool | None:
    """The visibility a ProjectReq asks for: metadata.public, else the deprecated public."""
    metadata = body.get("metadata", {})
    if not isinstance(metadata, dict):
        raise InvalidInput("metadata must be an object")
    value = metadata.get("public", body.get("public"))
    if value is None or isinstance(value, bool):
        return value
    return parse_bool("metadata.public", value)


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
        "metadata": {"public": "true" if project.public else "false"},
        "current_user_role_id": strongest,
        "current_user_role_ids": sorted(int(r) for r in roles),
    }
