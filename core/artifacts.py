"""Artifacts (manifests) of a repository as the REST API shows and changes them, and their
verification."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from core import audit, events, immutability, quotas, signatures
from core import mediatypes as mt
from core.digests import is_digest
from core.errors import ManifestUnknown
from core.manifest_digests import MANIFEST_ID, key_of
from models import (
    Blob,
    Manifest,
    ManifestDigest,
    ManifestPull,
    ManifestReference,
    Repository,
    Tag,
    fetch,
)

IMAGE_CONFIGS = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)
# Harbor's artifact types by config media type; anything else is UNKNOWN.
TYPES = {
    "application/vnd.cncf.helm.config.v1+json": "CHART",
    "application/vnd.cnab.manifest.v1": "CNAB",
    **{media_type: "IMAGE" for media_type in IMAGE_CONFIGS},
}


@dataclass(frozen=True, slots=True)
class VerifyTarget:
    id: int
    repository_id: int
    content: bytes


@dataclass(frozen=True, slots=True)
class TagInfo:
    id: int
    name: str
    push_time: datetime


@dataclass(frozen=True, slots=True)
class ChildInfo:
    digest: str
    child_id: int | None
    platform: dict[str, Any] | None
    annotations: dict[str, str] | None


@dataclass(slots=True)
class ArtifactInfo:
    id: int
    type: str
    media_type: str
    manifest_media_type: str
    project_id: int
    repository_id: int
    digest: str
    size: int
    push_time: datetime
    verification: str
    verification_reason: str | None
    verified_at: datetime | None
    tags: list[TagInfo] | None = None
    references: list[ChildInfo] = field(default_factory=list)
    pull_time: datetime | None = None  # the last pull (written by the pull log's flush)
    sha256: str = ""  # of its bytes: what Notary signs, whatever digest it was pushed under


@dataclass(frozen=True, slots=True)
class RepositoryRef:
    id: int
    project_id: int


# --- verification (the push pipeline and scrub) --------------------------------------------


async def manifest_for_verification(repository: str, digest: str) -> VerifyTarget | None:
    """The manifest's row id, repository id and bytes (by any of its digests); None when
    it is gone."""
    rows = await Manifest.filter(repository__name=repository, digests__digest=digest).values(
        "id", "repository_id", "content"
    )
    if not rows:
        return None
    row = rows[0]
    return VerifyTarget(int(row["id"]), int(row["repository_id"]), bytes(row["content"]))


async def record_verification(manifest_id: int, status: str, reason: str | None) -> None:
    """Store the outcome of a verification. Safe to repeat."""
    await Manifest.filter(id=manifest_id).update(
        verification=status, verification_reason=reason, verified_at=datetime.now(UTC)
    )


async def missing_manifests(repository_id: int, digests: list[str]) -> list[str]:
    """Those of digests that are not manifests of the repository (by any of their
    digests), in the given order."""
    present = set(
        await ManifestDigest.filter(repository_id=repository_id, digest__in=digests).values_list(
            "digest", flat=True
        )
    )
    return [d for d in digests if d not in present]


async def fail_manifests_naming(blob_digest: str, reason: str) -> int:
    """Mark every manifest that references the blob as failed; how many there were."""
    ids = await ManifestReference.filter(digest=blob_digest, kind="blob").values_list(
        "manifest_id", flat=True
    )
    if not ids:
        return 0
    return await Manifest.filter(id__in=list(ids)).update(
        verification="failed", verification_reason=reason, verified_at=datetime.now(UTC)
    )


async def stored_blobs(after: str, limit: int) -> list[tuple[str, int]]:
    """(digest, size) of live blobs past `after` in digest order: the scrub's next batch."""
    rows = (
        await Blob.filter(status="none", digest__gt=after)
        .order_by("digest")
        .limit(limit)
        .values_list("digest", "size")
    )
    return [(str(d), int(s)) for d, s in rows]


async def stored_bytes_total() -> int:
    sizes: list[Any] = await Blob.filter(status="none").values_list("size", flat=True)
    return sum(int(s) for s in sizes)


