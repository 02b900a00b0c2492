"""Runs of a one-at-a-time system job, each with its job, its log, its heartbeat and its
results: garbage collection (table gc_run; GC, every function's default kind) and the audit
log purge (table purge_audit_run; core/purge_audit.py). Each function takes the RunKind.

A run is active while it is Pending or Running with a heartbeat younger than
core.gc.RUN_LEASE; a Running run whose heartbeat lapsed died with its process, does not block
a new run, and is marked Error when the next one is created. Creation takes a row lock (the
kind's lease row; SQLite's write lock via core.events.transaction) so that two replicas never
start two runs of a kind at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from tortoise.expressions import Q

from core import audit
from core.blobs import live_run
from core.events import Tx, transaction
from core.gc import MAX_WORKERS, RUN_LEASE, GcOptions, GcResult, GcRunning
from core.jobs import enqueue
from models import GcRun, Job, JobRun, Lease
from models.errors import AlreadyExists, NotFound
from models.values import ParameterInvalid, parse_bool

GC_KIND = "gc"  # the job that runs one collection: args {"run": id}
# A job whose worker was killed is claimed again (the run resumes); a collection that failed
# is recorded as Error and not retried, so few attempts are needed.
GC_MAX_ATTEMPTS = 3
MANUAL, SCHEDULE, START, CLI = "MANUAL", "SCHEDULE", "START", "CLI"
PENDING, RUNNING, SUCCESS, ERROR, STOPPED = "Pending", "Running", "Success", "Error", "Stopped"
FINAL = (SUCCESS, ERROR, STOPPED)
MAX_LOG_CHARS = 1 << 20  # a run's log keeps its first MiB


class GcRunUnknown(NotFound):
    """No run of that id (of the kind asked for)."""

    def __init__(self, run_id: int, label: str = "garbage collection") -> None:
        super().__init__(f"{label} {run_id} not found")
        self.run_id = run_id


class RunActive(AlreadyExists):
    """A run of the kind is still active: one at a time."""

    def __init__(self, run_id: int, label: str) -> None:
        super().__init__(f"{label} {run_id} is still running")
        self.run_id = run_id


class RunParameters(Protocol):
    """What a caller chose for a run, as the run's row keeps it."""

    def as_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class RunKind:
    """One kind of run: its table, the job that carries a run out, the lease row locked
    while one is created, its name in messages, an unfinished run's results."""

    model: type[JobRun]
    job_kind: str
    lock: str
    label: str
    empty_results: Callable[[], dict[str, Any]]
    running: Callable[[int], AlreadyExists]
    max_attempts: int


GC = RunKind(
    GcRun, GC_KIND, "gc", "garbage collection", lambda: GcResult().as_dict(), GcRunning,
    GC_MAX_ATTEMPTS,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class GcParameters:
    """What a caller chooses for a run (Harbor's job parameters)."""

    delete_untagged: bool = False
    dry_run: bool = False
    workers: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "delete_untagged": self.delete_untagged,
            "dry_run": self.dry_run,
            "workers": self.workers,
        }

    def options(self, window: timedelta) -> GcOptions:
        return GcOptions(self.delete_untagged, self.dry_run, self.workers, window)


