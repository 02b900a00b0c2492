"""The consistency check of blob rows against storage (`berth gc --check [--repair]`).

Two passes, each in batches so that any number of blobs fits in memory: the storage listing
under blobs/ (files without a row: a crash between placing a file and inserting its row),
then the blob rows in id order (rows whose file is missing, files of another size, rows a
dead collection left in deleting). The registry keeps serving meanwhile: a file younger
than the grace period may be an upload about to insert its row and is left alone, and what
looks wrong is read again before it is reported. Repairs are in core/gc_repair.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from core import gc_repair as fix
from core.blobs import now_ms
from core.digests import Digest, parse_digest
from core.errors import DigestInvalid
from models import Blob
from storage import StorageDriver, StorageKeyMissing
from storage.keys import BLOBS, blob_key

GRACE = timedelta(minutes=10)
BATCH = 500  # keys per row lookup, rows per page (under SQLite's bound on parameters)
_FIELDS = ("id", "digest", "size", "status", "version", "gc_run")


class CheckProgress(Protocol):
    """How the check shows its progress."""

    async def phase(self, name: str, total: int | None) -> None:
        """A pass begins ("files", "rows") with its number of items when known."""
        ...

    async def advance(self, count: int) -> None:
        """count more items of the current pass are done."""
        ...


@dataclass(frozen=True, slots=True)
class OrphanFile:
    digest: str
    size: int
    # check: "found", "wrong content"; repair: "adopted" (row inserted), "deleted" (wrong
    # content), "left" (wrong content, but a row appeared meanwhile)
    action: str


@dataclass(frozen=True, slots=True)
class MissingFile:
    digest: str
    status: str
    manifests: list[tuple[str, str]]  # (repository, manifest digest) naming the blob
    repaired: bool


@dataclass(frozen=True, slots=True)
class SizeMismatch:
    digest: str
    recorded: int
    stored: int


@dataclass(frozen=True, slots=True)
class StuckDeletion:
    digest: str
    gc_run: int | None
    repaired: bool


@dataclass(slots=True)
class CheckReport:
    """What the check found, and with repair what it did about it."""

    files: int = 0  # files seen under blobs/
    rows: int = 0  # blob rows seen
    young: int = 0  # files without a row, younger than the grace period (left alone)
    foreign: list[str] = field(default_factory=list)  # keys under blobs/ that name no digest
    orphans: list[OrphanFile] = field(default_factory=list)
    missing: list[MissingFile] = field(default_factory=list)
    sizes: list[SizeMismatch] = field(default_factory=list)
    stuck: list[StuckDeletion] = field(default_factory=list)

    @property
    def findings(self) -> int:
        return len(self.orphans) + len(self.missing) + len(self.sizes) + len(self.stuck)

    @property
    def unrepaired(self) -> int:
        """Findings still standing: everything without repair; with it, what repair left
        (a lost race, a live collection, a size mismatch, which only a re-push mends)."""
        orphans = sum(o.action not in ("adopted", "deleted") for o in self.orphans)
        missing = sum(not m.repaired for m in self.missing)
        stuck = sum(not s.repaired for s in self.stuck)
        return orphans + missing + stuck + len(self.sizes)


async def check(
    storage: StorageDriver,
    repair: bool,
    progress: CheckProgress,
    grace: timedelta = GRACE,
    batch: int = BATCH,
) -> CheckReport:
    """Compare blob rows with the files under blobs/; with repair, mend what is safe to mend.
    Raises only what the database or storage raise. Safe to repeat, and to run while the
    registry serves (a repeat after repair finds nothing more to mend)."""
    report = CheckReport()
    await progress.phase("files", None)
    await _files_pass(storage, repair, progress, grace, batch, report)
    await progress.phase("rows", await Blob.all().count())
    await _rows_pass(storage, repair, progress, batch, report)
    return report


# --- files without a row -------------------------------------------------------------------


async def _files_pass(
    storage: StorageDriver,
    repair: bool,
    progress: CheckProgress,
    grace: timedelta,
    batch: int,
    report: CheckReport,
) -> None:
    pending: list[tuple[Digest, int, float]] = []
    async for key, size, mtime in storage.list(BLOBS):
        report.files += 1
        digest = digest_of_key(key)
        if digest is None:
            report.foreign.append(key)
            continue
        pending.append((digest, size, mtime))
        if len(pending) >= batch:
            await _files_batch(storage, repair, grace, pending, report)
            await progress.advance(len(pending))
            pending = []
    await _files_batch(storage, repair, grace, pending, report)
    await progress.advance(len(pending))


def digest_of_key(key: str) -> Digest | None:
    """The digest a key under blobs/ stands for; None for a key no blob would have."""
    parts = key.split("/")
    if len(parts) != 4:
        return None
    try:
        digest = parse_digest(f"{parts[1]}:{parts[3]}")
    except DigestInvalid:
        return None
    return digest if blob_key(digest.algorithm, digest.hex) == key else None


async def _files_batch(
    storage: StorageDriver,
    repair: bool,
    grace: timedelta,
    files: list[tuple[Digest, int, float]],
    report: CheckReport,
) -> None:
    if not files:
        return
    known = set(
        await Blob.filter(digest__in=[str(d) for d, _s, _m in files]).values_list(
            "digest", flat=True
        )
    )
    oldest = now_ms() / 1000 - grace.total_seconds()
    for digest, size, mtime in files:
        if str(digest) in known:
            continue
        if mtime > oldest:
            report.young += 1
            continue
        orphan = await _orphan(storage, repair, digest, size)
        if orphan is not None:
            report.orphans.append(orphan)


async def _orphan(
    storage: StorageDriver, repair: bool, digest: Digest, size: int
) -> OrphanFile | None:
    """An old file without a row, read again; None when it is no orphan after all."""
    if await Blob.filter(digest=str(digest)).exists():
        return None  # its upload inserted the row since the batch was read
    matches = await fix.content_matches(storage, digest)
    if matches is None:
        return None  # deleted since it was listed
    if not repair:
        return OrphanFile(str(digest), size, "found" if matches else "wrong content")
    if matches:
        await fix.adopt(str(digest), size)
        return OrphanFile(str(digest), size, "adopted")
    deleted = await fix.delete_wrong_content(storage, digest)
    return OrphanFile(str(digest), size, "deleted" if deleted else "left")


# --- rows without their file, and interrupted deletions -------------------------------------


async def _rows_pass(
    storage: StorageDriver, repair: bool, progress: CheckProgress, batch: int, report: CheckReport
) -> None:
    after = 0
    while rows := await _rows_after(after, batch):
        live = await fix.live_runs()
        for row in rows:
            await _row(storage, repair, row, live, report)
        report.rows += len(rows)
        await progress.advance(len(rows))
        after = rows[-1].id


async def _rows_after(after: int, limit: int) -> list[fix.SeenRow]:
    rows = await Blob.filter(id__gt=after).order_by("id").limit(limit).values(*_FIELDS)
    return [fix.SeenRow(**row) for row in rows]


async def _row(
    storage: StorageDriver, repair: bool, row: fix.SeenRow, live: set[int], report: CheckReport
) -> None:
    digest = parse_digest(row.digest)
    if row.status == "deleting":
        if row.gc_run not in live:
            await _stuck(storage, repair, row, digest, report)
        return
    stored = await _stored_size(storage, digest)
    if stored is None:
        await _missing(storage, repair, row, digest, report)
    elif stored != row.size:
        report.sizes.append(SizeMismatch(row.digest, row.size, stored))


async def _stored_size(storage: StorageDriver, digest: Digest) -> int | None:
    try:
        return await storage.stat(blob_key(digest.algorithm, digest.hex))
    except StorageKeyMissing:
        return None


async def _unchanged(row: fix.SeenRow) -> bool:
    """The row is still as the check read it (no push revived it, no collection claimed it)."""
    return await Blob.filter(id=row.id, status=row.status, version=row.version).exists()


async def _missing(
    storage: StorageDriver, repair: bool, row: fix.SeenRow, digest: Digest, report: CheckReport
) -> None:
    if not await _unchanged(row) or await _stored_size(storage, digest) is not None:
        return  # a collection claimed it and deleted the file, or a push put it back
    manifests = await fix.naming_manifests(row.digest)
    repaired = repair and await fix.forget_missing(storage, row, digest)
    report.missing.append(MissingFile(row.digest, row.status, manifests, repaired))


async def _stuck(
    storage: StorageDriver, repair: bool, row: fix.SeenRow, digest: Digest, report: CheckReport
) -> None:
    if repair and await fix.finish_deletion(storage, row, digest):
        report.stuck.append(StuckDeletion(row.digest, row.gc_run, True))
    elif await _unchanged(row):  # still as seen: left (a collection is alive now), or found
        report.stuck.append(StuckDeletion(row.digest, row.gc_run, False))
    elif repair:
        await _taken_back_meanwhile(storage, row, digest, report)


async def _taken_back_meanwhile(
    storage: StorageDriver, row: fix.SeenRow, digest: Digest, report: CheckReport
) -> None:
    """The row changed under the repair. Taken back by an upload before the claim, it has its
    file again and is no finding; should it be live while the file the repair deleted is
    gone, it is reported missing (the next repair forgets it, the client pushes it again)."""
    rows = await Blob.filter(id=row.id, status__not="deleting").values(*_FIELDS)
    if rows and await _stored_size(storage, digest) is None:
        await _missing(storage, False, fix.SeenRow(**rows[0]), digest, report)
