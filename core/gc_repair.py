"""The repairs of `berth gc --check --repair`, each one safe while the registry serves.

Every change is a compare-and-set on what the check saw, so a push (which revives a blob
with a version bump) or a collection that moved first wins, and the repair is skipped.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from core import artifacts
from core.blobs import collection_alive, live_run, now_ms
from core.digests import Digest
from models import Blob, GcRun, Manifest, ManifestReference, RepositoryBlob
from storage import StorageDriver, StorageKeyMissing
from storage.keys import blob_key

MISSING_REASON = "blob missing from storage"


class _FileCameBack(Exception):
    """Rolls back a row deletion: a push placed the file while the repair ran."""


@dataclass(frozen=True, slots=True)
class SeenRow:
    """A blob row as the check read it: the compare-and-set's expected values."""

    id: int
    digest: str
    size: int
    status: str
    version: int
    gc_run: int | None


async def live_runs() -> set[int]:
    """Ids of the collections alive now (core.blobs.live_run)."""
    ids = await GcRun.filter(live_run()).values_list("id", flat=True)
    return {int(i) for i in ids}  # type: ignore[call-overload]


async def content_matches(storage: StorageDriver, digest: Digest) -> bool | None:
    """Whether the file at digest's address hashes to it; None when the file is gone.
    Hashing runs on a thread (hashlib releases the GIL). Safe to repeat."""
    state = hashlib.new(digest.algorithm)
    try:
        async for piece in storage.read(blob_key(digest.algorithm, digest.hex)):
            await asyncio.to_thread(state.update, piece)
    except StorageKeyMissing:
        return None
    return state.hexdigest() == digest.hex


async def adopt(digest: str, size: int) -> bool:
    """Give an orphan file (verified content) a row: status none, touched now, no repository
    links, so the next collection frees it by the race-safe path. Insert-or-ignore: True when
    this call created the row. Safe to repeat."""
    before = await Blob.filter(digest=digest).exists()
    await Blob.bulk_create(
        [Blob(digest=digest, size=size, touched_ms=now_ms())], ignore_conflicts=True
    )
    return not before


async def delete_wrong_content(storage: StorageDriver, digest: Digest) -> bool:
    """Delete a file whose content does not match its name, unless a row for it exists by now
    (then a push found the file present; deleting it would lose the blob). True when deleted.
    Safe to repeat."""
    if await Blob.filter(digest=str(digest)).exists():
        return False
    await storage.delete(blob_key(digest.algorithm, digest.hex))
    return True


async def naming_manifests(digest: str) -> list[tuple[str, str]]:
    """(repository, manifest digest) of every manifest that names the blob, sorted."""
    ids = await ManifestReference.filter(digest=digest, kind="blob").values_list(
        "manifest_id", flat=True
    )
    if not ids:
        return []
    rows = await Manifest.filter(id__in=list(ids)).values_list("repository__name", "digest")
    return sorted((str(r), str(d)) for r, d in rows)


async def forget_missing(storage: StorageDriver, row: SeenRow, digest: Digest) -> bool:
    """Delete a row whose file is missing, with its repository links, by compare-and-set on
    the (status, version) the check saw, and fail the manifests naming it. A file that came
    back meanwhile (a push placed it: files go first, rows after) rolls the deletion back.
    True when the row was deleted. Safe to repeat."""
    try:
        async with in_transaction():
            deleted = await Blob.filter(id=row.id, status=row.status, version=row.version).delete()
            if not deleted:
                return False
            if await _file_exists(storage, digest):
                raise _FileCameBack
            await RepositoryBlob.filter(digest=row.digest).delete()
            await artifacts.fail_manifests_naming(row.digest, MISSING_REASON)
    except _FileCameBack:
        return False
    return True


async def finish_deletion(storage: StorageDriver, row: SeenRow, digest: Digest) -> bool:
    """Finish a deletion a dead collection left in deleting: claim the row by bumping its
    version (compare-and-set on the version seen, status still deleting, and only while no
    collection is alive) and touching it (so an upload waits rather than takes it over),
    delete the file, then the row (compare-and-set on the claim) with its links in one
    transaction, as a collection does. True when the row is gone. Safe to repeat."""
    if await collection_alive():
        return False
    claimed = await Blob.filter(id=row.id, status="deleting", version=row.version).update(
        version=F("version") + 1, touched_ms=now_ms()
    )
    if not claimed:
        return False
    await storage.delete(blob_key(digest.algorithm, digest.hex))
    async with in_transaction():
        gone = await Blob.filter(id=row.id, status="deleting", version=row.version + 1).delete()
        if gone:
            await RepositoryBlob.filter(digest=row.digest).delete()
    return bool(gone)


async def _file_exists(storage: StorageDriver, digest: Digest) -> bool:
    try:
        await storage.stat(blob_key(digest.algorithm, digest.hex))
    except StorageKeyMissing:
        return False
    return True
