"""Repositories and artifacts: /api/v2.0/projects/{project_name}/repositories/{repository_name}
and its /artifacts: listing and reading them, deleting them, and adding or removing tags.

repository_name is the part after the project, URL-encoded; Harbor's clients encode it twice
(a/b -> a%252Fb), so it is decoded once more here, which leaves a single-encoded name alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from quart import Response, request

import services.artifacts
from access.policy import project_access
from access.roles import Permission
from core import artifacts, content_trust, icons, immutability, labels
from core.artifacts import ArtifactInfo, RepositoryRef
from models import Label
from models.errors import NotFound
from services.artifacts import RepositoryPath
from services.rights import require
from web.api import api
from web.api.calls import api_call
from web.api.common import (
    created,
    current_identity,
    json_response,
    paged_response,
    paging,
    wake_jobs,
)
from web.api.labels import render_label
from web.api.openapi import operation
from web.api.schemas.artifacts import Artifact, ArtifactListQuery, ArtifactQuery, TagReq
from web.params import api_time, bool_arg

REPOSITORY = "/projects/<project_name>/repositories/<path:repository_name>"
BASE = f"{REPOSITORY}/artifacts"


@api.route(BASE, methods=["GET"])
@operation("listArtifacts", "artifact", query=ArtifactListQuery, responses={200: list[Artifact]})
async def list_artifacts(project_name: str, repository_name: str) -> Response:
    repo = await _repository(project_name, repository_name)
    pages, with_tag = paging(), bool_arg("with_tag", True)
    items, total = await artifacts.list_artifacts(repo, pages.offset, pages.page_size, with_tag)
    return paged_response(await render_artifacts(items, with_tag), total, pages)


@api.route(f"{BASE}/<reference>", methods=["GET"])
@operation("getArtifact", "artifact", query=ArtifactQuery, responses={200: Artifact})
async def get_artifact(project_name: str, repository_name: str, reference: str) -> Response:
    repo = await _repository(project_name, repository_name)
    with_tag = bool_arg("with_tag", True)
    found = await artifacts.get_artifact(repo, unquote(reference), with_tag)
    rendered = await render_artifacts([found], with_tag) if found is not None else []
    if not rendered:  # none, or its repository deleted since it was looked up
        raise NotFound(f"artifact {reference} not found")
    return json_response(rendered[0])


@api.route(REPOSITORY, methods=["DELETE"])
@operation("deleteRepository", "repository", responses={200: None})
async def delete_repository(project_name: str, repository_name: str) -> Response:
    path = _path(project_name, repository_name)
    wake_jobs(await services.artifacts.delete_repository(await api_call(), path))
    return Response("", status=200)


@api.route(f"{BASE}/<reference>", methods=["DELETE"])
@operation("deleteArtifact", "artifact", responses={200: None})
async def delete_artifact(project_name: str, repository_name: str, reference: str) -> Response:
    path, ref = _path(project_name, repository_name), unquote(reference)
    wake_jobs(await services.artifacts.delete_artifact(await api_call(), path, ref))
    return Response("", status=200)


@api.route(f"{BASE}/<reference>/tags", methods=["POST"])
@operation("createTag", "artifact", body=TagReq, responses={201: None})
async def create_tag(project_name: str, repository_name: str, reference: str) -> Response:
    path, ref = _path(project_name, repository_name), unquote(reference)
    tag = await services.artifacts.create_tag(await api_call(), path, ref)
    return created(f"{request.path.rstrip('/')}/{tag}")


@api.route(f"{BASE}/<reference>/tags/<tag_name>", methods=["DELETE"])
@operation("deleteTag", "artifact", responses={200: None})
async def delete_tag(
    project_name: str, repository_name: str, reference: str, tag_name: str
) -> Response:
    path, ref = _path(project_name, repository_name), unquote(reference)
    await services.artifacts.delete_tag(await api_call(), path, ref, tag_name)
    return Response("", status=200)


async def _repository(project: str, encoded_name: str) -> RepositoryRef:
    """The repository, if the caller may pull from it; a hidden project is reported missing."""
    identity = await current_identity()
    require(identity, await project_access(identity, project), project, Permission.REPOSITORY_PULL)
    name = _full_name(project, encoded_name)
    repo = await artifacts.find_repository(name)
    if repo is None:
        raise NotFound(f"repository {name} not found")
    return repo


async def _signed_tags(project: str, encoded_name: str, with_tag: bool) -> dict[str, str]:
    """The tags Docker Content Trust signs, for each tag's `signed`. Harbor computes it only
    for with_signature=true; one indexed read, so Berth always tells the truth (the
    parameter is still checked, as Harbor takes it)."""
    bool_arg("with_signature", False)
    return await content_trust.signed_tags(_full_name(project, encoded_name)) if with_tag else {}


async def render_artifacts(items: list[ArtifactInfo], with_tag: bool) -> list[dict[str, Any]]:
    """Harbor's Artifacts, of one repository or of several (a project's listing, Harbor's
    listArtifactsOfProject), in the order given; each repository's trust data, labels and
    immutability rules read once."""
    bool_arg("with_signature", False)
    names = await artifacts.repository_names({a.repository_id for a in items})
    rendered: dict[int, dict[str, Any]] = {}
    for repo_id, name in names.items():
        group = [a for a in items if a.repository_id == repo_id]
        repo = RepositoryRef(repo_id, group[0].project_id)
        signed = await content_trust.signed_tags(name) if with_tag else {}
        extra = await _extras(repo, name, group)
        rendered.update({a.id: _render(a, signed, extra) for a in group})
    return [rendered[a.id] for a in items if a.id in rendered]


@dataclass(frozen=True, slots=True)
class _Extras:
    """What a render adds from other tables: labels (with_label) and immutable tags."""

    labels: dict[int, list[Label]] | None
    immutable: set[str]


async def _extras(repo: RepositoryRef, name: str, items: list[ArtifactInfo]) -> _Extras:
    """Labels only for with_label=true, as Harbor; a tag's `immutable` always (one read of
    the project's rules; with_immutable_status is still checked, as Harbor takes it)."""
    bool_arg("with_immutable_status", False)
    found = await labels.labels_of([a.id for a in items]) if bool_arg("with_label", False) else None
    tags = [t.name for a in items for t in a.tags or []]
    return _Extras(found, await immutability.immutable_tags(repo.project_id, name, tags))


