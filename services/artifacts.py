"""Repositories and artifacts through the REST API: delete a repository or an artifact,
add or remove a tag. The distribution API's deletes share `core.artifacts.delete_artifact`,
so an artifact's deletion and its events are the same whichever API asked."""

from __future__ import annotations

from dataclasses import dataclass

from access.errors import AlreadyExists, InvalidInput, NotFound
from access.policy import Identity, project_access
from access.roles import Permission
from core import artifacts, audit, content_trust, events, immutability
from core.artifacts import ArtifactRef, RepositoryRef
from core.digests import is_digest
from core.errors import TagInvalid
from core.names import validate_tag
from services.attempts import Call, attempt
from services.rights import require


@dataclass(frozen=True, slots=True)
class RepositoryPath:
    """A repository as a REST path names it: its project and its full name."""

    project: str
    name: str


async def delete_repository(call: Call, path: RepositoryPath) -> int:
    """Delete the repository with its artifacts and tags; the number of webhook events.
    Refused (SignedInNotary) while Docker Content Trust data signs a tag of one of them."""
    event = audit.Event(audit.DELETE, audit.REPOSITORY, path.name, path.project, host=call.host)
    async with attempt(call, event) as op:
        repo = await target(op.caller, path, Permission.REPOSITORY_DELETE, event)
        await content_trust.refuse_repository_delete(path.name, repo.id)
        await immutability.refuse_repository_delete(repo.project_id, path.name, repo.id)
        return await artifacts.delete_repository(op.tx, event, repo)


async def delete_artifact(call: Call, path: RepositoryPath, reference: str) -> int:
    """Delete the artifact a digest or tag names, with every tag on it; the number of
    webhook events. Refused (SignedInNotary) while a tag content trust signs names it."""
    resource = f"{path.name}@{reference}" if is_digest(reference) else f"{path.name}:{reference}"
    event = audit.Event(audit.DELETE, audit.ARTIFACT, resource, path.project, host=call.host)
    async with attempt(call, event) as op:
        repo = await target(op.caller, path, Permission.ARTIFACT_DELETE, event)
        found = await _artifact(repo, reference)
        await content_trust.refuse_artifact_delete(path.name, found.digest)
        return await artifacts.delete_artifact(op.tx, event, repo.id, path.name, found.digest)


async def create_tag(call: Call, path: RepositoryPath, reference: str) -> str:
    """Tag the artifact with the body's name; the tag."""
    event = audit.Event(audit.CREATE, audit.TAG, path.name, path.project)
    async with attempt(call, event) as op:
        repo = await target(op.caller, path, Permission.TAG_CREATE, event)
        tag = tag_name((await op.body()).get("name"))
        event.resource = f"{path.name}:{tag}"
        found = await _artifact(repo, reference)
        event.description = f"on {found.digest}"
        if not await artifacts.create_tag(repo, found, tag):
            raise AlreadyExists(f"the tag {tag} already exists in {path.name}")
        await events.emit(op.tx, event)
    return tag


async def delete_tag(call: Call, path: RepositoryPath, reference: str, tag: str) -> None:
    """Remove the tag from the artifact; the artifact stays. Refused (SignedInNotary) while
    content trust data signs the tag with the artifact's digest."""
    event = audit.Event(audit.DELETE, audit.TAG, f"{path.name}:{tag}", path.project)
    async with attempt(call, event) as op:
        repo = await target(op.caller, path, Permission.TAG_DELETE, event)
        found = await _artifact(repo, reference)
        event.description = f"from {found.digest}"
        await content_trust.refuse_tag_delete(path.name, tag)
        await immutability.refuse_tag_delete(repo.project_id, path.name, tag)
        if not await artifacts.delete_tag(repo, found, tag):
            raise NotFound(f"the artifact {reference} has no tag {tag}")
        await events.emit(op.tx, event)


def tag_name(name: object) -> str:
    if not isinstance(name, str):
        raise InvalidInput("name is required")
    try:
        return validate_tag(name)
    except TagInvalid:
        raise InvalidInput(
            f"invalid tag name {name[:64]!r}: [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}"
        ) from None


async def target(
    identity: Identity, path: RepositoryPath, permission: Permission, event: audit.Event
) -> RepositoryRef:
    """The repository a change names, if the caller holds permission there. The event learns
    the project's id first, so that a refused attempt is filed under its project."""
    access = await project_access(identity, path.project)
    if access is not None:
        event.project_id = access.project_id
    require(identity, access, path.project, permission)
    repo = await artifacts.repository_ref(path.name)
    if repo is None:
        raise NotFound(f"repository {path.name} not found")
    return repo


async def _artifact(repo: RepositoryRef, reference: str) -> ArtifactRef:
    found = await artifacts.artifact_ref(repo, reference)
    if found is None:
        raise NotFound(f"artifact {reference} not found")
    return found
