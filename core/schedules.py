"""Cron triggers with exactly one active scheduler among any number of replicas.

Each replica tries to hold the scheduler lease; the holder fires due schedules. Firing is a
compare-and-set on the schedule's last fire time in the same transaction as the job it
enqueues, so even two schedulers overlapping for a moment enqueue each fire once.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import CroniterBadDateError, croniter
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from core.jobs import SCHEDULER_QUEUE, enqueue, queue_paused
from models import Lease, Schedule
from models.values import ParameterInvalid

SCHEDULER = "scheduler"
MAX_CRON = 100  # characters of a cron a caller may send


class ScheduleInvalid(ValueError):
    """A cron expression that does not parse."""


def cron_problem(cron: str) -> str | None:
    """Why cron cannot drive a schedule (not a cron expression, or one that never fires,
    such as February 31st); None when it can."""
    if not croniter.is_valid(cron):
        return "is not a valid cron expression"
    try:
        croniter(cron, datetime.now(UTC)).get_next(datetime)
    except CroniterBadDateError:
        return "never fires"
    return None


def harbor_cron(cron: str, field: str) -> str:
    """croniter's spelling of a Harbor cron (six fields, seconds first: "0 0 0 * * *") or a
    classic one (five fields, minute first); ParameterInvalid naming field when it is
    neither, or never fires. (croniter puts the seconds of a six-field cron last.)"""
    fields = cron.split()
    if len(cron) > MAX_CRON or len(fields) not in (5, 6):
        raise ParameterInvalid(field, "must have 6 fields (seconds first, '0 0 0 * * *') or 5")
    native = " ".join(fields if len(fields) == 5 else [*fields[1:], fields[0]])
    if problem := cron_problem(native):
        raise ParameterInvalid(field, f"{cron!r} {problem}")
    return native


async def ensure_schedules(defaults: dict[str, tuple[str, str, dict[str, Any]]]) -> None:
    """Create the configured schedules (name -> (cron, kind, args)) that do not exist yet."""
    now = datetime.now(UTC)
    for name, (cron, _kind, _args) in defaults.items():
        if problem := cron_problem(cron):
            raise ScheduleInvalid(f"schedule {name}: {cron!r} {problem}")
    await Schedule.bulk_create(
        [
            Schedule(name=n, cron=c, kind=k, args=a, last_fire=now)
            for n, (c, k, a) in defaults.items()
        ],
        ignore_conflicts=True,
    )


async def hold_lease(name: str, holder: str, ttl: timedelta) -> bool:
    """Take or renew the lease `name` for holder; False while another holder's is alive."""
    now = datetime.now(UTC)
    await Lease.bulk_create(
        [Lease(name=name, holder="", until=now - timedelta(days=1))], ignore_conflicts=True
    )
    taken = await Lease.filter(Q(name=name) & (Q(holder=holder) | Q(until__lt=now))).update(
        holder=holder, until=now + ttl
    )
    return bool(taken)


async def fire_due(now: datetime | None = None) -> list[str]:
    """Enqueue one job for every enabled schedule whose next fire time has come; none while
    the scheduler's queue is paused (a fire missed meanwhile comes once, on resume)."""
    now = now or datetime.now(UTC)
    fired: list[str] = []
    if await queue_paused(SCHEDULER_QUEUE):  # paused by an admin: fires are held back
        return fired
    for schedule in await Schedule.filter(enabled=True):
        due = croniter(schedule.cron, schedule.last_fire).get_next(datetime)
        if due > now:
            continue
        async with in_transaction():
            won = await Schedule.filter(name=schedule.name, last_fire=schedule.last_fire).update(
                last_fire=now
            )
            if won:
                await enqueue(schedule.kind, dict(schedule.args))
                fired.append(schedule.name)
    return fired


# Harbor's vendor types of the schedules Berth keeps, by name (a name "<prefix>-<id>" is the
# schedule of the object with that id, such as a replication policy's).
_VENDOR_TYPES = {
    "gc": "GARBAGE_COLLECTION",
    "audit-purge": "PURGE_AUDIT_LOG",
    "replication": "REPLICATION",
    "retention": "RETENTION",
    "scrub": "SCRUB",
}


@dataclass(frozen=True, slots=True)
class ScheduleTask:
    """A schedule as Harbor's /schedules lists it."""

    id: int
    vendor_type: str
    vendor_id: int
    cron: str  # Harbor's spelling: six fields, seconds first
    update_time: datetime
    extra_attrs: dict[str, Any]


def schedule_task(row: Schedule) -> ScheduleTask:
    prefix, _, tail = row.name.rpartition("-")
    if prefix and tail.isdigit():
        vendor, vendor_id = prefix, int(tail)
    else:
        vendor, vendor_id = row.name, -1
    kind = _VENDOR_TYPES.get(vendor) or vendor.upper().replace("-", "_")
    fields = row.cron.split()
    cron = " ".join([fields[5], *fields[:5]] if len(fields) == 6 else ["0", *fields])
    # a stable id for a row whose key is its name
    task_id = zlib.crc32(row.name.encode()) & 0x7FFFFFFF
    return ScheduleTask(task_id, kind, vendor_id, cron, row.updated_at, dict(row.args))


async def listing(offset: int, limit: int) -> tuple[list[ScheduleTask], int]:
    """A page of the enabled schedules, by name, and how many there are."""
    enabled = Schedule.filter(enabled=True)
    total = await enabled.count()
    rows = await enabled.order_by("name").offset(offset).limit(limit)
    return [schedule_task(r) for r in rows], total
