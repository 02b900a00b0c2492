"""Online garbage collection: mark and sweep while the registry serves.

Candidates are blobs that no manifest names and that nothing has touched for the window,
and (with delete_untagged) manifests that no tag, tagged index or live subject keeps alive.
A blob moves none -> delete (mark) -> deleting (claim) by compare-and-set on its version;
storage is deleted only from deleting, and the row after the file. Every push that uses a
blob puts it back to none with a version bump (core/blobs.py, core/registry.py), so a claim
made on an old version fails and the blob stays.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Protocol

from tortoise import connections
from tortoise.transactions import in_transaction

from core import quotas
from core.blobs import RUN_LEASE, now_ms
from core.gc_untagged import delete_untagged, untagged_manifests
from core.uploads import purge_abandoned
from models import execute, fetch
from models.errors import AlreadyExists
from storage import StorageDriver
from storage.keys import blob_key

__all__ = ["RUN_LEASE", "GcOptions", "GcResult", "GcRunning", "GcStopped", "collect"]

MAX_WORKERS = 10
BATCH = 200
DUTY = 0.4  # the share of its time a sweeper works while clients push; it rests the rest
PUSHING_WITHIN_MS = 2000  # a blob used by a push this recently: clients are pushing
UPLOAD_WINDOW_FLOOR = timedelta(minutes=10)  # a chunk may take this long to arrive


@dataclass(frozen=True, slots=True)
class GcOptions:
    delete_untagged: bool = False
    dry_run: bool = False
    workers: int = 1  # parallel sweepers, 1..MAX_WORKERS
    window: timedelta = timedelta(hours=2)  # untouched this long before a blob is a candidate


@dataclass(slots=True)
class GcResult:
    """What a run freed (or, for a dry run, what a real run at that moment would free)."""

    blobs: int = 0
    bytes: int = 0
    manifests: int = 0  # untagged manifests deleted
    uploads: int = 0  # abandoned upload sessions removed

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class GcReporter(Protocol):
    """How a run shows its progress, writes its log and learns it should stop."""

    async def phase(self, name: str, total: int | None) -> None:
        """A new phase begins (manifests, mark, sweep, uploads) with total items if known."""
        ...

    async def advance(self, count: int) -> None:
        """count more items of the current phase are done."""
        ...

    async def line(self, text: str) -> None:
        """One line for the run's log."""
        ...

    async def should_stop(self) -> bool:
        """Polled between batches (at least every few seconds): True stops the run.
        The run's heartbeat is kept by this call."""
        ...


class GcRunning(AlreadyExists):
    """A collection is already running: one at a time."""

    def __init__(self, run_id: int) -> None:
        super().__init__(f"garbage collection {run_id} is still running")
        self.run_id = run_id


class GcStopped(Exception):
    """The reporter asked the run to stop; result holds what was freed until then."""

    def __init__(self, result: GcResult) -> None:
        super().__init__("stopped")
        self.result = result


_UNREFERENCED = " AND NOT EXISTS (SELECT 1 FROM manifest_reference r WHERE r.digest = b.digest)"
_CANDIDATES = (
    "SELECT b.id, b.size FROM blob b WHERE b.id > ? AND b.status IN ('none', 'delete')"
    " AND b.touched_ms < ?" + _UNREFERENCED + " ORDER BY b.id LIMIT ?"
)
_COUNT = (
    "SELECT count(*), coalesce(sum(b.size), 0) FROM blob b"
    " WHERE b.status IN ('none', 'delete') AND b.touched_ms < ?" + _UNREFERENCED
)
# On PostgreSQL the mark and the claim skip rows a push holds locked (a manifest PUT, an
# upload): those blobs are in use, and waiting for them while holding others deadlocks.
_MARK = (
    "UPDATE blob SET status = 'delete', gc_run = ? WHERE id IN (SELECT id FROM blob"
    " WHERE id IN ({ids}) AND status IN ('none', 'delete') AND touched_ms < ? ORDER BY id{lock})"
    " AND NOT EXISTS (SELECT 1 FROM manifest_reference r WHERE r.digest = blob.digest)"
    " RETURNING id, version"
)
_PAIRS = "(id, version) IN (VALUES {pairs})"
# The claim asks again whether a manifest names the blob: on PostgreSQL a mark that waited
# for a manifest PUT's lock on the row re-reads the row the PUT left (none, the new version)
# but not the PUT's references, which its snapshot predates. The claim, a statement later,
# sees them.
_CLAIM = (
    "UPDATE blob SET status = 'deleting', touched_ms = ? WHERE id IN (SELECT id FROM blob"
    " WHERE status = 'delete' AND gc_run = ? AND (id, version) IN (VALUES {pairs})"
    " ORDER BY id{lock})"
    + _UNREFERENCED.replace("b.digest", "blob.digest")
    + " RETURNING id, version, digest"
)
_RECLAIM = (
    "UPDATE blob SET version = version + 1, gc_run = ?, touched_ms = ? WHERE status = 'deleting'"
    " AND " + _PAIRS + " RETURNING id, version, digest"
)
_DROP = (
    "DELETE FROM blob WHERE status = 'deleting' AND gc_run = ? AND "
    + _PAIRS
    + " RETURNING digest, size"
)
_LAST_TOUCH = "SELECT max(touched_ms) FROM blob WHERE status = 'none'"
_UNLINK = "DELETE FROM repository_blob WHERE digest IN ({marks})"
_UNMARK = "UPDATE blob SET status = 'none', gc_run = NULL WHERE status = 'delete' AND gc_run = ?"
_INTERRUPTED = (
    "SELECT id, version, size FROM blob WHERE status = 'deleting' AND id > ? ORDER BY id LIMIT ?"
)
# Blobs that only the given (untagged) manifests name: what removing them frees.
_NAMED_BY = (
    "SELECT DISTINCT digest FROM manifest_reference"
    " WHERE kind = 'blob' AND manifest_id IN ({marks})"
)
_NAMERS = "SELECT digest, manifest_id FROM manifest_reference WHERE digest IN ({marks})"
_OLD_BLOBS = (
    "SELECT digest, size FROM blob WHERE digest IN ({marks})"
    " AND status IN ('none', 'delete') AND touched_ms < ?"
)


