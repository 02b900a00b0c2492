"""Repositories (Harbor's Repository): /api/v2.0/repositories, a project's repositories, one
of them and its description; and, under its artifacts, copying one in, an artifact's tags
and its additions.

Repository names arrive as in web/api/artifacts.py (decoded once more, for a%252Fb).
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import unquote

from quart import Response, current_app, request

import services.repositories
from access.policy import project_access, visible_project_ids
from access.roles import Permission
from core import additions, artifacts, icons, immutability, repositories
from core.repositories import Listing, RepositoryInfo
from core.service import Registry
from models.errors import NotFound
from services.rights import require
from web.api import api
from web.api.artifacts import (
    BASE,
    REPOSITORY,
    _full_name,
    _path,
    _repository,
    _signed_tags,
)
from web.api.calls import api_call
from web.api.common import (
    created,
    current_identity,
    json_response,
    paged_response,
    paging,
    wake_jobs,
)
from web.api.openapi import Content, operation
from web.api.query import (
    KeyParsers,
    as_row_id,
    parse_query,
    parse_sort,
    tortoise_filters,
    tortoise_order,
)
from web.api.schemas.common import ListQuery
from web.api.schemas.repositories import (
    CopyQuery,
    Icon,
    Repository,
    RepositoryUpdate,
    TagItem,
    TagListQuery,
)
from web.params import api_time, arg, bool_arg

QUERY_KEYS: KeyParsers = {"name": str, "id": as_row_id, "project_id": as_row_id}
SORT_KEYS = {"name", "id", "creation_time"}
COLUMNS = {"creation_time": "created_at"}
TAG_QUERY_KEYS: KeyParsers = {"name": str, "id": as_row_id}
TAG_SORT_KEYS = {"name", "id", "push_time"}
TAG_COLUMNS = {"push_time": "updated_at"}
# build_history and dependencies are JSON lists; values.yaml and readme.md text
ADDITION = Content(
    {
        "application/json": list[dict[str, Any]],
        "text/plain": str,
        "text/markdown": str,
    }
)


@api.route("/repositories", methods=["GET"])
@operation("listAllRepositories", "repository", query=ListQuery, responses={200: list[Repository]})
async def list_all_repositories() -> Response:
    visible = await visible_project_ids(await current_identity())
    return await _page(visible)


@api.route("/projects/<project_name>/repositories", methods=["GET"])
@operation("listRepositories", "repository", query=ListQuery, responses={200: list[Repository]})
async def list_repositories(project_name: str) -> Response:
    identity = await current_identity()
    access = require(
        identity, await project_access(identity, project_name), project_name,
        Permission.REPOSITORY_LIST,
    )  # fmt: skip
    return await _page({access.project_id})


@api.route(REPOSITORY, methods=["GET"])
@operation("getRepository", "repository", responses={200: Repository})
async def get_repository(project_name: str, repository_name: str) -> Response:
    await _repository(project_name, repository_name)
    found = await repositories.get_repository(_full_name(project_name, repository_name))
    return json_response(_render(found))


@api.route(REPOSITORY, methods=["PUT"])
@operation("updateRepository", "repository", body=RepositoryUpdate)
async def update_repository(project_name: str, repository_name: str) -> Response:
    path = _path(project_name, repository_name)
    await services.repositories.update_description(await api_call(), path)
    return Response("", status=200)


@api.route(BASE, methods=["POST"])
@operation("CopyArtifact", "artifact", query=CopyQuery, responses={201: None})
async def copy_artifact(project_name: str, repository_name: str) -> Response:
    source = services.repositories.copy_source(arg("from"))
    registry = _registry()
    digest = await services.repositories.copy_artifact(
        await api_call(), _path(project_name, repository_name), source,
        registry.blobs, registry.manifests,
    )  # fmt: skip
    wake_jobs(True)  # the copy's push pipeline run, as after a push
    return created(f"{request.path.rstrip('/')}/{digest}")


@api.route(f"{BASE}/<reference>/tags", methods=["GET"])
@operation("listTags", "artifact", query=TagListQuery, responses={200: list[TagItem]})
async def list_tags(project_name: str, repository_name: str, reference: str) -> Response:
    repo = await _repository(project_name, repository_name)
    found = await artifacts.artifact_ref(repo, unquote(reference))
    if found is None:
        raise NotFound(f"artifact {reference} not found")
    terms = parse_query(request.args.get("q"), TAG_QUERY_KEYS)
    order = tortoise_order(parse_sort(request.args.get("sort"), TAG_SORT_KEYS), TAG_COLUMNS)
    bool_arg("with_immutable_status", False)
    pages = paging()
    rows, total = await artifacts.list_tags(
        repo, found.id, tortoise_filters(terms), order, pages.offset, pages.page_size
    )
    signed = await _signed_tags(project_name, repository_name, True)
    name = _full_name(project_name, repository_name)
    locked = await immutability.immutable_tags(repo.project_id, name, [t.name for t in rows])
    return paged_response([_tag(t, found.digest, signed, locked) for t in rows], total, pages)


@api.route(f"{BASE}/<reference>/additions/<addition>", methods=["GET"])
@operation("getAddition", "artifact", responses={200: ADDITION})
async def get_addition(
    project_name: str, repository_name: str, reference: str, addition: str
) -> Response:
    repo = await _repository(project_name, repository_name)
    found = await additions.addition(repo, unquote(reference), addition, _registry().blobs.read)
    return Response(found.body, status=200, content_type=found.content_type)


@api.route("/icons/<digest>", methods=["GET"])
@operation("getIcon", "icon", responses={200: Icon})
async def get_icon(digest: str) -> Response:
    found = icons.icon(digest)
    content = base64.b64encode(found.content).decode()
    return json_response({"content_type": found.content_type, "content": content})


async def _page(project_ids: set[int] | None) -> Response:
    terms = parse_query(request.args.get("q"), QUERY_KEYS)
    order = tortoise_order(parse_sort(request.args.get("sort"), SORT_KEYS), COLUMNS)
    pages = paging()
    listing = Listing(project_ids, tortoise_filters(terms), order)
    rows, total = await repositories.list_repositories(listing, pages.offset, pages.page_size)
    return paged_response([_render(r) for r in rows], total, pages)


def _render(repo: RepositoryInfo) -> dict[str, Any]:
    return {
        "id": repo.id,
        "project_id": repo.project_id,
        "name": repo.name,
        "description": repo.description,
        "artifact_count": repo.artifact_count,
        "pull_count": repo.pull_count,
        "creation_time": api_time(repo.created_at),
        "update_time": api_time(repo.updated_at),
    }


def _tag(
    tag: artifacts.TagRow, digest: str, signed: dict[str, str], locked: set[str]
) -> dict[str, Any]:
    return {
        "id": tag.id,
        "repository_id": tag.repository_id,
        "artifact_id": tag.artifact_id,
        "name": tag.name,
        "push_time": api_time(tag.push_time),
        "pull_time": api_time(tag.pull_time),
        "immutable": tag.name in locked,
        "signed": signed.get(tag.name) == digest,
    }


def _registry() -> Registry:
    registry: Registry = current_app.extensions["registry"]
    return registry
