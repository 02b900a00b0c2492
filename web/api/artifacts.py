"""Repositories and artifacts: /api/v2.0/projects/{project_name}/repositories/{repository_name}
and its /artifacts: listing and reading them, deleting them, and adding or removing tags.

repository_name is the part after the project, URL-encoded; Harbor's clients encode it twice
(a/b -> a%252Fb), so it is decoded once more here, which leaves a single-encoded name alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import unquote

from quart import Response, current_app, request

from access.errors import AuthenticationFailed, Forbidden
from access.policy import Identity, ProjectAccess, project_access
from access.roles import Permission
from core import artifacts, audit
from core.artifacts import ArtifactInfo, ArtifactRef, RepositoryRef
from core.digests import is_digest
from core.errors import TagInvalid
from core.names import validate_tag
from web.api import api
from web.api.common import (
    BadRequest,
    Conflict,
    NotFound,
    created,
    current_identity,
    json_body,
    json_response,
    paged_response,
    paging,
)
from web.api.recording import recorded

REPOSITORY = "/projects/<project_name>/repositories/<path:repository_name>"
BASE = f"{REPOSITORY}/artifacts"


@api.route(BASE, methods=["GET"])
async def list_artifacts(project_name: str, repository_name: str) -> Response:
    repo = await _repository(project_name, repository_name)
    pages = paging()
    items, total = await artifacts.list_artifacts(
        repo, pages.offset, pages.page_size, _flag("with_tag", True)
    )
    return paged_response([_render(a) for a in items], total, pages)


@api.route(f"{BASE}/<reference>", methods=["GET"])
async def get_artifact(project_name: str, repository_name: str, reference: str) -> Response:
    repo = await _repository(project_name, repository_name)
    found = await artifacts.get_artifact(repo, unquote(reference), _flag("with_tag", True))
    if found is None:
        raise NotFound(f"artifact {reference} not found")
    return json_response(_render(found))


@api.route(REPOSITORY, methods=["DELETE"])
async def delete_repository(project_name: str, repository_name: str) -> Response:
    name = _full_name(project_name, repository_name)
    async with recorded(audit.DELETE, audit.REPOSITORY, name, project=project_name) as event:
        repo = await _target(project_name, name, Permission.REPOSITORY_DELETE, event)
        operator = await _operator()
        events = await artifacts.delete_repository(repo, name, operator, request.host)
    _wake_jobs(events)
    return Response("", status=200)


@api.route(f"{BASE}/<reference>", methods=["DELETE"])
async def delete_artifact(project_name: str, repository_name: str, reference: str) -> Response:
    name, ref = _full_name(project_name, repository_name), unquote(reference)
    resource = f"{name}@{ref}" if is_digest(ref) else f"{name}:{ref}"
    async with recorded(audit.DELETE, audit.ARTIFACT, resource, project=project_name) as event:
        # ManifestStore.delete records the deletion in its own transaction; this block
        # records only a refused attempt.
        event.skip = True
        repo = await _target(project_name, name, Permission.ARTIFACT_DELETE, event)
        found = await _artifact(repo, ref)
    manifests = current_app.extensions["registry"].manifests
    _wake_jobs(await manifests.delete(name, found.digest, await _operator(), request.host))
    return Response("", status=200)


@api.route(f"{BASE}/<reference>/tags", methods=["POST"])
async def create_tag(project_name: str, repository_name: str, reference: str) -> Response:
    name, ref = _full_name(project_name, repository_name), unquote(reference)
    async with recorded(audit.CREATE, audit.TAG, name, project=project_name) as event:
        repo = await _target(project_name, name, Permission.TAG_CREATE, event)
        tag = _tag_name(await json_body())
        event.resource = f"{name}:{tag}"
        found = await _artifact(repo, ref)
        event.description = f"on {found.digest}"
        if not await artifacts.create_tag(repo, found, tag):
            raise Conflict(f"the tag {tag} already exists in {name}")
    return created(f"{request.path.rstrip('/')}/{tag}")


@api.route(f"{BASE}/<reference>/tags/<tag_name>", methods=["DELETE"])
async def delete_tag(
    project_name: str, repository_name: str, reference: str, tag_name: str
) -> Response:
    name, ref = _full_name(project_name, repository_name), unquote(reference)
    resource = f"{name}:{tag_name}"
    async with recorded(audit.DELETE, audit.TAG, resource, project=project_name) as event:
        repo = await _target(project_name, name, Permission.TAG_DELETE, event)
        found = await _artifact(repo, ref)
        event.description = f"from {found.digest}"
        if not await artifacts.delete_tag(repo, found, tag_name):
            raise NotFound(f"the artifact {ref} has no tag {tag_name}")
    return Response("", status=200)


async def _repository(project: str, encoded_name: str) -> RepositoryRef:
    """The repository, if the caller may pull from it; a hidden project is reported missing."""
    identity = await current_identity()
    _check(identity, await project_access(identity, project), project, Permission.REPOSITORY_PULL)
    name = _full_name(project, encoded_name)
    repo = await artifacts.find_repository(name)
    if repo is None:
        raise NotFound(f"repository {name} not found")
    return repo


async def _target(
    project: str, name: str, permission: Permission, event: audit.Event
) -> RepositoryRef:
    """The repository a change names, if the caller holds permission there. The event learns
    the project's id first, so that a refused attempt is filed under its project."""
    identity = await current_identity()
    access = await project_access(identity, project)
    if access is not None:
        event.project_id = access.project_id
    _check(identity, access, project, permission)
    repo = await artifacts.repository_ref(name)
    if repo is None:
        raise NotFound(f"repository {name} not found")
    return repo


