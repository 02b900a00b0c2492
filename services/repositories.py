"""Repositories through the REST API: change one's description, and copy an artifact into
one from another repository (Harbor's CopyArtifact) without the bytes being sent again.

A copy goes the way a push goes: each blob is mounted into the target (BlobStore.mount, as
a cross-repository mount does), each child of an index is copied first, and the manifest is
stored by ManifestStore.put, the distribution API's PUT. So whatever acts on a push (the
push pipeline, quotas, tag immutability, its audit row and PUSH_ARTIFACT webhook events)
acts on a copy, and a copy refused there is recorded as the failed push it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from access.errors import InvalidInput, NotFound
from access.policy import Identity, project_access
from access.roles import Permission
from core import artifacts, audit, events, repositories
from core.blobs import BlobStore
from core.digests import is_digest
from core.errors import ManifestBlobUnknown, ManifestUnknown
from core.manifests import parse_manifest
from core.names import MAX_PUSH_TAGS, validate_name, validate_tag
from core.registry import ManifestStore, StoredManifest
from models.errors import BerthError
from services.artifacts import RepositoryPath, target
from services.attempts import Call, attempt
from services.rights import require

MAX_DEPTH = 4  # an index of indexes of ... : deeper than any client makes


async def update_description(call: Call, path: RepositoryPath) -> None:
    """Set the repository's description (Repository.description of the body)."""
    event = audit.Event(audit.UPDATE, audit.REPOSITORY, path.name, path.project)
    async with attempt(call, event) as op:
        repo = await target(op.caller, path, Permission.REPOSITORY_UPDATE, event)
        description = (await op.body()).get("description") or ""  # null clears it
        if not isinstance(description, str):
            raise InvalidInput("description must be a string")
        before = await repositories.set_description(repo.id, description)
        event.description = audit.changes({"description": before}, {"description": description})
        await events.emit(op.tx, event)


@dataclass(frozen=True, slots=True)
class CopySource:
    """`from` of a copy: project/repository@digest or project/repository:tag."""

    repository: str
    reference: str

    @property
    def project(self) -> str:
        return self.repository.split("/", 1)[0]


def copy_source(text: str | None) -> CopySource:
    """Parse `from`; InvalidInput naming it when it is no repository with a reference."""
    if not text:
        raise InvalidInput("from is required: project/repository@digest or :tag")
    if "@" in text:
        name, _, reference = text.partition("@")
        if not is_digest(reference):
            raise InvalidInput(f"from: {reference[:80]!r} is not a digest")
    else:
        name, sep, reference = text.rpartition(":")
        if not sep or "/" in reference:
            raise InvalidInput("from must be project/repository@digest or project/repository:tag")
        _check(validate_tag, reference)
    _check(validate_name, name)
    if "/" not in name:
        raise InvalidInput("from: the repository must be named with its project")
    return CopySource(name, reference)


def _check(validate: object, value: str) -> None:
    try:
        validate(value)  # type: ignore[operator]
    except BerthError as exc:
        raise InvalidInput(f"from: {exc}") from None


async def copy_artifact(
    call: Call,
    target: RepositoryPath,
    source: CopySource,
    blobs: BlobStore,
    manifests: ManifestStore,
) -> str:
    """Copy the artifact `source` names, with its tags, into the target repository; its
    digest. Needs pull on the source and push on the target (whose project must exist)."""
    resource = f"{target.name}@{source.reference}"
    event = audit.Event(audit.CREATE, audit.ARTIFACT, resource, target.project, host=call.host)
    try:
        caller = await call.caller()
        access = await project_access(caller, target.project)
        if access is not None:
            event.project_id = access.project_id
        require(caller, access, target.project, Permission.REPOSITORY_PUSH)
        require(
            caller,
            await project_access(caller, source.project),
            source.project,
            Permission.REPOSITORY_PULL,
        )
        stored = await _source_manifest(manifests, source)
    except BerthError as exc:
        await audit.record_failure(event, exc)
        raise
    tags = await _tags_of(source.repository, stored.digest)
    copier = _Copier(caller, target, source.repository, blobs, manifests, call.host, event)
    await copier.copy(stored, tags, 0)
    return stored.digest


async def _source_manifest(manifests: ManifestStore, source: CopySource) -> StoredManifest:
    try:
        return await manifests.get(source.repository, source.reference)
    except ManifestUnknown:
        raise NotFound(f"artifact {source.repository}:{source.reference} not found") from None
    except BerthError as exc:  # NameUnknown: no such repository
        raise NotFound(f"repository {source.repository} not found") from exc


async def _tags_of(repository: str, digest: str) -> list[str]:
    repo = await artifacts.find_repository(repository)
    found = await artifacts.get_artifact(repo, digest, True) if repo else None
    # a PUT takes at most MAX_PUSH_TAGS tag parameters: the first of them, by name
    return [t.name for t in (found.tags or [])][:MAX_PUSH_TAGS] if found else []


@dataclass(frozen=True, slots=True)
class _Copier:
    caller: Identity
    target: RepositoryPath
    source: str
    blobs: BlobStore
    manifests: ManifestStore
    host: str | None
    event: audit.Event  # the copy's, for a failure before the push path records its own

    async def copy(self, stored: StoredManifest, tags: list[str], depth: int) -> None:
        """Children first, then the blobs, then the manifest itself (with tags, at the top)."""
        if depth > MAX_DEPTH:
            raise InvalidInput(f"the index nests deeper than {MAX_DEPTH} levels")
        parsed = parse_manifest(stored.content, stored.media_type)
        for child in parsed.children:
            try:
                found = await self.manifests.get(self.source, child.digest)
            except ManifestUnknown:
                continue  # a sparse index's absent child: the target's own rule decides
            await self.copy(found, [], depth + 1)
        for blob in parsed.blobs:
            if not await self.blobs.mount(
                self.target.name, self.target.project, blob.digest, self.source
            ):  # collected meanwhile: the copy fails as the push would
                gone = ManifestBlobUnknown(blob.digest)
                await audit.record_failure(self.event, gone)
                raise gone
        await self.manifests.put(
            self.target.name,
            self.target.project,
            stored.digest,
            stored.content,
            stored.media_type,
            self.caller.username,
            self.host,
            tags,
        )