def parse_parameters(body: object, default_workers: int = 1) -> GcParameters:
    """Harbor's parameters object ({delete_untagged, dry_run, workers}; each optional);
    ParameterInvalid naming the field for anything else."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise ParameterInvalid("parameters", "must be an object")
    unknown = sorted(set(body) - {"delete_untagged", "dry_run", "workers"})
    if unknown:
        raise ParameterInvalid(f"parameters.{unknown[0]}", "is not a GC parameter")
    workers = body.get("workers", default_workers)
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise ParameterInvalid("parameters.workers", f"must be a number from 1 to {MAX_WORKERS}")
    if not 1 <= workers <= MAX_WORKERS:
        raise ParameterInvalid("parameters.workers", f"must be 1..{MAX_WORKERS}")
    return GcParameters(_flag(body, "delete_untagged"), _flag(body, "dry_run"), workers)


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):  # JSON true / false only, as Harbor's schema
        raise ParameterInvalid(f"parameters.{key}", "must be true or false")
    return parse_bool(f"parameters.{key}", value)


def _active(now: datetime) -> Q:
    return Q(status=PENDING) | live_run(now)


async def create(
    trigger: str,
    parameters: RunParameters,
    operator: str,
    enqueue_job: bool = True,
    schedule: dict[str, Any] | None = None,
    tx: Tx | None = None,
    kind: RunKind = GC,
) -> JobRun:
    """A new run, with its job in the same transaction (tx, when the caller has one;
    enqueue_job=False: the caller runs it itself, `berth gc`, and the run starts Running).
    schedule: the {type, cron} that fired it. kind.running (GcRunning) while another run of
    the kind is active; runs that died meanwhile are marked Error. Not safe to repeat (a
    second run)."""
    if tx is not None:
        return await _create(tx, trigger, parameters, operator, enqueue_job, schedule, kind)
    async with transaction() as own:
        return await _create(own, trigger, parameters, operator, enqueue_job, schedule, kind)


async def _create(
    tx: Tx,
    trigger: str,
    parameters: RunParameters,
    operator: str,
    enqueue_job: bool,
    schedule: dict[str, Any] | None,
    kind: RunKind,
) -> JobRun:
    now = datetime.now(UTC)
    lock = [Lease(name=kind.lock, holder="", until=now)]
    await Lease.bulk_create(lock, ignore_conflicts=True, using_db=tx)
    await Lease.filter(name=kind.lock).using_db(tx).select_for_update().first()
    await _bury_dead(tx, now, kind)
    running = await kind.model.filter(_active(now)).using_db(tx).order_by("id").first()
    if running is not None:
        raise kind.running(int(running.id))
    run = await kind.model.create(
        trigger=trigger,
        parameters=parameters.as_dict(),
        operator=operator[:255],
        status=PENDING if enqueue_job else RUNNING,
        heartbeat_at=now,
        schedule=schedule,
        using_db=tx,
    )
    if enqueue_job:
        run.job_id = await enqueue(kind.job_kind, {"run": int(run.id)}, kind.max_attempts)
        await run.save(update_fields=["job_id"], using_db=tx)
    return run


async def _bury_dead(tx: Tx, now: datetime, kind: RunKind) -> None:
    """Mark Error the runs that can no longer end by themselves: Running ones whose heartbeat
    lapsed, and Pending ones whose job gave up before it could start the run."""
    model = kind.model
    dead = Q(status=RUNNING) & (Q(heartbeat_at__lt=now - RUN_LEASE) | Q(heartbeat_at__isnull=True))
    waiting = await model.filter(status=PENDING).using_db(tx).values_list("job_id", flat=True)
    jobs = [j for j in waiting if j is not None]
    if jobs:
        failed = Job.filter(id__in=jobs, status="failed").using_db(tx)
        dead |= Q(status=PENDING, job_id__in=await failed.values_list("id", flat=True))
    for run in await model.filter(dead).using_db(tx):
        note = f"{_stamp(now)} the run's process stopped answering or its job failed: Error"
        await (
            model.filter(id=run.id, status=run.status)
            .using_db(tx)
            .update(
                status=ERROR,
                log=_appended(run.log, note),
                results=kind.empty_results(),
                updated_at=now,
            )
        )


async def active(kind: RunKind = GC) -> JobRun | None:
    """The run that blocks a new one, if any."""
    return await kind.model.filter(_active(datetime.now(UTC))).order_by("id").first()


async def get(run_id: int, kind: RunKind = GC) -> JobRun:
    """The run; GcRunUnknown when there is none."""
    run = await kind.model.get_or_none(id=run_id)
    if run is None:
        raise GcRunUnknown(run_id, kind.label)
    return run


# Status changes set updated_at themselves: an ORM update() does not (Harbor's update_time).


async def history(offset: int, limit: int, kind: RunKind = GC) -> tuple[list[JobRun], int]:
    """A page of runs, newest first, and how many there are."""
    rows = await kind.model.all().order_by("-id").offset(offset).limit(limit)
    return list(rows), await kind.model.all().count()


async def request_stop(run_id: int, kind: RunKind = GC) -> JobRun:
    """Ask the run to stop: a Pending run is Stopped at once (its job will find it final), a
    Running one at its next check. GcRunUnknown; safe to repeat (a final run stays as is)."""
    run = await get(run_id, kind)
    now = datetime.now(UTC)
    if await kind.model.filter(id=run_id, status=PENDING).update(
        status=STOPPED, stop_requested=True, results=kind.empty_results(), updated_at=now
    ):
        await append_log(run_id, f"{_stamp(now)} stopped before it started", kind)
    else:
        await kind.model.filter(id=run_id, status=RUNNING).update(
            stop_requested=True, updated_at=now
        )
    return await get(run.id, kind)


async def start(run_id: int, kind: RunKind = GC) -> JobRun | None:
    """Mark the run Running (again, when a killed attempt is resumed) with a fresh
    heartbeat; None when it is final already (nothing to do). GcRunUnknown."""
    run = await get(run_id, kind)
    if run.status in FINAL:
        return None
    now = datetime.now(UTC)
    await kind.model.filter(id=run_id, status__in=(PENDING, RUNNING)).update(
        status=RUNNING, heartbeat_at=now, updated_at=now
    )
    return await get(run_id, kind)


async def stop_wanted(run_id: int, kind: RunKind = GC) -> bool:
    """True when the run was asked to stop or is no longer Running (marked dead)."""
    row = await kind.model.filter(id=run_id).values_list("status", "stop_requested")
    return not row or row[0][0] != RUNNING or bool(row[0][1])


async def append_log(run_id: int, text: str, kind: RunKind = GC) -> None:
    """Add lines (text ends with a newline or one is added) to the run's log, which keeps
    its first MAX_LOG_CHARS; also a heartbeat. Not idempotent (the lines twice)."""
    run = await get(run_id, kind)
    await kind.model.filter(id=run_id).update(
        log=_appended(run.log, text), heartbeat_at=datetime.now(UTC)
    )


async def heartbeat(run_id: int, kind: RunKind = GC) -> None:
    """The run's process is alive. Safe to repeat."""
    await kind.model.filter(id=run_id, status=RUNNING).update(heartbeat_at=datetime.now(UTC))


