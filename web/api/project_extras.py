"""What a project tells beyond itself: its summary, its metadatas one by one, the artifacts
of all its repositories and its audit log (Harbor's getProjectSummary, the metadatas API,
listArtifactsOfProject and getLogs)."""

from __future__ import annotations

from typing import Any

from quart import Response, current_app, request

import services.project_metadata as metadata
from access.roles import Permission, Role
from core import artifacts, quotas, repositories
from core.service import Registry
from models.errors import InvalidInput
from search.audit import AuditQuery, Condition
from services import rights
from services.rights import ProjectRef
from web.api import api
from web.api.artifacts import render_artifacts
from web.api.calls import api_call, project_ref
from web.api.common import current_identity, json_response, paged_response, paging
from web.api.openapi import operation
from web.api.projects import project_scope
from web.api.query import KeyParsers, parse_query, parse_sort, tortoise_filters
from web.api.schemas.artifacts import Artifact
from web.api.schemas.project_extras import (
    AuditLog,
    LogQuery,
    ProjectArtifactQuery,
    ProjectMetadata,
    ProjectSummary,
)
from web.params import api_time, bool_arg, parse_time

ARTIFACT_QUERY_KEYS: KeyParsers = {"digest": str, "media_type": str}
# getLogs' q keys -> (audit record field, value parser)
LOG_KEYS: dict[str, tuple[str, Any]] = {
    "username": ("username", str),
    "operation": ("operation", str),
    "resource_type": ("resource_type", str),
    "resource": ("resource", str),
    "op_time": ("occurred_at", lambda v: parse_time("q: op_time", v)),
}
LOG_SORTS = {"op_time": "occurred_at", "id": "id", "username": "username"}
MAX_LOG_WINDOW = 10_000  # as the audit log API: paging stops this deep
_SUMMARY_ROLES = {
    "project_admin_count": Role.PROJECT_ADMIN,
    "maintainer_count": Role.MAINTAINER,
    "developer_count": Role.DEVELOPER,
    "guest_count": Role.GUEST,
    "limited_guest_count": Role.LIMITED_GUEST,
}


@api.route("/projects/<ref>/summary", methods=["GET"])
@operation("getProjectSummary", "project", responses={200: ProjectSummary})
async def project_summary(ref: str) -> Response:
    scope = await project_scope(ref, Permission.PROJECT_READ)
    found = await repositories.project_summary(scope.project.id)
    body: dict[str, Any] = {"repo_count": found.repo_count}
    body.update({k: found.members_by_role.get(int(r), 0) for k, r in _SUMMARY_ROLES.items()})
    quota = await quotas.project_quota(scope.project.id)
    if quota is not None:
        body["quota"] = {"hard": {"storage": quota.hard}, "used": {"storage": quota.used}}
    return json_response(body)


@api.route("/projects/<ref>/metadatas/", methods=["GET"])
@operation("listProjectMetadatas", "projectMetadata", responses={200: dict[str, str]})
async def list_metadatas(ref: str) -> Response:
    scope = await project_scope(ref, Permission.METADATA_LIST)
    return json_response(await metadata.read_all(scope))


@api.route("/projects/<ref>/metadatas/", methods=["POST"])
@operation("addProjectMetadatas", "projectMetadata", body=ProjectMetadata)
async def add_metadatas(ref: str) -> Response:
    await metadata.add(await api_call(), project_ref(ref))
    return Response("", status=200)


@api.route("/projects/<ref>/metadatas/<meta_name>", methods=["GET"])
@operation("getProjectMetadata", "projectMetadata", responses={200: dict[str, str]})
async def get_metadata(ref: str, meta_name: str) -> Response:
    scope = await project_scope(ref, Permission.METADATA_READ)
    return json_response(await metadata.read_one(scope, meta_name))


@api.route("/projects/<ref>/metadatas/<meta_name>", methods=["PUT"])
@operation("updateProjectMetadata", "projectMetadata", body=ProjectMetadata)
async def update_metadata(ref: str, meta_name: str) -> Response:
    await metadata.update(await api_call(), project_ref(ref), meta_name)
    return Response("", status=200)


@api.route("/projects/<ref>/metadatas/<meta_name>", methods=["DELETE"])
@operation("deleteProjectMetadata", "projectMetadata")
async def delete_metadata(ref: str, meta_name: str) -> Response:
    await metadata.delete(await api_call(), project_ref(ref), meta_name)
    return Response("", status=200)


@api.route("/projects/<ref>/artifacts", methods=["GET"])
@operation(
    "listArtifactsOfProject", "project", query=ProjectArtifactQuery,
    responses={200: list[Artifact]},
)  # fmt: skip
async def list_project_artifacts(ref: str) -> Response:
    scope = await project_scope(ref, Permission.REPOSITORY_PULL)
    filters = tortoise_filters(parse_query(request.args.get("q"), ARTIFACT_QUERY_KEYS))
    pages, with_tag = paging(), bool_arg("with_tag", True)
    for ignored in ("with_scan_overview", "with_sbom_overview", "with_accessory"):
        bool_arg(ignored, False)  # checked, as Harbor takes them; nothing they add is kept
    items, total = await artifacts.list_project_artifacts(
        scope.project.id, filters, pages.offset, pages.page_size, with_tag
    )
    return paged_response(await render_artifacts(items, with_tag), total, pages)


@api.route("/projects/<ref>/logs", methods=["GET"])
@operation("getLogs", "project", query=LogQuery, responses={200: list[AuditLog]})
async def project_logs(ref: str) -> Response:
    # Harbor's getLogs names the project by name only (a project may be named "123")
    scope = await rights.project_scope(
        await current_identity(), ProjectRef(ref, by_name=True), Permission.LOG_LIST
    )
    pages = paging()
    if pages.offset + pages.page_size > MAX_LOG_WINDOW:
        raise InvalidInput(f"page * page_size may not pass {MAX_LOG_WINDOW}")
    query = AuditQuery(
        conditions=_log_conditions(),
        project_ids=frozenset({scope.project.id}),
        sort=_log_sort(),
        offset=pages.offset,
        limit=pages.page_size,
        count_limit=100_000,
    )
    result = await _registry().audit_index.search(query)
    return paged_response([_log(hit.record) for hit in result.hits], result.total, pages)


def _log_conditions() -> tuple[Condition, ...]:
    terms = parse_query(request.args.get("q"), {k: p for k, (_f, p) in LOG_KEYS.items()})
    return tuple(Condition(LOG_KEYS[t.key][0], t.op, t.values) for t in terms)  # type: ignore[arg-type]


def _log_sort() -> tuple[tuple[str, bool], ...]:
    keys = parse_sort(request.args.get("sort"), LOG_SORTS)
    sort = tuple((LOG_SORTS[k.key], k.descending) for k in keys)
    return (*sort, ("id", True)) if sort else (("occurred_at", True), ("id", True))


def _log(record: Any) -> dict[str, Any]:
    """Harbor's AuditLog."""
    return {
        "id": record.id,
        "username": record.username,
        "resource": record.resource,
        "resource_type": record.resource_type,
        "operation": record.operation,
        "op_time": api_time(record.occurred_at),
    }


def _registry() -> Registry:
    registry: Registry = current_app.extensions["registry"]
    return registry
