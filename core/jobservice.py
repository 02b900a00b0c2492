"""The job service as Harbor's API shows it, over Berth's job table: a queue per job kind
(pending count, latency, paused), the worker pools (processes running jobs, by heartbeat)
and their workers (threads, and the job each runs), a job's log.

A job kind is shown as Harbor names its job type where Harbor has one (`gc` is
GARBAGE_COLLECTION), else upper-cased (`audit-index` is AUDIT_INDEX); either spelling, in
any case, names it in a path.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.functions import Count

from core.errors import NotFound
from core.jobs import SCHEDULER_QUEUE
from models import GcRun, Job, JobQueueState, WorkerPool

ALL = "all"
POOL_BEAT = timedelta(seconds=5)  # how often a pool writes its heartbeat
POOL_ALIVE = timedelta(seconds=30)  # a pool silent this long has stopped
STOPPED = "stopped through the job service"
_HARBOR_TYPES = {
    "gc": "GARBAGE_COLLECTION",
    "replication": "REPLICATION",
    "webhook": "WEBHOOK",
    "audit-purge": "PURGE_AUDIT_LOG",
    "retention-run": "RETENTION",
    SCHEDULER_QUEUE: "SCHEDULER",
}
MAX_JOB_ID = 2**63 - 1


class JobTypeUnknown(NotFound):
    def __init__(self, job_type: str) -> None:
        super().__init__(f"job type {job_type[:64]} not found")


class JobUnknown(NotFound):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id[:64]} not found")


class PoolUnknown(NotFound):
    def __init__(self, pool_id: str) -> None:
        super().__init__(f"worker pool {pool_id[:128]} not found")


def job_type(kind: str) -> str:
    """How Harbor's API names the queue of kind."""
    return _HARBOR_TYPES.get(kind) or kind.upper().replace("-", "_")


async def known_kinds(registered: Iterable[str]) -> set[str]:
    """Every kind a queue exists for: those with a pipeline, the scheduler, and any that has
    rows (a job of a kind this version no longer runs) or a paused queue."""
    kinds = set(registered) | {SCHEDULER_QUEUE}
    pending = await Job.filter(status="pending").distinct().values_list("kind", flat=True)
    queues = await JobQueueState.all().values_list("kind", flat=True)
    kinds |= {str(k) for k in [*pending, *queues]}
    return kinds


def kinds_named(name: str, kinds: set[str]) -> list[str]:
    """The kinds a path's job_type names: every one for `all`; JobTypeUnknown for none."""
    if name.lower() == ALL:
        return sorted(kinds)
    wanted = name.lower().replace("_", "-")
    found = [k for k in kinds if wanted in (k.lower(), job_type(k).lower().replace("_", "-"))]
    if not found:
        raise JobTypeUnknown(name)
    return found


@dataclass(frozen=True, slots=True)
class QueueInfo:
    kind: str
    count: int  # pending jobs
    latency: int  # seconds the oldest due one has waited
    paused: bool

    @property
    def job_type(self) -> str:
        return job_type(self.kind)


async def queues(kinds: set[str]) -> list[QueueInfo]:
    """One queue per kind, by job type."""
    now = datetime.now(UTC)
    counted = (
        await Job.filter(status="pending", kind__in=sorted(kinds))
        .annotate(n=Count("id"))
        .group_by("kind")
        .values_list("kind", "n")
    )
    counts = {str(k): int(n) for k, n in counted}
    paused = set(await JobQueueState.filter(paused=True).values_list("kind", flat=True))
    found = []
    for kind in sorted(kinds, key=job_type):
        latency = 0
        if counts.get(kind):
            oldest = (
                await Job.filter(kind=kind, status="pending", run_after__lte=now)
                .order_by("run_after")
                .first()
            )
            if oldest is not None:
                latency = max(0, int((now - oldest.run_after).total_seconds()))
        found.append(QueueInfo(kind, counts.get(kind, 0), latency, kind in paused))
    return found


async def set_paused(kinds: list[str], paused: bool) -> None:
    """Pause (nothing of those kinds is dispatched or claimed, nor, for the scheduler, does
    any schedule fire) or resume their queues; durable, for every replica. Safe to repeat."""
    rows = [JobQueueState(kind=k, paused=paused) for k in kinds]
    await JobQueueState.bulk_create(rows, ignore_conflicts=True)
    await JobQueueState.filter(kind__in=kinds).update(paused=paused, updated_at=datetime.now(UTC))


async def drop_pending(kinds: list[str]) -> int:
    """End every pending job of those kinds as failed ("stopped"); how many. Safe to repeat."""
    return await Job.filter(kind__in=kinds, status="pending").update(
        status="failed", last_error=STOPPED, finished_at=datetime.now(UTC), lease_until=None
    )


