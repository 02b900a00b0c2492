"""The job service from the REST API (Harbor's jobservice-monitor): pause, resume or empty
job queues, stop jobs. Each is one attempt (services.attempts): the system-level right
"jobservice-monitor:stop" first, then the body, then the change and its audit event in one
transaction. The reads check "jobservice-monitor:list" (`require`).
"""

from __future__ import annotations

from collections.abc import Iterable

from access.policy import Identity
from core import audit, events, jobservice
from models.values import ParameterInvalid
from services.attempts import Call, attempt
from services.rights import require_system

LIST, STOP = "jobservice-monitor:list", "jobservice-monitor:stop"
ACTIONS = ("stop", "pause", "resume")


def require(identity: Identity, permission: str = LIST) -> None:
    """The rights check of the job service's reads (401 / 403)."""
    require_system(identity, permission)


async def act_on_queue(call: Call, name: str, registered: Iterable[str]) -> list[str]:
    """Harbor's ActionRequest on the queue(s) `name` names (`all`: every one): stop drops
    their pending jobs, pause holds them (nothing is dispatched or claimed) until resume.
    JobTypeUnknown; safe to repeat. The kinds acted on."""
    event = audit.Event(audit.UPDATE, audit.JOB_SERVICE, f"job queue {name[:64]}")
    async with attempt(call, event) as op:
        require_system(op.caller, STOP)
        action = (await op.body()).get("action")
        if not isinstance(action, str) or action.lower() not in ACTIONS:
            raise ParameterInvalid("action", "must be one of stop, pause, resume")
        action = action.lower()
        kinds = jobservice.kinds_named(name, await jobservice.known_kinds(registered))
        if action == "stop":
            dropped = await jobservice.drop_pending(kinds)
            event.description = f"stop: {dropped} pending job(s) dropped"
        else:
            await jobservice.set_paused(kinds, action == "pause")
            event.description = action
        event.resource = "job queue " + ", ".join(jobservice.job_type(k) for k in kinds)
        await events.emit(op.tx, event)
    return kinds


async def stop_job(call: Call, job_id: str) -> list[int]:
    """Harbor's stopRunningJob: the job (`all`: every running one) ends as stopped, a running
    one cancelled by its worker. JobUnknown; safe to repeat. The ids stopped."""
    event = audit.Event(audit.UPDATE, audit.JOB_SERVICE, f"job {job_id[:64]}")
    async with attempt(call, event) as op:
        require_system(op.caller, STOP)
        stopped = await jobservice.stop_jobs(job_id)
        event.description = f"stopped: {', '.join(map(str, stopped)) or 'none'}"
        await events.emit(op.tx, event)
    return stopped
