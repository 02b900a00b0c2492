"""Blobs as repositories see them: stat, read, link (push, mount) and unlink."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from core.digests import parse_digest
from core.errors import BlobUnknown
from core.projects import existing_repository, repository_for_push
from models import Blob, RepositoryBlob, fetch
from storage import StorageDriver
from storage.keys import blob_key

_LINKED_BLOB_SIZE = (
    "SELECT b.size FROM blob b WHERE b.digest = ? AND b.status = 'none' AND EXISTS ("
    " SELECT 1 FROM repository_blob l JOIN repository r ON r.id = l.repository_id"
    " WHERE r.name = ? AND l.digest = b.digest)"
)


@dataclass(frozen=True, slots=True)
class BlobInfo:
    digest: str
    size: int


class BlobStore:
    """Content-addressed blobs stored once, visible per repository through links."""

    def __init__(self, storage: StorageDriver) -> None:
        self.storage = storage

    @staticmethod
    def key(digest: str) -> str:
        d = parse_digest(digest)
        return blob_key(d.algorithm, d.hex)

    async def stat(self, repository: str, digest: str) -> BlobInfo:
        """Size of a blob linked to repository, in one query. Raises BlobUnknown."""
        parse_digest(digest)
        rows = await fetch(_LINKED_BLOB_SIZE, digest, repository)
        if not rows:
            raise BlobUnknown(digest)
        return BlobInfo(digest, int(rows[0][0]))  # type: ignore[call-overload]

    def read(self, digest: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        return self.storage.read(self.key(digest), offset, length)

    async def record(self, repo_id: int, digest: str, size: int) -> None:
        """Register a committed blob and link it to repo, in one transaction. Safe to repeat.

        A blob that online GC had marked is brought back, bumping its version so that GC's
        compare-and-set on the version it saw fails.
        """
        async with in_transaction():
            await Blob.bulk_create([Blob(digest=digest, size=size)], ignore_conflicts=True)
            await Blob.filter(digest=digest, status__not="none").update(
                status="none", version=F("version") + 1
            )
            await RepositoryBlob.bulk_create(
                [RepositoryBlob(repository_id=repo_id, digest=digest)], ignore_conflicts=True
            )

    async def mount(self, target: str, project: str, digest: str, source: str) -> bool:
        """Link a blob of repository `source` into target. False when source lacks it."""
        try:
            info = await self.stat(source, digest)
        except BlobUnknown:
            return False
        repo_id = await repository_for_push(target, project)
        await self.record(repo_id, info.digest, info.size)
        return True

    async def unlink(self, repository: str, digest: str) -> None:
        """Remove the blob from one repository (GC reclaims the bytes). Raises BlobUnknown."""
        parse_digest(digest)
        repo_id = await existing_repository(repository)
        deleted = await RepositoryBlob.filter(repository_id=repo_id, digest=digest).delete()
        if not deleted:
            raise BlobUnknown(digest)
