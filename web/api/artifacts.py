"""Repositories and artifacts: /api/v2.0/projects/{project_name}/repositories/{repository_name}
and its /artifacts: listing and reading them, deleting them, and adding or removing tags.

repository_name is the part after the project, URL-encoded; Harbor's clients encode it twice
(a/b -> a%252Fb), so it is decoded once more here, which leaves a single-encoded name alone.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from quart import Response, request

import services.artifacts
from access.policy import project_access
from access.roles import Permission
from core import artifacts, content_trust, icons
from core.artifacts import ArtifactInfo, RepositoryRef
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
    if found is None:
        raise NotFound(f"artifact {reference} not found")
    return json_response((await render_artifacts([found], with_tag))[0])


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


async def render_artifacts(items: list[ArtifactInfo], with_tag: bool) -> list[dict[str, Any]]:
    """Harbor's Artifacts, of one repository or of several (a project's listing), with what
    with_signature, with_label and with_immutable_status ask for (each parameter checked)."""
    bool_arg("with_signature", False)
    with_label = bool_arg("with_label", False)
    bool_arg("with_immutable_status", False)
    names = await artifacts.repository_names({a.repository_id for a in items})
    labels = await artifact_labels([a.id for a in items]) if with_label else {}
    signed_in: dict[str, dict[str, str]] = {}  # each repository's trust data, read once
    out = []
    for item in items:
        name = names.get(item.repository_id, "")
        if with_tag and item.tags and name not in signed_in:
            signed_in[name] = await content_trust.signed_tags(name)
        signed = signed_in.get(name, {})
        tags = [t.name for t in item.tags or []]
        locked = await immutable_tags(name, tags) if tags else set()
        out.append(_render(item, signed, locked, labels.get(item.id, [])))
    return out


# The two hooks of the labels and tag immutability features: what an artifact's `labels`
# and a tag's `immutable` say is decided here and nowhere else.


async def artifact_labels(artifact_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The labels (Harbor's Label) on each artifact, by artifact id: none until labels
    exist."""
    return {}


async def immutable_tags(repository: str, tags: list[str]) -> set[str]:
    """Those of the repository's tags that tag immutability rules protect: none until the
    rules exist."""
    return set()


async def _signed_tags(project: str, encoded_name: str, with_tag: bool) -> dict[str, str]:
    """The tags Docker Content Trust signs, for each tag's `signed`. Harbor computes it only
    for with_signature=true; one indexed read, so Berth always tells the truth (the
    parameter is still checked, as Harbor takes it)."""
    bool_arg("with_signature", False)
    return await content_trust.signed_tags(_full_name(project, encoded_name)) if with_tag else {}


def _full_name(project: str, encoded_name: str) -> str:
    return f"{project}/{unquote(encoded_name)}"


def _path(project: str, encoded_name: str) -> RepositoryPath:
    return RepositoryPath(project, _full_name(project, encoded_name))


def _render(
    item: ArtifactInfo,
    signed: dict[str, str],
    locked: set[str] = frozenset(),  # type: ignore[assignment]
    labels: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
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
        "tags": None if item.tags is None else [_tag(item, t, signed, locked) for t in item.tags],
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
        "labels": labels or [],
        "verification": {
            "status": item.verification,
            "reason": item.verification_reason,
            "verified_at": api_time(item.verified_at),
        },
    }


def _tag(
    item: ArtifactInfo, tag: artifacts.TagInfo, signed: dict[str, str], locked: set[str]
) -> dict[str, Any]:
    return {
        "id": tag.id,
        "name": tag.name,
        "push_time": api_time(tag.push_time),
        "immutable": tag.name in locked,
        # with this very manifest (trust data names its sha256), unexpired
        "signed": signed.get(tag.name) in (item.digest, item.sha256),
        "repository_id": item.repository_id,
        "artifact_id": item.id,
    }