# --- the read side of the artifacts API ----------------------------------------------------


async def find_repository(name: str) -> RepositoryRef | None:
    rows = await Repository.filter(name=name).values("id", "project_id")
    return RepositoryRef(int(rows[0]["id"]), int(rows[0]["project_id"])) if rows else None


async def list_artifacts(
    repo: RepositoryRef, offset: int, limit: int, with_tag: bool
) -> tuple[list[ArtifactInfo], int]:
    """A page of the repository's artifacts, newest push first, and the total count."""
    query = Manifest.filter(repository_id=repo.id)
    total = await query.count()
    rows = await query.order_by("-created_at", "-id").offset(offset).limit(limit).values(*_FIELDS)
    return await _artifacts(repo, rows, with_tag), total


async def get_artifact(repo: RepositoryRef, reference: str, with_tag: bool) -> ArtifactInfo | None:
    """The artifact by any of its digests or a tag name; None when there is none."""
    if is_digest(reference):
        query = Manifest.filter(repository_id=repo.id, digests__digest=reference)
    else:
        query = Manifest.filter(repository_id=repo.id, tags__name=reference)
    rows = await query.limit(1).values(*_FIELDS)
    found = await _artifacts(repo, rows, with_tag)
    return found[0] if found else None


async def repository_names(ids: set[int]) -> dict[int, str]:
    """The full names of repositories by id."""
    rows = await Repository.filter(id__in=sorted(ids)).values_list("id", "name")
    return {int(i): str(n) for i, n in rows}


async def list_project_artifacts(
    project_id: int, filters: dict[str, Any], offset: int, limit: int, with_tag: bool
) -> tuple[list[ArtifactInfo], int]:
    """A page of the artifacts of every repository of the project, newest push first, and
    the total count (the project's own listing, Harbor's listArtifactsOfProject)."""
    query = Manifest.filter(repository__project_id=project_id, **filters)
    total = await query.count()
    rows = (
        await query.order_by("-created_at", "-id")
        .offset(offset)
        .limit(limit)
        .values("repository_id", *_FIELDS)
    )
    by_repository: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_repository.setdefault(int(row["repository_id"]), []).append(row)
    found: dict[int, ArtifactInfo] = {}
    for repo_id, group in by_repository.items():  # one batch of reads per repository
        for item in await _artifacts(RepositoryRef(repo_id, project_id), group, with_tag):
            found[item.id] = item
    return [found[int(row["id"])] for row in rows], total


@dataclass(frozen=True, slots=True)
class TagRow:
    """A tag as the tags API shows it (Harbor's Tag)."""

    id: int
    repository_id: int
    artifact_id: int
    name: str
    push_time: datetime
    pull_time: datetime | None


async def list_tags(
    repo: RepositoryRef,
    artifact_id: int,
    filters: dict[str, Any],
    order: list[str],
    offset: int,
    limit: int,
) -> tuple[list[TagRow], int]:
    """A page of the artifact's tags (by name unless order says otherwise), and the total."""
    query = Tag.filter(repository_id=repo.id, manifest_id=artifact_id, **filters)
    total = await query.count()
    rows = (
        await query.order_by(*(order or ["name"]), "id")
        .offset(offset)
        .limit(limit)
        .values_list("id", "name", "updated_at")
    )
    pulled = await ManifestPull.filter(manifest_id=artifact_id).values_list("pulled_at", flat=True)
    pull_time: datetime | None = pulled[0] if pulled else None  # type: ignore[assignment]
    return [
        TagRow(int(i), repo.id, artifact_id, str(n), when, pull_time) for i, n, when in rows
    ], total


_FIELDS = (
    "id",
    "digest",
    "media_type",
    "size",
    "content",
    "created_at",
    "verification",
    "verification_reason",
    "verified_at",
)


