"""Artifacts: /api/v2.0/projects/{project_name}/repositories/{repository_name}/artifacts.

repository_name is the part after the project, URL-encoded; Harbor's clients encode it twice
(a/b -> a%252Fb), so it is decoded once more here, which leaves a single-encoded name alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import unquote

from quart import Response, request

from access.errors import AuthenticationFailed, Forbidden
from access.policy import project_access
from access.roles import Permission
from core import artifacts
from core.artifacts import ArtifactInfo, RepositoryRef
from web.api import api
from web.api.common import (
    BadRequest,
    NotFound,
    current_identity,
    json_response,
    paged_response,
    paging,
)

BASE = "/projects/<project_name>/repositories/<path:repository_name>/artifacts"


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


async def _repository(project: str, encoded_name: str) -> RepositoryRef:
    """The repository, if the caller may pull from it; a hidden project is reported missing."""
    identity = await current_identity()
    access = await project_access(identity, project)
    if access is None or Permission.PROJECT_READ not in access.permissions:
        raise NotFound(f"project {project} not found")
    if Permission.REPOSITORY_PULL not in access.permissions:
        if identity.anonymous:
            raise AuthenticationFailed("sign in first")
        raise Forbidden(f"the role does not allow repository:pull in project {project}")
    name = f"{project}/{unquote(encoded_name)}"
    repo = await artifacts.find_repository(name)
    if repo is None:
        raise NotFound(f"repository {name} not found")
    return repo


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
        "pull_time": None,
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
