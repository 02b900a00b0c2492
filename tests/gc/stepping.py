"""The pieces a stepped test gates: the collection's storage, the registry's BlobStore, and
core.gc.collect's phases with the sweeps one batch after the other."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import core.gc as engine
from core.blobs import BlobStore
from core.gc import GcOptions, GcResult
from storage import StorageDriver
from tests.gc.scheduler import Scheduler
from tests.gc.support import Quiet


class GatedStorage:
    """The collection's storage: a gate before each file it deletes (a batch's files one by
    one, so a push can come between any two)."""

    def __init__(self, inner: StorageDriver, scheduler: Scheduler) -> None:
        self._inner = inner
        self.delete = scheduler.gated("delete file", inner.delete)

    async def delete_many(self, keys: Sequence[str]) -> None:
        for key in keys:
            await self.delete(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class GatedBlobs(BlobStore):
    """The registry's BlobStore with gates where a push's statements meet a collection's:
    before a marked blob is taken back (HEAD, mount) and before each attempt to record and
    link a blob (after an upload placed its bytes, after a mount's stat)."""

    scheduler: Scheduler

    async def _revive(self, digest: str) -> bool:
        await self.scheduler.gate("revive")
        return await super()._revive(digest)

    async def _link(self, repo_id: int, digest: str, size: int, source: str | None) -> bool:
        await self.scheduler.gate("link")
        return await super()._link(repo_id, digest, size, source)


async def stepped_collection(storage: StorageDriver, run_id: int, options: GcOptions) -> GcResult:
    """core.gc.collect's phases, with the sweeps one batch after the other (and without the
    rests a sweeper takes beside pushes: time is not what is tested here)."""
    run = engine._Run(storage, run_id, options, Quiet())
    await run.interrupted()
    await run.manifests()
    async for batch in run._batches():
        await run._sweep_batch(batch)
    return run.result
