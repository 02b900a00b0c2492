"""Garbage-collection jobs: "gc" runs one collection (args {"run": id}); "gc-schedule" is
what the gc schedule fires, and creates a run the way every trigger does.

`execute` is the one way a run is carried out, by a worker's job or by `berth gc` in its own
process: it marks the run Running, hands core.gc.collect a reporter that writes the run's log
(buffered, about once a second), its heartbeat and the job's progress, and answers
should_stop from the run's stop_requested; then it records the final status, results and
the run's one audit event. A run already final is left alone, so a job delivered twice, or
claimed again after its worker was killed, does no harm (a killed run is resumed: collect is
safe to repeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from core import audit, gc, gc_runs, gc_schedule
from core.gc import GcResult, GcRunning, GcStopped
from core.jobs import ClaimedJob
from core.service import Registry
from models import JobRun
from pipelines import PipelineContext, pipeline

log = logging.getLogger("berth.gc")

FLUSH_SECONDS = 1.0  # log lines, heartbeat and job progress are written this often
STOP_POLL_SECONDS = 1.0  # should_stop reads the run at most this often
# The engine's phases (manifests only with delete_untagged), for the job's progress fraction
PHASES = ("manifests", "blobs", "uploads")
Progress = Callable[[float], Awaitable[None]]


class GcWatcher(Protocol):
    """Someone watching a run as it goes (`berth gc`'s progress bars)."""

    async def phase(self, name: str, total: int | None) -> None: ...

    async def advance(self, count: int) -> None: ...

    async def line(self, text: str) -> None: ...


async def _stopped(job: ClaimedJob, context: PipelineContext) -> None:
    """The run's job was stopped through the job service: the run ends Stopped."""
    await interrupted(int(str(job.args["run"])))


@pipeline(gc_runs.GC_KIND, on_stop=_stopped)
async def gc_pipeline(job: ClaimedJob, context: PipelineContext) -> None:
    """Carry out the run args.run names (nothing when it is final already)."""

    async def progress(fraction: float) -> None:
        await context.queue.progress(job.id, fraction)

    await execute(context.registry, int(str(job.args["run"])), progress=progress)


@pipeline(gc_schedule.FIRE_KIND)
async def scheduled_pipeline(job: ClaimedJob, context: PipelineContext) -> None:
    """A fire of the gc schedule: a new run (trigger SCHEDULE), or nothing but a log line
    when one is still running."""
    parameters = gc_runs.parse_parameters(job.args.get("parameters"))
    schedule = {"type": job.args.get("type"), "cron": job.args.get("cron")}
    try:
        run = await gc_runs.create(gc_runs.SCHEDULE, parameters, audit.SYSTEM, schedule=schedule)
    except GcRunning as exc:
        log.info("scheduled garbage collection skipped: one is running", extra={"run": exc.run_id})
        return
    log.info("scheduled garbage collection created", extra={"run": run.id})


async def execute(
    registry: Registry,
    run_id: int,
    watcher: GcWatcher | None = None,
    progress: Progress | None = None,
) -> JobRun:
    """Carry out the run, to a final status; the run as it ended. GcRunUnknown. Safe to
    repeat: a final run is returned as it is, a Running one (its process died) resumed."""
    before = await gc_runs.get(run_id)
    run = await gc_runs.start(run_id)
    if run is None:
        return before
    reporter = RunReporter(run_id, watcher, progress)
    if before.status == gc_runs.RUNNING and before.trigger != gc_runs.CLI:
        await reporter.line("resumed: the previous attempt's worker stopped")
    beat = asyncio.create_task(reporter.keep_alive())
    try:
        status, result, error = await _collect(registry, run, reporter)
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
    await reporter.flush()
    await gc_runs.finish(run_id, status, result, _event(run, status, result, error))
    return await gc_runs.get(run_id)


async def interrupted(run_id: int) -> None:
    """The process carrying out the run stops before the run ended (^C on `berth gc`): the
    run is Stopped now rather than blocking the next until its heartbeat lapses."""
    run = await gc_runs.get(run_id)
    await gc_runs.append_log(run_id, f"{gc_runs.stamp_now()} interrupted")
    event = _event(run, gc_runs.STOPPED, GcResult(), "interrupted")
    await gc_runs.finish(run_id, gc_runs.STOPPED, None, event)


async def _collect(
    registry: Registry, run: JobRun, reporter: RunReporter
) -> tuple[str, GcResult, str]:
    """(final status, results, error text) of one collection."""
    if run.stop_requested:
        await reporter.line("stopped before it started")
        return gc_runs.STOPPED, GcResult(), ""
    parameters = gc_runs.parse_parameters(run.parameters)
    options = parameters.options(registry.gc_window)
    await reporter.line(
        f"garbage collection {run.id} started ({run.trigger}): delete_untagged="
        f"{options.delete_untagged} dry_run={options.dry_run} workers={options.workers}"
        f" window={int(options.window.total_seconds())}s"
    )
    try:
        result = await gc.collect(registry.storage, int(run.id), options, reporter)
    except GcStopped as stopped:
        await reporter.line(f"stopped on request; {_freed(stopped.result, options.dry_run)}")
        return gc_runs.STOPPED, stopped.result, ""
    except Exception as exc:
        log.warning("garbage collection failed", extra={"run": run.id}, exc_info=True)
        error = f"{type(exc).__name__}: {exc}"
        await reporter.line(f"failed: {error}")
        return gc_runs.ERROR, GcResult(), error
    await reporter.line(f"done; {_freed(result, options.dry_run)}")
    return gc_runs.SUCCESS, result, ""


def _freed(result: GcResult, dry_run: bool) -> str:
    verb = "would free" if dry_run else "freed"
    return (
        f"{verb} {result.bytes} bytes: {result.blobs} blobs, {result.manifests} untagged"
        f" manifests, {result.uploads} abandoned uploads"
    )


def _event(run: JobRun, status: str, result: GcResult, error: str) -> audit.Event:
    """The run's one audit event, with its results."""
    dry_run = bool(run.parameters.get("dry_run"))
    description = f"{status} ({run.trigger}): {_freed(result, dry_run)}"
    if error:
        description += f"; {error}"
    return audit.Event(
        audit.DELETE, audit.GARBAGE_COLLECTION, f"garbage collection {run.id}",
        description=description,
    )  # fmt: skip


class RunReporter:
    """core.gc's GcReporter for one run: log lines to the run (buffered), progress to the
    job, the stop request from the run; a watcher, if any, sees every call at once."""

    def __init__(self, run_id: int, watcher: GcWatcher | None, progress: Progress | None) -> None:
        self.run_id = run_id
        self.watcher = watcher
        self.progress = progress
        self.pending: list[str] = []
        self.phase_index, self.total, self.done = -1, 0, 0
        self._stop, self._stop_read = False, 0.0

    async def phase(self, name: str, total: int | None) -> None:
        index = PHASES.index(name) if name in PHASES else self.phase_index + 1
        self.phase_index, self.total, self.done = index, total or 0, 0
        self._note(f"phase {name}" + ("" if total is None else f": {total} items"))
        if self.watcher is not None:
            await self.watcher.phase(name, total)

    async def advance(self, count: int) -> None:
        self.done += count
        if self.watcher is not None:
            await self.watcher.advance(count)

    async def line(self, text: str) -> None:
        self._note(text)
        if self.watcher is not None:
            await self.watcher.line(text)

    def _note(self, text: str) -> None:
        self.pending.append(f"{gc_runs.stamp_now()} {text}")

    async def should_stop(self) -> bool:
        if time.monotonic() - self._stop_read >= STOP_POLL_SECONDS:
            self._stop = await gc_runs.stop_wanted(self.run_id)
            self._stop_read = time.monotonic()
        return self._stop

    def fraction(self) -> float:
        """How far the run is: by phase, and within the phase by its items."""
        within = min(self.done / self.total, 1.0) if self.total else 0.0
        return max(0.0, min(1.0, (self.phase_index + within) / len(PHASES)))

    async def flush(self) -> None:
        """Write the buffered lines (with a heartbeat) and the job's progress."""
        lines = list(self.pending)
        if lines:
            await gc_runs.append_log(self.run_id, "\n".join(lines))
            del self.pending[: len(lines)]
        else:
            await gc_runs.heartbeat(self.run_id)
        if self.progress is not None:
            await self.progress(self.fraction())

    async def keep_alive(self) -> None:
        """Flush every FLUSH_SECONDS until cancelled; a failed write is retried next time."""
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                await self.flush()
            except Exception:
                log.warning("could not write the run's log", extra={"run": self.run_id})
