"""The push pipeline, started by every manifest PUT."""

from __future__ import annotations

from core.jobs import ClaimedJob
from pipelines import PipelineContext, pipeline


@pipeline("push")
async def push_pipeline(job: ClaimedJob, context: PipelineContext) -> None:
    """Deep verification and the other after-push steps (filled in step by step)."""
    await context.queue.progress(job.id, 1.0)
