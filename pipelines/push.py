"""The push pipeline, started by every manifest PUT: its steps run in order.

A step is an idempotent async function registered with @push_step(order); modules that add
after-push work (verification, signing, replication, webhooks) register their own step.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from core.jobs import ClaimedJob
from pipelines import PipelineContext, pipeline

Step = Callable[[ClaimedJob, PipelineContext], Awaitable[None]]
_STEPS: list[tuple[int, str, Step]] = []


def push_step(order: int) -> Callable[[Step], Step]:
    """Register fn as a step of the push pipeline; lower order runs first."""

    def register(fn: Step) -> Step:
        _STEPS.append((order, fn.__qualname__, fn))
        _STEPS.sort(key=lambda entry: (entry[0], entry[1]))
        return fn

    return register


@pipeline("push")
async def push_pipeline(job: ClaimedJob, context: PipelineContext) -> None:
    """Run every registered step for the pushed artifact (args: repository, digest).

    Steps are short, so no progress is written between them (each write would compete with
    the pushes for the database); the job's completion records progress 1.0."""
    for _order, _name, step in _STEPS:
        await step(job, context)
