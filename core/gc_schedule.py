"""The schedule of a one-at-a-time system job: one row in the schedule table (core.schedules
fires it), whose job creates a run through core.gc_runs.create like any other. A JobSchedule
names the row, the job and the job's parameters: GC_SCHEDULE ("gc", "gc-schedule"), every
function's default, and core.purge_audit's.

Harbor's schedule types: Hourly, Daily, Weekly (fixed crons), Custom (the caller's cron),
Manual (run now; no schedule), None (no schedule). Harbor writes crons with six fields,
seconds first ("0 0 0 * * *"); five fields (minute first) are taken too. The schedule table
holds croniter's spelling (six fields put seconds last), the row's args the caller's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from croniter import croniter

from core.gc_runs import RunParameters, parse_parameters
from core.schedules import harbor_cron
from models import Schedule
from models.errors import AlreadyExists
from models.values import ParameterInvalid, api_time

SCHEDULE_NAME = "gc"
FIRE_KIND = "gc-schedule"  # the job a fire enqueues: args {"type", "cron", "parameters"}
HOURLY, DAILY, WEEKLY, CUSTOM, MANUAL, NONE = (
    "Hourly", "Daily", "Weekly", "Custom", "Manual", "None"
)  # fmt: skip
TYPES = (HOURLY, DAILY, WEEKLY, CUSTOM, MANUAL, NONE)
FIXED = {HOURLY: "0 0 * * * *", DAILY: "0 0 0 * * *", WEEKLY: "0 0 0 * * 0"}


@dataclass(frozen=True, slots=True)
class ScheduleRequest:
    """Harbor's Schedule body: {"schedule": {"type", "cron"}, "parameters": {...}}."""

    type: str
    cron: str  # as the caller wrote it ("" for Manual and None)
    parameters: RunParameters


@dataclass(frozen=True, slots=True)
class JobSchedule:
    """One job's schedule: its row's name, the job a fire enqueues, how its parameters are
    read, and its name in messages."""

    name: str
    fire_kind: str
    parse_parameters: Callable[[object], RunParameters]
    label: str


GC_SCHEDULE = JobSchedule(SCHEDULE_NAME, FIRE_KIND, parse_parameters, "garbage-collection")


def parse_request(body: dict[str, Any], job: JobSchedule = GC_SCHEDULE) -> ScheduleRequest:
    """The schedule a body asks for; ParameterInvalid naming the field otherwise."""
    schedule = body.get("schedule")
    if not isinstance(schedule, dict):
        raise ParameterInvalid("schedule", "must be an object with a type")
    kind = schedule.get("type")
    if kind not in TYPES:
        raise ParameterInvalid("schedule.type", f"must be one of {', '.join(TYPES)}")
    parameters = job.parse_parameters(body.get("parameters"))
    if kind in FIXED:
        return ScheduleRequest(kind, FIXED[kind], parameters)
    if kind != CUSTOM:
        return ScheduleRequest(kind, "", parameters)
    cron = schedule.get("cron")
    if not isinstance(cron, str) or not cron.strip():
        raise ParameterInvalid("schedule.cron", "is required for a Custom schedule")
    table_cron(cron)  # valid, or ParameterInvalid
    return ScheduleRequest(kind, " ".join(cron.split()), parameters)


def table_cron(cron: str) -> str:
    """croniter's spelling of a Harbor (six fields, seconds first) or classic (five fields)
    cron; ParameterInvalid when it is neither."""
    return harbor_cron(cron, "schedule.cron")


async def set_schedule(
    request: ScheduleRequest, replace: bool, job: JobSchedule = GC_SCHEDULE
) -> Schedule | None:
    """Write (or, for None, remove) the schedule; replace=False refuses to replace one that
    exists (ScheduleExists). The stored row, or None when removed. Safe to repeat."""
    if request.type == NONE:
        await Schedule.filter(name=job.name).delete()
        return None
    existing = await Schedule.get_or_none(name=job.name)
    if existing is not None and not replace:
        raise ScheduleExists(job.label)
    args = {
        "type": request.type,
        "cron": request.cron,
        "parameters": request.parameters.as_dict(),
        "created": existing.args.get("created") if existing else api_time(datetime.now(UTC)),
    }
    cron = table_cron(request.cron)
    now = datetime.now(UTC)
    if existing is None:
        return await Schedule.create(
            name=job.name, cron=cron, kind=job.fire_kind, args=args, last_fire=now
        )
    existing.cron, existing.args, existing.last_fire, existing.enabled = cron, args, now, True
    await existing.save()
    return existing


async def get_schedule(job: JobSchedule = GC_SCHEDULE) -> Schedule | None:
    return await Schedule.get_or_none(name=job.name)


def next_fire(row: Schedule, now: datetime | None = None) -> datetime:
    """When the schedule fires next."""
    start = max(row.last_fire, now or datetime.now(UTC))
    moment: datetime = croniter(row.cron, start).get_next(datetime)
    return moment


def schedule_shape(row: Schedule | None) -> dict[str, Any]:
    """Harbor's ScheduleObj: {type, cron, next_scheduled_time}."""
    if row is None:
        return {"type": NONE, "cron": "", "next_scheduled_time": None}
    return {
        "type": row.args.get("type", CUSTOM),
        "cron": row.args.get("cron", row.cron),
        "next_scheduled_time": api_time(next_fire(row)),
    }


class ScheduleExists(AlreadyExists):
    def __init__(self, label: str = "garbage-collection") -> None:
        super().__init__(f"a {label} schedule exists already: change it with PUT")
