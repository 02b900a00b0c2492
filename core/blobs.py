"""Blobs as repositories see them: stat, read, link (push, mount) and unlink.

Every use of a blob by a push (a HEAD, a mount, an upload commit; a manifest PUT in
core/registry.py) takes it back from a collection that marked it: status none, version
bumped, touched now. A blob a collection has claimed (deleting) is unknown until the
collection has deleted it; an upload of it then waits and publishes it anew (core/gc.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from core import quotas
from core.digests import parse_digest
from core.errors import BlobBeingCollected, BlobUnknown
from core.projects import existing_repository, repository_for_push
from models import Blob, GcRun, RepositoryBlob, fetch
from storage import StorageDriver, StorageKeyMissing
from storage.keys import blob_key

LIVE = ("none", "delete")  # states in which a blob's file is present and it may be used
RUN_LEASE = timedelta(seconds=60)  # a Running collection silent this long died
HAND_OVER_WAIT = 60.0  # seconds an upload waits for a collection to finish deleting its blob
_POLL = 0.02

_LINKED_BLOB = (
    "SELECT b.size, b.status, b.touched_ms FROM blob b"
    " WHERE b.digest = ? AND b.status IN ('none', 'delete') AND EXISTS ("
    " SELECT 1 FROM repository_blob l JOIN repository r ON r.id = l.repository_id"
    " WHERE r.name = ? AND l.digest = b.digest)"
)
# A blob held by some repository a caller may read (a mount without `from`); the
# repository_blob digest index finds the few links of one blob.
_READABLE_BLOB = (
    "SELECT b.size FROM blob b WHERE b.digest = ? AND b.status IN ('none', 'delete')"
    " AND EXISTS (SELECT 1 FROM repository_blob l JOIN repository r ON r.id = l.repository_id"
    " JOIN project p ON p.id = r.project_id WHERE l.digest = b.digest{where})"
)
_STUCK_VERSION = (
    "SELECT version FROM blob WHERE digest = ? AND status = 'deleting' AND touched_ms < ?"
)


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class BlobInfo:
    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class Readable:
    """The repositories a caller may pull from now: those of the projects project_ids (None:
    every project) and, when public, of every public project; of these only the ones named
    in repositories, when it is given (what a bearer token grants)."""

    project_ids: Collection[int] | None
    public: bool
    repositories: Collection[str] | None = None

    def where(self) -> tuple[str, list[object]]:
        """The conditions on r (repository) and p (project) that say so, and their values."""
        where = ""
        values: list[object] = []
        if self.repositories is not None:
            where += f" AND r.name IN ({_marks(self.repositories)})"
            values += sorted(self.repositories)
        if self.project_ids is not None:
            within = f"r.project_id IN ({_marks(self.project_ids)})"
            if self.public:
                where += f" AND (p.public = ? OR {within})"
                values.append(True)
            else:
                where += f" AND {within}"
            values += sorted(self.project_ids)
        return where, values


def _marks(values: Collection[object]) -> str:
    return ",".join("?" * len(values)) or "NULL"


class BlobStore:
    """Content-addressed blobs stored once, visible per repository through links.

    window: how long an untouched blob is safe from collection; a HEAD records its touch
    at most every half window, so HEADs rarely write.
    """

    def __init__(self, storage: StorageDriver, window: timedelta = timedelta(hours=2)) -> None:
        self.storage = storage
        self.window_ms = int(window.total_seconds() * 1000)

    @staticmethod
    def key(digest: str) -> str:
        d = parse_digest(digest)
        return blob_key(d.algorithm, d.hex)

    async def stat(self, repository: str, digest: str) -> BlobInfo:
        """Size of a blob linked to repository; a marked blob is taken back from the
        collection first. Raises BlobUnknown (also while a collection deletes it)."""
        parse_digest(digest)
        rows = await fetch(_LINKED_BLOB, digest, repository)
        if not rows:
            raise BlobUnknown(digest)
        size, status, touched = rows[0]
        if status == "delete":
            if not await self._revive(digest):
                raise BlobUnknown(digest)  # claimed in between: the client uploads it again
        elif int(touched) < now_ms() - self.window_ms // 2:  # type: ignore[call-overload]
            await Blob.filter(digest=digest, status="none", touched_ms=touched).update(
                touched_ms=now_ms()
            )
        return BlobInfo(digest, int(size))  # type: ignore[call-overload]

    def read(self, digest: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        return self.storage.read(self.key(digest), offset, length)

    async def redirect_url(self, digest: str, expires: int) -> str | None:
        """A short-lived URL the store serves the blob's bytes at (None: read them here).
        Only for a caller already allowed to pull it."""
        return await self.storage.redirect_url(self.key(digest), expires)

    async def record(self, repo_id: int, digest: str, size: int, source: str | None = None) -> bool:
        """Register a blob and link it to repo; source: the storage key of its verified bytes
        (an upload), already placed at the content address by the caller. Safe to repeat.

        While a collection deletes the blob, an upload waits for it to finish and publishes
        the blob anew (a dead collection's claim is taken over); without a source (a mount)
        the answer is False at once. Raises BlobBeingCollected when the wait runs out, and
        QuotaExceeded (nothing linked) when the project has no room for the blob.
        """
        deadline = time.monotonic() + HAND_OVER_WAIT
        while not await self._link(repo_id, digest, size, source):
            if source is None:
                return False
            if await self._take_over(digest, source):
                continue
            if time.monotonic() > deadline:
                raise BlobBeingCollected(digest)
            await asyncio.sleep(_POLL)
        return True

    async def mount(self, target: str, project: str, digest: str, source: str) -> bool:
        """Link a blob of repository `source` into target. False when source lacks it."""
        try:
            info = await self.stat(source, digest)
        except BlobUnknown:
            return False
        repo_id = await repository_for_push(target, project)
        return await self.record(repo_id, info.digest, info.size)

    async def mount_readable(
        self, target: str, project: str, digest: str, readable: Readable
    ) -> bool:
        """Link a blob into target from any repository the caller may read (a mount without
        `from`). False when none of them holds it, whatever other repositories hold: the
        caller learns nothing of what it may not read, and uploads the blob instead."""
        parse_digest(digest)
        where, values = readable.where()
        rows = await fetch(_READABLE_BLOB.format(where=where), digest, *values)
        if not rows:
            return False
        repo_id = await repository_for_push(target, project)
        return await self.record(repo_id, digest, int(rows[0][0]))  # type: ignore[call-overload]

    async def unlink(self, repository: str, digest: str) -> None:
        """Remove the blob from one repository (GC reclaims the bytes). Raises BlobUnknown."""
        parse_digest(digest)
        repo_id = await existing_repository(repository)
        project_id = await quotas.project_of_repository(repo_id)
        async with in_transaction() as tx:
            deleted = (
                await RepositoryBlob.filter(repository_id=repo_id, digest=digest)
                .using_db(tx)
                .delete()
            )
            if not deleted:
                raise BlobUnknown(digest)
            await quotas.release(tx, project_id, [digest])

    async def _revive(self, digest: str) -> bool:
        """Take a marked (or live) blob back: none, version bumped. False when claimed."""
        updated = await Blob.filter(digest=digest, status__in=LIVE).update(
            status="none", version=F("version") + 1, touched_ms=now_ms(), gc_run=None
        )
        return bool(updated)

    async def _link(self, repo_id: int, digest: str, size: int, source: str | None) -> bool:
        """One transaction: the row (new or taken back), its file, the link and its charge to
        the project's quota. False while a collection has it claimed."""
        now = now_ms()
        async with in_transaction() as tx:
            # The first statement writes, so the transaction holds the write lock on SQLite.
            # Only an upload, which has the bytes, may make the row: a mount whose blob a
            # collection removed since its stat would make a row with no file behind it.
            if source is not None:
                await Blob.bulk_create(
                    [Blob(digest=digest, size=size, touched_ms=now)],
                    ignore_conflicts=True,
                    using_db=tx,
                )
            revived = (
                await Blob.filter(digest=digest, status__in=LIVE)
                .using_db(tx)
                .update(status="none", version=F("version") + 1, touched_ms=now, gc_run=None)
            )
            if not revived:
                return False
            if source is not None:
                # Placed before the transaction, but a collection finishing an older row of
                # this digest may have deleted it since; now the row is ours, so check.
                await self._ensure_file(source, digest)
            await RepositoryBlob.bulk_create(
                [RepositoryBlob(repository_id=repo_id, digest=digest)],
                ignore_conflicts=True,
                using_db=tx,
            )
            await quotas.charge_repository(tx, repo_id, digest, size)
        return True

    async def _ensure_file(self, source: str, digest: str) -> None:
        try:
            await self.storage.stat(self.key(digest))
        except StorageKeyMissing:
            await self.storage.place(source, self.key(digest))

    async def _take_over(self, digest: str, source: str) -> bool:
        """A claim older than the window whose collection is no longer alive: publish the
        upload's bytes and take the row back (compare-and-set on the version read)."""
        rows = await fetch(_STUCK_VERSION, digest, now_ms() - self.window_ms)
        if not rows or await collection_alive():
            return False
        version = int(rows[0][0])  # type: ignore[call-overload]
        await self.storage.place(source, self.key(digest))
        taken = await Blob.filter(digest=digest, status="deleting", version=version).update(
            status="none", version=version + 1, touched_ms=now_ms(), gc_run=None
        )
        return bool(taken)


def live_run(now: datetime | None = None) -> Q:
    """The collections alive now: Running, with a heartbeat within RUN_LEASE."""
    since = (now or datetime.now(UTC)) - RUN_LEASE
    return Q(status="Running", heartbeat_at__gt=since)


async def collection_alive() -> bool:
    """Whether a collection is running now."""
    return await GcRun.filter(live_run()).exists()
