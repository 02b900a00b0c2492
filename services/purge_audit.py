"""The audit log purge from the REST API: run now, stop a run, set or remove the schedule.

The same attempts as garbage collection's (services/gc.py), over the same run and schedule
machinery (core.gc_runs, core.gc_schedule) with the purge's kind: the system-level right
("purge-audit:create" / "update" / "stop") first, then the body, then the change and its
audit event in one transaction. A run's own event, with its count, is written when it ends.
"""

from __future__ import annotations

from access.policy import Identity
from core import audit, events, gc_runs, gc_schedule, purge_audit
from core.purge_audit import PURGE, PURGE_SCHEDULE, PurgeParameters
from models import JobRun
from services.attempts import Call, attempt
from services.gc import described
from services.rights import require_system

CREATE, READ = "purge-audit:create", "purge-audit:read"
LIST, UPDATE = "purge-audit:list", "purge-audit:update"
STOP = "purge-audit:stop"


def require(identity: Identity, permission: str) -> None:
    """The rights check of the purge reads (401 / 403)."""
    require_system(identity, permission)


async def set_schedule(call: Call, replace: bool) -> JobRun | None:
    """Harbor's Schedule body: type Manual purges now (the run; 409 while one runs), None
    removes the schedule, any other sets it (replace=False, POST: 409 when one is set). Every
    type but None needs parameters.audit_retention_hour."""
    event = audit.Event(audit.UPDATE, audit.PURGE_AUDIT, "audit log purge schedule")
    async with attempt(call, event) as op:
        require_system(op.caller, CREATE if not replace else UPDATE)
        request = gc_schedule.parse_request(await op.body(), PURGE_SCHEDULE)
        if request.type != gc_schedule.NONE:
            assert isinstance(request.parameters, PurgeParameters)
            purge_audit.require_age(request.parameters)
        if request.type == gc_schedule.MANUAL:
            return await _run_now(op.tx, op.caller, request.parameters, event)
        before = described(await gc_schedule.get_schedule(PURGE_SCHEDULE))
        row = await gc_schedule.set_schedule(request, replace, PURGE_SCHEDULE)
        event.operation = audit.DELETE if row is None else audit.UPDATE
        event.description = audit.changes(before, described(row))
        await events.emit(op.tx, event)
    return None


async def _run_now(
    tx: events.Tx, caller: Identity, parameters: gc_runs.RunParameters, event: audit.Event
) -> JobRun:
    event.operation = audit.CREATE
    operator = caller.username or audit.SYSTEM
    run = await gc_runs.create(gc_runs.MANUAL, parameters, operator, tx=tx, kind=PURGE)
    event.resource = f"audit log purge {run.id}"
    event.description = ", ".join(f"{k}: {v}" for k, v in parameters.as_dict().items())
    await events.emit(tx, event)
    return run


async def stop(call: Call, run_id: int) -> None:
    """Ask run_id to stop (Harbor's stopPurge). 404 for an unknown run; safe to repeat."""
    event = audit.Event(
        audit.UPDATE, audit.PURGE_AUDIT, f"audit log purge {run_id}",
        description="stop requested",
    )  # fmt: skip
    async with attempt(call, event) as op:
        require_system(op.caller, STOP)
        await gc_runs.request_stop(run_id, PURGE)
        await events.emit(op.tx, event)
