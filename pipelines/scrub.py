"""The scrub job: re-hash every stored blob at a bounded rate and fail the manifests whose
blobs no longer match their digests (bit rot, a disk edited behind the registry's back).

Args: {"rate": bytes per second (0 = unbounded)}. Safe to repeat: a rerun starts over.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time

from core import artifacts
from core.digests import parse_digest
from core.jobs import ClaimedJob
from core.service import Registry
from pipelines import PipelineContext, pipeline
from storage import StorageKeyMissing

log = logging.getLogger(__name__)

BATCH = 200
DEFAULT_RATE = 64 << 20  # bytes per second when the job names none; 0 means unbounded


class Throttle:
    """Sleeps so that the bytes passed stay under rate per second since start."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.started = time.monotonic()
        self.bytes = 0

    async def passed(self, count: int) -> None:
        self.bytes += count
        if self.rate <= 0:
            return
        ahead = self.bytes / self.rate - (time.monotonic() - self.started)
        if ahead > 0:
            await asyncio.sleep(ahead)


@pipeline("scrub")
async def scrub(job: ClaimedJob, context: PipelineContext) -> None:
    """Re-hash every live blob; record progress by bytes re-hashed."""
    throttle = Throttle(float(job.args.get("rate", DEFAULT_RATE)))
    total = max(await artifacts.stored_bytes_total(), 1)
    after, corrupt = "", 0
    while batch := await artifacts.stored_blobs(after, BATCH):
        for digest, _size in batch:
            reason = await rehash(context.registry, digest, throttle)
            if reason is not None:
                corrupt += 1
                await artifacts.fail_manifests_naming(digest, reason)
            await context.queue.progress(job.id, throttle.bytes / total)
        after = batch[-1][0]
    log.info("scrub done", extra={"job": job.id, "bytes": throttle.bytes, "corrupt": corrupt})


async def rehash(registry: Registry, digest: str, throttle: Throttle) -> str | None:
    """None when the blob's stored content still matches its digest; else the reason."""
    parsed = parse_digest(digest)
    state = hashlib.new(parsed.algorithm)
    try:
        async for piece in registry.blobs.read(digest):
            await asyncio.to_thread(state.update, piece)  # hashlib releases the GIL
            await throttle.passed(len(piece))
    except StorageKeyMissing:
        return f"blob {digest} is missing from storage"
    if state.hexdigest() != parsed.hex:
        return f"blob {digest} content no longer matches its digest"
    return None
