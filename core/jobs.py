"""The job table as a queue: enqueue inside the causing transaction, claim by compare-and-set,
retry with exponential backoff, give up into `failed` after max_attempts."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.expressions import F, Q, Subquery

from models import Job, JobQueueState

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)  # a worker that goes silent this long is taken to be dead
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 600.0
# The pseudo job kind whose queue, paused, stops every schedule from firing (Harbor's
# SCHEDULER job type): no job row has it.
SCHEDULER_QUEUE = "scheduler"


def _not_paused() -> Q:
    """Jobs whose kind's queue is not paused (one subquery, so that a claim and a pause
    never interleave: a claim after the pause committed finds nothing)."""
    paused = JobQueueState.filter(paused=True).values("kind")
    return ~Q(kind__in=Subquery(paused))


async def queue_paused(kind: str) -> bool:
    """Whether an admin paused the queue of kind (see services.jobservice)."""
    return await JobQueueState.filter(kind=kind, paused=True).exists()


async def enqueue(kind: str, args: dict[str, Any], max_attempts: int = 5) -> int:
    """Write a job row; call inside the transaction of the change that causes it."""
    job = await Job.create(
        kind=kind, args=args, max_attempts=max_attempts, run_after=datetime.now(UTC)
    )
    return int(job.id)


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: int
    kind: str
    args: dict[str, Any]
    attempt: int


class JobQueue:
    """Claiming and finishing jobs. Every method is safe to call from any replica."""

    def __init__(
        self,
        worker_name: str,
        backoff_base: float = BACKOFF_BASE_SECONDS,
        lease: timedelta = LEASE,
    ) -> None:
        self.worker_name = worker_name
        self.backoff_base = backoff_base
        self.lease = lease

    async def due(self, limit: int = 100) -> list[tuple[int, int]]:
        """(id, attempts) of jobs ready now: pending and due, or running with a lapsed lease;
        none of a paused queue."""
        now = datetime.now(UTC)
        ready = Q(status="pending", run_after__lte=now) | Q(status="running", lease_until__lt=now)
        rows = (
            await Job.filter(ready & _not_paused())
            .order_by("id")
            .limit(limit)
            .values_list("id", "attempts")
        )
        return [(int(i), int(a)) for i, a in rows]

    async def claim(self, job_id: int) -> ClaimedJob | None:
        """Take the job for this worker, or None when it is not ready, its queue is paused or
        someone else has it."""
        now = datetime.now(UTC)
        ready = Q(status="pending", run_after__lte=now) | Q(status="running", lease_until__lt=now)
        taken = await Job.filter(Q(id=job_id) & ready & _not_paused()).update(
            status="running",
            attempts=F("attempts") + 1,
            lease_until=now + self.lease,
            worker=self.worker_name,
        )
        if not taken:
            return None
        job = await Job.get(id=job_id)
        return ClaimedJob(int(job.id), job.kind, dict(job.args), job.attempts)

    async def progress(self, job_id: int, fraction: float) -> None:
        """Record progress (0..1) and extend the lease: the worker is alive."""
        await Job.filter(id=job_id, worker=self.worker_name).update(
            progress=max(0.0, min(1.0, fraction)), lease_until=datetime.now(UTC) + self.lease
        )

    async def succeed(self, job_id: int) -> None:
        await Job.filter(id=job_id, status="running").update(
            status="succeeded",
            progress=1.0,
            finished_at=datetime.now(UTC),
            lease_until=None,
            last_error=None,
        )

    async def fail(self, job_id: int, error: str) -> str:
        """Schedule a retry with backoff, or mark failed after the last attempt; the new status."""
        job = await Job.get(id=job_id)
        now = datetime.now(UTC)
        if job.status != "running":  # stopped meanwhile (the job service): it stays so
            return job.status
        if job.attempts >= job.max_attempts:
            await Job.filter(id=job_id, status="running").update(
                status="failed", last_error=error[:4000], finished_at=now, lease_until=None
            )
            log.warning("job failed for good", extra={"job": job_id, "kind": job.kind})
            return "failed"
        delay = min(self.backoff_base * 2 ** (job.attempts - 1), BACKOFF_MAX_SECONDS)
        await Job.filter(id=job_id, status="running").update(
            status="pending",
            last_error=error[:4000],
            lease_until=None,
            run_after=now + timedelta(seconds=delay),
        )
        return "pending"

    async def still_mine(self, job_id: int) -> bool:
        """Whether this worker still runs the job: False once it was stopped (the job
        service) or taken over by another worker after a lapsed lease."""
        return await Job.filter(id=job_id, status="running", worker=self.worker_name).exists()
