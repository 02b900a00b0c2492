"""Online garbage collection: mark and sweep while the registry serves.

Candidates are blobs that no manifest names and that nothing has touched for the window,
and (with delete_untagged) manifests that no tag, tagged index or live subject keeps alive.
A blob moves none -> delete (mark) -> deleting (claim) by compare-and-set on its version;
storage is deleted only from deleting, and the row after the file. Every push that uses a
blob puts it back to none with a version bump (core/blobs.py, core/registry.py), so a claim
made on an old version fails and the blob stays.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Protocol

from models.errors import AlreadyExists
from storage import StorageDriver

RUN_LEASE = timedelta(seconds=60)  # a Running run whose heartbeat is older died with its process
MAX_WORKERS = 10


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


async def collect(
    storage: StorageDriver, run_id: int, options: GcOptions, reporter: GcReporter
) -> GcResult:
    """Run one collection as run run_id. Raises GcStopped. Safe to repeat after a crash: the
    blobs a dead attempt left in deleting are finished first."""
    raise NotImplementedError
