"""The gc pipelines called directly: a run carried out to its end, a stop asked before it
started, a repeat after the end, and a schedule fire while one runs."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

from core import audit, gc_runs
from core.gc_runs import GcParameters
from core.jobs import ClaimedJob, JobQueue
from core.service import Registry
from models import AuditEvent, GcRun
from pipelines import PipelineContext
from pipelines.gc import execute, gc_pipeline, scheduled_pipeline


class Watcher:
    """What `berth gc` would show: the phases and lines, in order."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def phase(self, name: str, total: int | None) -> None:
        self.seen.append(f"phase {name}")

    async def advance(self, count: int) -> None:
        self.seen.append("advance")

    async def line(self, text: str) -> None:
        self.seen.append(text)


def context(registry: Registry) -> PipelineContext:
    return PipelineContext(registry, JobQueue("test-worker"))


async def test_a_run_is_carried_out_with_its_log_results_and_one_event(
    registry: Registry,
) -> None:
    # Given a dry run asked for by alice, and its job
    run = await gc_runs.create(gc_runs.MANUAL, GcParameters(dry_run=True), "alice")
    job = ClaimedJob(int(run.job_id or 0), "gc", {"run": run.id}, 1)
    # When the job runs, twice (delivery is at least once)
    await gc_pipeline(job, context(registry))
    await gc_pipeline(job, context(registry))
    # Then the run succeeded once, with results, a log and one audit event by alice
    done = await gc_runs.get(run.id)
    assert done.status == "Success"
    assert set(done.results or {}) == {"blobs", "bytes", "manifests", "uploads"}
    assert "started (MANUAL)" in done.log and "window=60s" in done.log
    assert "would free" in done.log
    events = await AuditEvent.filter(resource_type=audit.GARBAGE_COLLECTION)
    assert [(e.username, e.operation) for e in events] == [("alice", "delete")]
    assert "Success (MANUAL): would free" in events[0].description


async def test_a_run_whose_worker_was_killed_is_resumed_by_its_job(registry: Registry) -> None:
    # Given a run a killed worker left Running (its job is claimed again after its lease)
    run = await gc_runs.create(gc_runs.MANUAL, GcParameters(), "admin")
    assert await gc_runs.start(run.id) is not None
    job = ClaimedJob(int(run.job_id or 0), "gc", {"run": run.id}, 2)
    # When the job's next attempt runs
    await gc_pipeline(job, context(registry))
    # Then the run is carried out to its end, saying it was resumed
    done = await gc_runs.get(run.id)
    assert done.status == "Success" and "resumed" in done.log


async def test_a_watcher_sees_the_lines_the_log_gets(registry: Registry) -> None:
    run = await gc_runs.create(gc_runs.CLI, GcParameters(), audit.SYSTEM, enqueue_job=False)
    watcher = Watcher()
    done = await execute(registry, run.id, watcher)
    assert done.status == "Success"
    lines = [s for s in watcher.seen if s != "advance"]
    assert lines[0].startswith(f"garbage collection {run.id} started (CLI)")
    assert lines[-1].startswith("done; freed")
    assert all(line in done.log for line in lines)


async def test_a_run_stopped_before_it_started_does_not_collect(registry: Registry) -> None:
    # Given a running CLI run that was asked to stop before any collecting
    run = await gc_runs.create(gc_runs.CLI, GcParameters(), audit.SYSTEM, enqueue_job=False)
    await gc_runs.request_stop(run.id)
    # When it is carried out
    done = await execute(registry, run.id)
    # Then it is Stopped, having freed nothing
    assert done.status == "Stopped" and done.results == {
        "blobs": 0, "bytes": 0, "manifests": 0, "uploads": 0
    }  # fmt: skip
    assert "stopped before it started" in done.log


async def test_a_stop_asked_while_it_runs_stops_it_at_the_next_check(
    registry: Registry,
) -> None:
    # Given a blob no manifest names, and a window of zero: there is something to sweep
    data = b"an orphan to sweep"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    await registry.uploads.upload_whole("library/stop", "library", digest, chunks(data), None)
    run = await gc_runs.create(gc_runs.CLI, GcParameters(), audit.SYSTEM, enqueue_job=False)

    class StopAtTheSweep(Watcher):
        async def phase(self, name: str, total: int | None) -> None:
            if name == "blobs":  # someone asks for the stop (PUT /system/gc/{id})
                await gc_runs.request_stop(run.id)

    # When the run is carried out
    done = await execute(replace(registry, gc_window=timedelta(0)), run.id, StopAtTheSweep())
    # Then it stops at the engine's next check, with what it freed until then
    assert done.status == "Stopped" and "stopped on request" in done.log
    assert (done.results or {})["blobs"] <= 1


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_a_schedule_fire_while_a_run_is_active_is_skipped(registry: Registry) -> None:
    # Given a run in progress
    active = await gc_runs.create(gc_runs.CLI, GcParameters(), audit.SYSTEM, enqueue_job=False)
    fire = {"type": "Custom", "cron": "0 0 * * * *", "parameters": {"workers": 2}}
    job = ClaimedJob(1, "gc-schedule", fire, 1)
    # When the schedule fires, nothing fails and no run is added
    await scheduled_pipeline(job, context(registry))
    assert await GcRun.all().count() == 1
    # When it fires after the run ended, a SCHEDULE run with its parameters is created
    await gc_runs.finish(active.id, "Success", None)
    await scheduled_pipeline(job, context(registry))
    fired = await GcRun.filter(trigger="SCHEDULE").get()
    assert fired.status == "Pending" and fired.parameters["workers"] == 2
    assert fired.schedule == {"type": "Custom", "cron": "0 0 * * * *"}