async def collect(
    storage: StorageDriver, run_id: int, options: GcOptions, reporter: GcReporter
) -> GcResult:
    """Run one collection as run run_id. Raises GcStopped. Safe to repeat after a crash: the
    blobs a dead attempt left in deleting are finished first."""
    run = _Run(storage, run_id, options, reporter)
    try:
        await run.interrupted()
        await run.manifests()
        await run.blobs()
        await run.uploads()
        if not options.dry_run:
            await quotas.reconcile()  # the space given back counts for the projects at once
    except GcStopped:
        await execute(_UNMARK, run_id)
        raise
    return run.result


class _Run:
    def __init__(
        self, storage: StorageDriver, run_id: int, options: GcOptions, reporter: GcReporter
    ) -> None:
        self.storage, self.run_id, self.options, self.reporter = storage, run_id, options, reporter
        self.result = GcResult()
        self.cutoff = now_ms() - int(options.window.total_seconds() * 1000)
        self.freed_by_untagged: list[tuple[str, int]] = []  # a dry run's count of them

    async def check_stop(self) -> None:
        if await self.reporter.should_stop():
            raise GcStopped(self.result)

    async def interrupted(self) -> None:
        """Finish the deletions a dead attempt had claimed (only one collection runs)."""
        after = 0
        while rows := await fetch(_INTERRUPTED, after, BATCH):
            after = int(rows[-1][0])  # type: ignore[call-overload]
            if self.options.dry_run:
                self._freed([("", int(size)) for _i, _v, size in rows])  # type: ignore[call-overload]
                continue
            await self.reporter.line(f"finishing {len(rows)} deletions an earlier run began")
            pairs = [(int(i), int(v)) for i, v, _s in rows]  # type: ignore[call-overload]
            claimed = await execute(
                _in_pairs(_RECLAIM, pairs), self.run_id, now_ms(), *_flat(pairs)
            )
            await self._delete(claimed)

    async def manifests(self) -> None:
        if not self.options.delete_untagged:
            return
        doomed = await untagged_manifests()
        await self.reporter.phase("manifests", len(doomed))
        if self.options.dry_run:
            self.result.manifests = len(doomed)
            self.freed_by_untagged = await self._freed_by([m.id for m in doomed])
            await self.reporter.advance(len(doomed))
            return
        pending = doomed
        while pending:  # parents before children: a child waits for the next round
            left = [m for m in pending if not await delete_untagged(m)]
            self.result.manifests += len(pending) - len(left)
            await self.reporter.advance(len(pending) - len(left))
            await self.check_stop()
            pending = [] if len(left) == len(pending) else left
        await self.reporter.line(f"deleted {self.result.manifests} untagged manifests")

    async def blobs(self) -> None:
        count, size = (await fetch(_COUNT, self.cutoff))[0]
        total = int(count) + len(self.freed_by_untagged)  # type: ignore[call-overload]
        await self.reporter.phase("blobs", total)
        await self.reporter.line(f"{total} blobs to collect")
        if self.options.dry_run:
            self.result.blobs += int(count)  # type: ignore[call-overload]
            self.result.bytes += int(size)  # type: ignore[call-overload]
            self._freed(self.freed_by_untagged)
            await self.reporter.advance(total)
            return
        slots = asyncio.Semaphore(self.options.workers)
        sweeps: list[asyncio.Task[None]] = []
        try:
            async for batch in self._batches():
                await slots.acquire()
                _raise_failed(sweeps)
                sweeps.append(asyncio.create_task(self._sweep(batch)))
                sweeps[-1].add_done_callback(lambda _task: slots.release())
                await self.check_stop()
        finally:
            outcomes = await asyncio.gather(*sweeps, return_exceptions=True)
        _raise_failed(sweeps)
        del outcomes
        await self.reporter.line(f"freed {self.result.blobs} blobs, {self.result.bytes} bytes")

    async def uploads(self) -> None:
        await self.reporter.phase("uploads", None)
        window = max(self.options.window, UPLOAD_WINDOW_FLOOR)
        self.result.uploads = await purge_abandoned(self.storage, window, self.options.dry_run)
        await self.reporter.line(f"removed {self.result.uploads} abandoned uploads")

    async def _batches(self) -> AsyncIterator[list[int]]:
        after = 0
        while rows := await fetch(_CANDIDATES, after, self.cutoff, BATCH):
            after = int(rows[-1][0])  # type: ignore[call-overload]
            yield [int(r[0]) for r in rows]  # type: ignore[call-overload]

    async def _sweep(self, ids: list[int]) -> None:
        """Mark (none -> delete), claim (delete -> deleting, on the version marked), delete.
        While clients push, rest after each batch (DUTY): the registry it runs beside keeps
        most of the event loop and of SQLite's write lock for them."""
        started = time.monotonic()
        await self._sweep_batch(ids)
        if await _pushing_now():
            await asyncio.sleep((time.monotonic() - started) * (1 - DUTY) / DUTY)

    async def _sweep_batch(self, ids: list[int]) -> None:
        marks = ",".join("?" * len(ids))
        lock = _skip_locked()
        marked = await execute(_MARK.format(ids=marks, lock=lock), self.run_id, *ids, self.cutoff)
        pairs = sorted((int(i), int(v)) for i, v in marked)  # type: ignore[call-overload]
        if pairs:
            claim = _in_pairs(_CLAIM.replace("{lock}", lock), pairs)
            claimed = await execute(claim, now_ms(), self.run_id, *_flat(pairs))
            await self._delete(claimed)
        await self.reporter.advance(len(ids))

    async def _delete(self, claimed: list[tuple[object, ...]]) -> None:
        """Files first, then the rows (compare-and-set on the claimed version) and links."""
        if not claimed:
            return
        keys = [blob_key(*str(digest).split(":", 1)) for _id, _version, digest in claimed]
        await self.storage.delete_many(keys)
        pairs = [(int(i), int(v)) for i, v, _d in claimed]  # type: ignore[call-overload]
        # One transaction: a link made after it belongs to a new row of the same digest.
        async with in_transaction() as tx:
            dropped = await execute(_in_pairs(_DROP, pairs), self.run_id, *_flat(pairs), using=tx)
            if dropped:
                digests = [str(d) for d, _s in dropped]
                marks = ",".join("?" * len(digests))
                await execute(_UNLINK.format(marks=marks), *digests, using=tx)
        self._freed([(str(d), int(s)) for d, s in dropped])  # type: ignore[call-overload]

    async def _freed_by(self, manifest_ids: list[int]) -> list[tuple[str, int]]:
        """Blobs past the window that only these manifests name (what removing them frees)."""
        doomed, named = set(manifest_ids), set[str]()
        for chunk in _chunks(manifest_ids):
            rows = await fetch(_NAMED_BY.format(marks=",".join("?" * len(chunk))), *chunk)
            named.update(str(r[0]) for r in rows)
        freed: list[tuple[str, int]] = []
        for chunk in _chunks(sorted(named)):
            marks = ",".join("?" * len(chunk))
            namers = await fetch(_NAMERS.format(marks=marks), *chunk)
            kept = {str(d) for d, m in namers if int(m) not in doomed}  # type: ignore[call-overload]
            old = await fetch(_OLD_BLOBS.format(marks=marks), *chunk, self.cutoff)
            freed += [(str(d), int(s)) for d, s in old if str(d) not in kept]  # type: ignore[call-overload]
        return freed

    def _freed(self, blobs: list[tuple[str, int]]) -> None:
        self.result.blobs += len(blobs)
        self.result.bytes += sum(size for _d, size in blobs)


async def _pushing_now() -> bool:
    """Whether a push used a blob in the last PUSHING_WITHIN_MS (every upload and manifest
    PUT touches the blobs it uses); one indexed read."""
    rows = await fetch(_LAST_TOUCH)
    last = rows[0][0] if rows else None
    return last is not None and int(last) > now_ms() - PUSHING_WITHIN_MS  # type: ignore[call-overload]


def _raise_failed(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


def _skip_locked() -> str:
    connection = connections.get("default")
    return " FOR UPDATE SKIP LOCKED" if connection.capabilities.dialect == "postgres" else ""


def _in_pairs(sql: str, pairs: list[tuple[int, int]]) -> str:
    values = ",".join(["(CAST(? AS INTEGER), CAST(? AS INTEGER))"] * len(pairs))
    return sql.format(pairs=values)


def _flat(pairs: list[tuple[int, int]]) -> list[int]:
    return [n for pair in pairs for n in pair]


def _chunks(items: Sequence[object], size: int = BATCH) -> list[Sequence[object]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
