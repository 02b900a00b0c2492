"""The REST API's attempts on a one-at-a-time system job — garbage collection, the audit log
purge: run now, stop a run, set or remove the schedule.

Each is one attempt (services.attempts): the job's system-level right first
("<rights>:create" / "update" / "stop"), then the body, then the change and its audit event
in one transaction. A run's own event, with its results, is written when it ends (its
pipeline). One `SystemJob` names what differs between the jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from access.policy import Identity
from core import audit, events, gc_runs, gc_schedule
from models import JobRun, Schedule
from services.attempts import Call, attempt
from services.rights import require_system


@dataclass(frozen=True, slots=True)
class SystemJob:
    rights: str  # its system permissions' resource ("garbage-collection")
    resource_type: str  # its audit events' resource type
    label: str  # how its events name it: "<label> schedule", "<label> <run id>"
    kind: gc_runs.RunKind
    schedule: gc_schedule.JobSchedule
    # what the parameters of a run or a schedule must also satisfy (raises InvalidInput)
    check: Callable[[gc_runs.RunParameters], None] | None = None

    def right(self, action: str) -> str:
        """The system permission of an action on the job ("garbage-collection:stop")."""
        return f"{self.rights}:{action}"


def require(identity: Identity, permission: str) -> None:
    """The rights check of a system job's reads (401 / 403)."""
    require_system(identity, permission)


async def set_schedule(call: Call, job: SystemJob, replace: bool) -> JobRun | None:
    """Harbor's Schedule body: type Manual starts a run now (the run; a conflict while one
    runs), None removes the schedule, any other sets it (replace=False, POST: ScheduleExists
    when one is set). Not safe to repeat for Manual (each starts a run)."""
    event = audit.Event(audit.UPDATE, job.resource_type, f"{job.label} schedule")
    async with attempt(call, event) as op:
        require_system(op.caller, job.right("update" if replace else "create"))
        request = gc_schedule.parse_request(await op.body(), job.schedule)
        if request.type != gc_schedule.NONE and job.check is not None:
            job.check(request.parameters)
        if request.type == gc_schedule.MANUAL:
            return await _run_now(op.tx, op.caller.username, job, request, event)
        before = described(await gc_schedule.get_schedule(job.schedule))
        row = await gc_schedule.set_schedule(request, replace, job.schedule)
        event.operation = audit.DELETE if row is None else audit.UPDATE
        event.description = audit.changes(before, described(row))
        await events.emit(op.tx, event)
    return None


async def stop(call: Call, job: SystemJob, run_id: int) -> None:
    """Ask run_id to stop (Harbor's StopGCByID, stopPurge). The kind's unknown-run error;
    safe to repeat."""
    event = audit.Event(
        audit.UPDATE, job.resource_type, f"{job.label} {run_id}", description="stop requested"
    )
    async with attempt(call, event) as op:
        require_system(op.caller, job.right("stop"))
        await gc_runs.request_stop(run_id, job.kind)
        await events.emit(op.tx, event)


def described(row: Schedule | None) -> dict[str, object]:
    """A schedule as its audit event describes a change of it."""
    shape = gc_schedule.schedule_shape(row)
    parameters = row.args.get("parameters") if row is not None else None
    described: dict[str, object] = {"type": shape["type"], "cron": shape["cron"]}
    if isinstance(parameters, dict):
        described.update(parameters)
    return described


async def _run_now(
    tx: events.Tx,
    username: str | None,
    job: SystemJob,
    request: gc_schedule.ScheduleRequest,
    event: audit.Event,
) -> JobRun:
    event.operation = audit.CREATE
    operator = username or audit.SYSTEM
    run = await gc_runs.create(gc_runs.MANUAL, request.parameters, operator, tx=tx, kind=job.kind)
    event.resource = f"{job.label} {run.id}"
    event.description = ", ".join(f"{k}: {v}" for k, v in request.parameters.as_dict().items())
    await events.emit(tx, event)
    return run
