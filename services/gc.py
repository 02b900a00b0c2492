"""Garbage collection from the REST API: run now, stop a run, set or remove the schedule.

Each is one attempt (services.attempts): the system-level right first
("garbage-collection:create" / "update" / "stop"), then the body, then the change and its
audit event in one transaction. A run's own event, with its results, is written when it
ends (pipelines/gc.py).
"""

from __future__ import annotations

from access.policy import Identity
from core import audit, events, gc_runs, gc_schedule
from models import JobRun, Schedule
from services.attempts import Call, attempt
from services.rights import require_system

CREATE, READ = "garbage-collection:create", "garbage-collection:read"
LIST, UPDATE = "garbage-collection:list", "garbage-collection:update"
STOP = "garbage-collection:stop"


def require(identity: Identity, permission: str) -> None:
    """The rights check of the GC reads (401 / 403)."""
    require_system(identity, permission)


async def set_schedule(call: Call, replace: bool) -> JobRun | None:
    """Harbor's Schedule body: type Manual starts a run now (the run; GcRunning while one
    runs), None removes the schedule, any other sets it (replace=False, POST: ScheduleExists
    when one is set). Not safe to repeat for Manual (each starts a run)."""
    event = audit.Event(audit.UPDATE, audit.GARBAGE_COLLECTION, "garbage collection schedule")
    async with attempt(call, event) as op:
        require_system(op.caller, CREATE if not replace else UPDATE)
        request = gc_schedule.parse_request(await op.body())
        if request.type == gc_schedule.MANUAL:
            return await _run_now(op.tx, op.caller, request, event)
        before = described(await gc_schedule.get_schedule())
        row = await gc_schedule.set_schedule(request, replace)
        event.operation = audit.DELETE if row is None else audit.UPDATE
        event.description = audit.changes(before, described(row))
        await events.emit(op.tx, event)
    return None


def described(row: Schedule | None) -> dict[str, object]:
    """A schedule as its audit event describes a change of it."""
    shape = gc_schedule.schedule_shape(row)
    parameters = row.args.get("parameters") if row is not None else None
    described: dict[str, object] = {"type": shape["type"], "cron": shape["cron"]}
    if isinstance(parameters, dict):
        described.update(parameters)
    return described


async def _run_now(
    tx: events.Tx, caller: Identity, request: gc_schedule.ScheduleRequest, event: audit.Event
) -> JobRun:
    event.operation = audit.CREATE
    operator = caller.username or audit.SYSTEM
    run = await gc_runs.create(gc_runs.MANUAL, request.parameters, operator, tx=tx)
    event.resource = f"garbage collection {run.id}"
    event.description = ", ".join(f"{k}: {v}" for k, v in request.parameters.as_dict().items())
    await events.emit(tx, event)
    return run


async def stop(call: Call, run_id: int) -> None:
    """Ask run_id to stop (Harbor's StopGCByID). GcRunUnknown; safe to repeat."""
    event = audit.Event(
        audit.UPDATE, audit.GARBAGE_COLLECTION, f"garbage collection {run_id}",
        description="stop requested",
    )  # fmt: skip
    async with attempt(call, event) as op:
        require_system(op.caller, STOP)
        await gc_runs.request_stop(run_id)
        await events.emit(op.tx, event)