def _full_name(project: str, encoded_name: str) -> str:
    return f"{project}/{unquote(encoded_name)}"


def _path(project: str, encoded_name: str) -> RepositoryPath:
    return RepositoryPath(project, _full_name(project, encoded_name))


def _render(item: ArtifactInfo, signed: dict[str, str], extra: _Extras) -> dict[str, Any]:
    rendered = {
        "id": item.id,
        "type": item.type,
        "media_type": item.media_type,
        "manifest_media_type": item.manifest_media_type,
        "project_id": item.project_id,
        "repository_id": item.repository_id,
        "digest": item.digest,
        "size": item.size,
        "push_time": api_time(item.push_time),
        "pull_time": api_time(item.pull_time),
        "tags": None
        if item.tags is None
        else [_tag(item, t, signed, t.name in extra.immutable) for t in item.tags],
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
        "icon": icons.icon_digest(item.type),
        "verification": {
            "status": item.verification,
            "reason": item.verification_reason,
            "verified_at": api_time(item.verified_at),
        },
    }
    if extra.labels is not None:
        rendered["labels"] = [render_label(x) for x in extra.labels.get(item.id, [])]
    return rendered


def _tag(
    item: ArtifactInfo, tag: artifacts.TagInfo, signed: dict[str, str], immutable: bool
) -> dict[str, Any]:
    return {
        "id": tag.id,
        "name": tag.name,
        "push_time": api_time(tag.push_time),
        "immutable": immutable,
        # with this very manifest (trust data names its sha256), unexpired
        "signed": signed.get(tag.name) in (item.digest, item.sha256),
        "repository_id": item.repository_id,
        "artifact_id": item.id,
    }