def parse_job_id(text: str) -> int | None:
    """A path's job id: None for `all`, JobUnknown for what is no job id."""
    if text.lower() == ALL:
        return None
    if not text.isdigit() or len(text) > 19 or int(text) > MAX_JOB_ID:
        raise JobUnknown(text)
    return int(text)


async def get_job(text: str) -> Job:
    job_id = parse_job_id(text)
    job = await Job.get_or_none(id=job_id) if job_id is not None else None
    if job is None:
        raise JobUnknown(text)
    return job


async def stop_jobs(text: str) -> list[int]:
    """Stop the job the path names (pending or running; a finished one stays as it is), or
    every running job for `all`: marked failed ("stopped"), and a running one is cancelled
    by its worker within a second (pipelines.run_job). The ids stopped."""
    now = datetime.now(UTC)
    live = Job.filter(status__in=("pending", "running"))
    if (job_id := parse_job_id(text)) is None:
        live = Job.filter(status="running")
    else:
        await get_job(text)
        live = live.filter(id=job_id)
    ids = [int(str(i)) for i in await live.values_list("id", flat=True)]
    if ids:
        await Job.filter(id__in=ids, status__in=("pending", "running")).update(
            status="failed", last_error=STOPPED, finished_at=now, lease_until=None
        )
    return ids


async def job_log(text: str) -> str:
    """The log of a job: what its row says happened, and the run log of a GC job."""
    job = await get_job(text)
    lines = [
        f"{_stamp(job.created_at)} job {job.id} ({job_type(job.kind)}) enqueued,"
        f" at most {job.max_attempts} attempts",
        f"{_stamp(job.updated_at)} status {job.status}, attempts {job.attempts},"
        f" progress {round(job.progress * 100)}%"
        + (f", worker {job.worker}" if job.worker else ""),
    ]
    if job.last_error:
        lines.append(f"last error: {job.last_error}")
    if job.finished_at is not None:
        lines.append(f"{_stamp(job.finished_at)} finished")
    run = await GcRun.filter(job_id=job.id).first()
    if run is not None and run.log:
        lines.append(f"--- garbage collection {run.id} ---")
        lines.append(run.log.rstrip("\n"))
    return "\n".join(lines) + "\n"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- worker pools ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PoolBeat:
    """What a process running jobs says of itself at each heartbeat."""

    pool_id: str  # the JobQueue's worker name, host:pid
    host: str
    pid: int
    concurrency: int
    embedded: bool
    started_at: datetime
    running: dict[int, datetime]  # job id -> when this process started it


async def beat(pool: PoolBeat) -> None:
    """Record the pool's heartbeat (and forget pools silent for a day). Safe to repeat."""
    now = datetime.now(UTC)
    running = {str(k): v.isoformat() for k, v in pool.running.items()}
    row = WorkerPool(
        id=pool.pool_id,
        host=pool.host[:255],
        pid=pool.pid,
        concurrency=pool.concurrency,
        embedded=pool.embedded,
        started_at=pool.started_at,
        heartbeat_at=now,
        running=running,
    )
    await WorkerPool.bulk_create([row], ignore_conflicts=True)  # write first (SQLite)
    await WorkerPool.filter(id=pool.pool_id).update(
        heartbeat_at=now, running=running, concurrency=pool.concurrency
    )
    await WorkerPool.filter(heartbeat_at__lt=now - timedelta(days=1)).delete()


async def drop_pool(pool_id: str) -> None:
    """The pool stopped (its process ends): no longer listed."""
    await WorkerPool.filter(id=pool_id).delete()


async def pools() -> list[WorkerPool]:
    """The pools whose heartbeat is recent, oldest first."""
    alive = datetime.now(UTC) - POOL_ALIVE
    return await WorkerPool.filter(heartbeat_at__gte=alive).order_by("started_at", "id")


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """One thread of a pool, and the job it runs (None: idle)."""

    id: str
    pool_id: str
    job: Job | None = None
    started_at: datetime | None = None


async def workers(pool_id: str) -> list[WorkerInfo]:
    """The workers of a live pool, or of every one for `all`; PoolUnknown otherwise."""
    live = await pools()
    chosen = live if pool_id.lower() == ALL else [p for p in live if p.id == pool_id]
    if not chosen:
        raise PoolUnknown(pool_id)
    now = datetime.now(UTC)
    found = []
    for pool in chosen:
        running = await Job.filter(status="running", worker=pool.id, lease_until__gte=now).order_by(
            "id"
        )
        for slot in range(max(pool.concurrency, len(running))):
            job = running[slot] if slot < len(running) else None
            started = _parsed(pool.running.get(str(job.id))) if job is not None else None
            found.append(WorkerInfo(f"{pool.id}#{slot}", pool.id, job, started))
    return found


def _parsed(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
