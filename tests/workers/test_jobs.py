"""Durable jobs through a real Dramatiq broker: the embedded one and Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.jobs import ClaimedJob, enqueue
from core.service import close_registry, open_registry
from models import Job
from pipelines import PipelineContext, pipeline
from storage import build_driver
from tests.support import require
from workers.runtime import QUEUE, JobRuntime

REDIS = "redis://127.0.0.1:6379/0"
RUNS: dict[str, int] = {}


@pipeline("test-flaky")
async def flaky(job: ClaimedJob, context: PipelineContext) -> None:
    """Fails the first `failures` attempts, then succeeds; counts its runs by key."""
    key = str(job.args["key"])
    RUNS[key] = RUNS.get(key, 0) + 1
    if job.attempt <= int(job.args["failures"]):  # type: ignore[call-overload]
        raise RuntimeError(f"attempt {job.attempt} fails on purpose")


def redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS, socket_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(params=["embedded", "redis"])
async def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[JobRuntime]:
    broker_url = None
    if request.param == "redis":
        require(redis_available(), "Redis is not running on 127.0.0.1:6379")
        broker_url = REDIS
    registry = await open_registry(
        build_driver("filesystem", tmp_path / "storage"), f"sqlite://{tmp_path / 'b.db'}", 1 << 20
    )
    jobs = JobRuntime(
        broker_url,
        f"berth-test-{uuid.uuid4().hex[:8]}",
        registry,
        asyncio.get_running_loop(),
        worker_threads=2,
        backoff_base=0.05,
    )
    jobs.start_workers()
    try:
        yield jobs
    finally:
        await asyncio.to_thread(jobs.stop)
        await close_registry()


async def run_until_final(jobs: JobRuntime, job_id: int, within: float = 20) -> Job:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        await jobs.dispatch_once()
        job = await Job.get(id=job_id)
        if job.status in ("succeeded", "failed"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job.status} after {within}s")


async def test_a_job_runs_once_and_succeeds(runtime: JobRuntime) -> None:
    key = uuid.uuid4().hex
    job_id = await enqueue("test-flaky", {"key": key, "failures": 0})
    job = await run_until_final(runtime, job_id)
    assert (job.status, job.attempts, job.progress) == ("succeeded", 1, 1.0)
    assert RUNS[key] == 1


async def test_failures_are_retried_with_backoff_until_success(runtime: JobRuntime) -> None:
    key = uuid.uuid4().hex
    job_id = await enqueue("test-flaky", {"key": key, "failures": 2})
    job = await run_until_final(runtime, job_id)
    assert (job.status, job.attempts) == ("succeeded", 3)
    assert RUNS[key] == 3


async def test_a_job_that_keeps_failing_ends_failed_with_its_error(runtime: JobRuntime) -> None:
    key = uuid.uuid4().hex
    job_id = await enqueue("test-flaky", {"key": key, "failures": 99}, max_attempts=3)
    job = await run_until_final(runtime, job_id)
    assert (job.status, job.attempts) == ("failed", 3)
    assert "attempt 3 fails on purpose" in (job.last_error or "")


async def test_an_unknown_kind_fails_with_a_clear_error(runtime: JobRuntime) -> None:
    job_id = await enqueue("no-such-kind", {}, max_attempts=1)
    job = await run_until_final(runtime, job_id)
    assert job.status == "failed" and "no pipeline for job kind" in (job.last_error or "")


async def test_a_job_is_claimed_by_one_worker_only(runtime: JobRuntime) -> None:
    key = uuid.uuid4().hex
    job_id = await enqueue("test-flaky", {"key": key, "failures": 0})
    # The same job sent many times (at-least-once delivery) runs once.
    for _ in range(5):
        await asyncio.to_thread(runtime.actor.send, job_id)
    job = await run_until_final(runtime, job_id)
    # every copy delivered and handled (join waits for the queue to drain), yet one run
    await asyncio.to_thread(runtime.broker.join, QUEUE, timeout=10_000)
    assert job.status == "succeeded" and RUNS[key] == 1
