"""Operational job kinds: "sleep" waits with progress updates (for drills and tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from core.jobs import ClaimedJob
from pipelines import PipelineContext, pipeline

STEPS = 10


@pipeline("sleep")
async def sleep_pipeline(job: ClaimedJob, context: PipelineContext) -> None:
    """Sleep args.seconds in ten steps, reporting progress; then record "done <id>" once
    in the file args.record, if given (idempotent: a rerun after a crash does not repeat it).
    """
    seconds = float(str(job.args.get("seconds", 1.0)))
    for step in range(1, STEPS + 1):
        await asyncio.sleep(seconds / STEPS)
        await context.queue.progress(job.id, step / STEPS)
    record = job.args.get("record")
    if record:
        await asyncio.to_thread(_record_once, Path(str(record)), f"done {job.id}")


def _record_once(path: Path, line: str) -> None:
    done = path.read_text().splitlines() if path.exists() else []
    if line not in done:
        with path.open("a") as fh:
            fh.write(line + "\n")
