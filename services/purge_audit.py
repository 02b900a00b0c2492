"""The audit log purge from the REST API: run now, stop a run, set or remove the schedule —
the attempts every system job shares (services.system_jobs), with the purge's run kind,
schedule and rights ("purge-audit:…"); a run or schedule must say how old an event must be.
A run's own event, with its count, is written when it ends.
"""

from __future__ import annotations

from core import audit, gc_runs, purge_audit
from core.purge_audit import PURGE, PURGE_SCHEDULE, PurgeParameters
from models import JobRun
from services import system_jobs
from services.attempts import Call


def _check(parameters: gc_runs.RunParameters) -> None:
    assert isinstance(parameters, PurgeParameters)
    purge_audit.require_age(parameters)


PURGE_JOB = system_jobs.SystemJob(
    "purge-audit", audit.PURGE_AUDIT, "audit log purge", PURGE, PURGE_SCHEDULE, _check
)
CREATE, READ = PURGE_JOB.right("create"), PURGE_JOB.right("read")
LIST, UPDATE, STOP = PURGE_JOB.right("list"), PURGE_JOB.right("update"), PURGE_JOB.right("stop")
require = system_jobs.require


async def set_schedule(call: Call, replace: bool) -> JobRun | None:
    """Manual purges now (the run; 409 while one runs), None removes the schedule, any other
    sets it; every type but None needs parameters.audit_retention_hour."""
    return await system_jobs.set_schedule(call, PURGE_JOB, replace)


async def stop(call: Call, run_id: int) -> None:
    """Ask run_id to stop (Harbor's stopPurge). 404 for an unknown run; safe to repeat."""
    await system_jobs.stop(call, PURGE_JOB, run_id)
