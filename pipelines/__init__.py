"""Multi-step background work as plain async functions over core services.

A pipeline is registered for a job kind with @pipeline("kind"); run_job claims a job row,
runs its pipeline, and records the outcome. Pipelines must be idempotent: delivery is
at-least-once, and a job whose worker died is run again.
"""

from __future__ import annotations

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


def pipeline(kind: str) -> Callable[[Pipeline], Pipeline]:
    """Register fn as the pipeline of job kind."""

    def register(fn: Pipeline) -> Pipeline:
        PIPELINES[kind] = fn
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
        await fn(job, context)
    except Exception as exc:
        status = await context.queue.fail(job.id, f"{type(exc).__name__}: {exc}")
        log.warning(
            "job attempt failed",
            extra={"job": job.id, "kind": job.kind, "attempt": job.attempt, "now": status},
        )
        return status
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