async def _artifacts(
    repo: RepositoryRef, rows: list[dict[str, Any]], with_tag: bool
) -> list[ArtifactInfo]:
    ids = [int(r["id"]) for r in rows]
    blob_sizes = await _blob_sizes(ids)
    tags = await _tags(ids) if with_tag else {}
    pulled = dict(
        await ManifestPull.filter(manifest_id__in=ids).values_list("manifest_id", "pulled_at")
    )
    items = []
    for row in rows:
        doc = _document(bytes(row["content"]))
        item = _artifact(repo, row, doc, int(row["size"]) + blob_sizes.get(int(row["id"]), 0))
        item.tags = tags.get(item.id, []) if with_tag else None
        item.pull_time = pulled.get(item.id)
        item.sha256 = key_of(bytes(row["content"]), item.digest)
        item.references = await _children(repo, doc) if row["media_type"] in mt.INDEXES else []
        items.append(item)
    return items


def _artifact(
    repo: RepositoryRef, row: dict[str, Any], doc: dict[str, Any], size: int
) -> ArtifactInfo:
    config = doc.get("config") if isinstance(doc.get("config"), dict) else {}
    config_type = str(config.get("mediaType") or "") if isinstance(config, dict) else ""
    manifest_type = str(row["media_type"])
    is_index = manifest_type in mt.INDEXES
    return ArtifactInfo(
        id=int(row["id"]),
        type="IMAGE" if is_index else TYPES.get(config_type, "UNKNOWN"),
        media_type=manifest_type if is_index or not config_type else config_type,
        manifest_media_type=manifest_type,
        project_id=repo.project_id,
        repository_id=repo.id,
        digest=str(row["digest"]),
        size=size,
        push_time=row["created_at"],
        verification=str(row["verification"]),
        verification_reason=row["verification_reason"],
        verified_at=row["verified_at"],
    )


