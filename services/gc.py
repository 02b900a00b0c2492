"""Garbage collection from the REST API: run now, stop a run, set or remove the schedule —
the attempts every system job shares (services.system_jobs), with GC's run kind, schedule and
rights. A run's own event, with its results, is written when it ends (pipelines/gc.py).
"""

from __future__ import annotations

from core import audit, gc_runs, gc_schedule
from models import JobRun
from services import system_jobs
from services.attempts import Call

GC = system_jobs.SystemJob(
    "garbage-collection", audit.GARBAGE_COLLECTION, "garbage collection",
    gc_runs.GC, gc_schedule.GC_SCHEDULE,
)  # fmt: skip
CREATE, READ = GC.right("create"), GC.right("read")
LIST, UPDATE, STOP = GC.right("list"), GC.right("update"), GC.right("stop")
require = system_jobs.require


async def set_schedule(call: Call, replace: bool) -> JobRun | None:
    """Manual starts a run now (GcRunning while one runs), None removes the schedule, any
    other sets it (system_jobs.set_schedule)."""
    return await system_jobs.set_schedule(call, GC, replace)


async def stop(call: Call, run_id: int) -> None:
    """Ask run_id to stop (Harbor's StopGCByID). GcRunUnknown; safe to repeat."""
    await system_jobs.stop(call, GC, run_id)