def _check(
    identity: Identity, access: ProjectAccess | None, project: str, permission: Permission
) -> None:
    """404 for a project the caller may not see, 401 / 403 for a right the caller lacks."""
    if access is None or Permission.PROJECT_READ not in access.permissions:
        raise NotFound(f"project {project} not found")
    if permission not in access.permissions:
        if identity.anonymous:
            raise AuthenticationFailed("sign in first")
        raise Forbidden(f"the role does not allow {permission.value} in project {project}")


async def _artifact(repo: RepositoryRef, reference: str) -> ArtifactRef:
    found = await artifacts.artifact_ref(repo, reference)
    if found is None:
        raise NotFound(f"artifact {reference} not found")
    return found


def _full_name(project: str, encoded_name: str) -> str:
    return f"{project}/{unquote(encoded_name)}"


def _tag_name(body: dict[str, Any]) -> str:
    name = body.get("name")
    if not isinstance(name, str):
        raise BadRequest("name is required")
    try:
        return validate_tag(name)
    except TagInvalid:
        raise BadRequest(
            f"invalid tag name {name[:64]!r}: [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}"
        ) from None


async def _operator() -> str:
    """Who webhook events name as the operator."""
    return (await current_identity()).username or ""


def _wake_jobs(enqueued: int | bool) -> None:
    """A commit enqueued jobs (webhook deliveries): dispatch them now, not at the next tick."""
    jobs = current_app.extensions.get("jobs")
    if enqueued and jobs is not None:
        jobs.wake()


def _flag(name: str, default: bool) -> bool:
    value = request.args.get(name)
    if value is None:
        return default
    if value.lower() not in ("true", "false"):
        raise BadRequest(f'{name} must be "true" or "false"')
    return value.lower() == "true"


def _render(item: ArtifactInfo) -> dict[str, Any]:
    return {
        "id": item.id,
        "type": item.type,
        "media_type": item.media_type,
        "manifest_media_type": item.manifest_media_type,
        "project_id": item.project_id,
        "repository_id": item.repository_id,
        "digest": item.digest,
        "size": item.size,
        "push_time": _time(item.push_time),
        "pull_time": _time(item.pull_time),
        "tags": None if item.tags is None else [_tag(item, t) for t in item.tags],
        "references": [
            {
                "parent_id": item.id,
                "child_id": child.child_id,
                "child_digest": child.digest,
                "platform": child.platform,
                "annotations": child.annotations,
            }
            for child in item.references
        ],
        "verification": {
            "status": item.verification,
            "reason": item.verification_reason,
            "verified_at": _time(item.verified_at),
        },
    }


def _tag(item: ArtifactInfo, tag: artifacts.TagInfo) -> dict[str, Any]:
    return {
        "id": tag.id,
        "name": tag.name,
        "push_time": _time(tag.push_time),
        "immutable": False,
        "repository_id": item.repository_id,
        "artifact_id": item.id,
    }


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")