def _document(content: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(content)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


async def _blob_sizes(manifest_ids: list[int]) -> dict[int, int]:
    """Sum of the sizes of the blobs each manifest names."""
    refs = await ManifestReference.filter(manifest_id__in=manifest_ids, kind="blob").values_list(
        "manifest_id", "digest"
    )
    digests = {str(d) for _, d in refs}
    sizes = dict(await Blob.filter(digest__in=list(digests)).values_list("digest", "size"))
    totals: dict[int, int] = {}
    for manifest_id, digest in refs:
        totals[int(manifest_id)] = totals.get(int(manifest_id), 0) + int(sizes.get(digest, 0))
    return totals


async def _tags(manifest_ids: list[int]) -> dict[int, list[TagInfo]]:
    rows = (
        await Tag.filter(manifest_id__in=manifest_ids)
        .order_by("name")
        .values_list("id", "name", "updated_at", "manifest_id")
    )
    tags: dict[int, list[TagInfo]] = {}
    for tag_id, name, updated, manifest_id in rows:
        tags.setdefault(int(manifest_id), []).append(TagInfo(int(tag_id), str(name), updated))
    return tags


async def _children(repo: RepositoryRef, doc: dict[str, Any]) -> list[ChildInfo]:
    entries = [m for m in doc.get("manifests") or [] if isinstance(m, dict)]
    digests = [str(m.get("digest")) for m in entries]
    ids = dict(
        await ManifestDigest.filter(repository_id=repo.id, digest__in=digests).values_list(
            "digest", "manifest_id"
        )
    )
    return [
        ChildInfo(
            str(m.get("digest")),
            ids.get(str(m.get("digest"))),
            m.get("platform"),
            m.get("annotations"),
        )
        for m in entries
    ]


# --- the write side: deletes and tags --------------------------------------------------------
#
# These run inside the operation's transaction (core.events.transaction); the deletes emit
# the operation's event, with a DELETE_ARTIFACT webhook event per artifact, in it. Their
# lookups go through `fetch`, a cheap indexed read.

_REPOSITORY = "SELECT id, project_id FROM repository WHERE name = ?"
_ARTIFACT_BY_DIGEST = f"SELECT id, digest FROM manifest WHERE id = {MANIFEST_ID}"
_ARTIFACT_BY_TAG = (
    "SELECT m.id, m.digest FROM tag t JOIN manifest m ON m.id = t.manifest_id"
    " WHERE t.repository_id = ? AND t.name = ?"
)
_TAG_EXISTS = "SELECT 1 FROM tag WHERE repository_id = ? AND name = ?"


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    id: int
    digest: str


async def repository_ref(name: str) -> RepositoryRef | None:
    """The repository by its full name, read without touching the write connection."""
    rows = await fetch(_REPOSITORY, name)
    if not rows:
        return None
    repo_id, project_id = rows[0]
    return RepositoryRef(int(repo_id), int(project_id))  # type: ignore[call-overload]


async def artifact_ref(repo: RepositoryRef, reference: str) -> ArtifactRef | None:
    """The artifact a digest or a tag names in the repository; None when there is none."""
    query = _ARTIFACT_BY_DIGEST if is_digest(reference) else _ARTIFACT_BY_TAG
    rows = await fetch(query, repo.id, reference)
    if not rows:
        return None
    manifest_id, digest = rows[0]
    return ArtifactRef(int(manifest_id), str(digest))  # type: ignore[call-overload]


async def delete_artifact(
    tx: events.Tx, event: audit.Event, repo_id: int, repository: str, digest: str
) -> int:
    """Delete the manifest digest names (any of its digests) with every tag and digest of
    it, and emit event (now naming the digest, with a DELETE_ARTIFACT webhook event) in tx;
    the number of webhook events. ManifestUnknown when it is gone already. The distribution
    API's DELETE and the REST API's both come here."""
    await signatures.before_delete(tx, repo_id, digest)
    ids = (
        await ManifestDigest.filter(repository_id=repo_id, digest=digest)
        .using_db(tx)
        .values_list("manifest_id", flat=True)
    )
    # a tag on it that an immutability rule protects keeps it (TagImmutable)
    await immutability.refuse_artifact_delete(
        event.project_id, repository, [int(str(i)) for i in ids]
    )
    counted = await Manifest.filter(id__in=list(ids)).using_db(tx).values_list("digest", flat=True)
    if not ids or not await Manifest.filter(id__in=list(ids)).using_db(tx).delete():
        raise ManifestUnknown(digest)
    await quotas.release(tx, await quotas.project_of_repository(repo_id), [str(d) for d in counted])
    event.resource = f"{repository}@{digest}"
    event.artifacts = [audit.Artifact(repository, digest)]
    return await events.emit(tx, event)


async def delete_repository(tx: events.Tx, event: audit.Event, repo: RepositoryRef) -> int:
    """Delete the repository (event.resource) with its manifests, tags and blob links (the
    blobs themselves are left to garbage collection), and emit event with a DELETE_ARTIFACT
    webhook event per artifact in tx; the number of webhook events (0 when a concurrent
    delete took it first)."""
    digests = (
        await Manifest.filter(repository_id=repo.id).using_db(tx).values_list("digest", flat=True)
    )
    # Manifests, tags, references and links go with it (ON DELETE CASCADE).
    deleted = await Repository.filter(id=repo.id).using_db(tx).delete()
    await quotas.release(tx, repo.project_id)  # what only this repository held
    event.artifacts = [audit.Artifact(event.resource, str(d)) for d in digests] if deleted else []
    return await events.emit(tx, event)


async def create_tag(repo: RepositoryRef, artifact: ArtifactRef, name: str) -> bool:
    """Tag the artifact; False when the repository has a tag of that name already."""
    if await fetch(_TAG_EXISTS, repo.id, name):
        return False
    try:
        await Tag.create(repository_id=repo.id, name=name, manifest_id=artifact.id)
    except IntegrityError:  # a push took the name in between
        return False
    return True


async def delete_tag(repo: RepositoryRef, artifact: ArtifactRef, name: str) -> bool:
    """Remove the tag from the artifact; False when the artifact has no tag of that name."""
    deleted = await Tag.filter(repository_id=repo.id, manifest_id=artifact.id, name=name).delete()
    return bool(deleted)