async def finish(
    run_id: int,
    status: str,
    results: GcResult | None,
    event: audit.Event | None = None,
    kind: RunKind = GC,
    values: dict[str, Any] | None = None,
) -> bool:
    """Set the final status and results (a GC's results, or values for another kind) of a
    run that is not final yet, and write its one audit event (as the run's operator) in the
    same transaction; False when it already was final (nothing changed: a repeated finish
    is a no-op)."""
    final = values if values is not None else (results or GcResult()).as_dict()
    changes = {"status": status, "results": final, "updated_at": datetime.now(UTC)}
    async with transaction() as tx:
        live = kind.model.filter(id=run_id, status__in=(PENDING, RUNNING)).using_db(tx)
        run = await live.first()
        if run is None or not await live.update(**changes):
            return False
        if event is not None:
            actor = audit.Actor(run.operator or audit.SYSTEM)
            await event.row(status != ERROR, actor).save(using_db=tx)
    return True


def _appended(log: str, text: str) -> str:
    text = text if text.endswith("\n") else text + "\n"
    if len(log) >= MAX_LOG_CHARS:
        return log
    if len(log) + len(text) > MAX_LOG_CHARS:
        return log + text[: MAX_LOG_CHARS - len(log)] + "\n... (log truncated)\n"
    return log + text


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stamp_now() -> str:
    """The time prefix of a log line."""
    return _stamp(datetime.now(UTC))
