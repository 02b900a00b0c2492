"""Multi-step background work as plain async functions over core services.

A pipeline is registered for a job kind with @pipeline("kind"); run_job claims a job row,
runs its pipeline, and records the outcome. Pipelines must be idempotent: delivery is
at-least-once, and a job whose worker died is run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core.jobs import ClaimedJob, JobQueue
from core.service import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PipelineContext:
    registry: Registry
    queue: JobQueue


Pipeline = Callable[[ClaimedJob, PipelineContext], Awaitable[None]]
PIPELINES: dict[str, Pipeline] = {}
# kind -> what to do after a running job of that kind was stopped (the job service)
ON_STOP: dict[str, Pipeline] = {}
STOP_POLL_SECONDS = 1.0  # how often a running job's row is read for a stop


def pipeline(kind: str, on_stop: Pipeline | None = None) -> Callable[[Pipeline], Pipeline]:
    """Register fn as the pipeline of job kind; on_stop, if given, runs after a running job
    of that kind was stopped and cancelled (to give its own records a final state)."""

    def register(fn: Pipeline) -> Pipeline:
        PIPELINES[kind] = fn
        if on_stop is not None:
            ON_STOP[kind] = on_stop
        return fn

    return register


async def run_job(job_id: int, context: PipelineContext) -> str | None:
    """Claim and run one job; its new status, or None when another worker has it."""
    job = await context.queue.claim(job_id)
    if job is None:
        return None
    started = time.perf_counter()
    fn = PIPELINES.get(job.kind)
    try:
        if fn is None:
            raise LookupError(f"no pipeline for job kind {job.kind!r}")
        stopped = await _unless_stopped(fn(job, context), job.id, context.queue)
    except Exception as exc:
        status = await context.queue.fail(job.id, f"{type(exc).__name__}: {exc}")
        log.warning(
            "job attempt failed",
            extra={"job": job.id, "kind": job.kind, "attempt": job.attempt, "now": status},
        )
        return status
    if stopped:
        log.info("job stopped", extra={"job": job.id, "kind": job.kind})
        if (after := ON_STOP.get(job.kind)) is not None:
            await after(job, context)
        return "stopped"
    await context.queue.succeed(job.id)
    log.info(
        "job done",
        extra={
            "job": job.id,
            "kind": job.kind,
            "ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )
    return "succeeded"


async def _unless_stopped(work: Awaitable[None], job_id: int, queue: JobQueue) -> bool:
    """Run work to its end (False), or cancel it once the job is no longer this worker's:
    stopped through the job service, or taken over after a lapsed lease (True)."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=STOP_POLL_SECONDS)
            if done:
                task.result()
                return False
            if not await queue.still_mine(job_id):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                return True
    except asyncio.CancelledError:
        task.cancel()  # the process stops: the job's lease lapses and another worker resumes
        raise


def load_pipelines() -> None:
    """Import every pipeline module so that each registers its kind."""
    from pipelines import (
        audit,  # noqa: F401
        gc,  # noqa: F401
        ops,  # noqa: F401
        push,  # noqa: F401
        replication,  # noqa: F401
        retention,  # noqa: F401
        scrub,  # noqa: F401
        signing,  # noqa: F401
        verify,  # noqa: F401
        webhooks,  # noqa: F401
    )
