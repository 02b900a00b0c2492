"""Dramatiq brokers and the job dispatcher.

The broker carries only job ids. Embedded mode: a StubBroker and Dramatiq worker threads
inside the server process. Redis mode: a RedisBroker; `berth worker` processes consume.
Either way an actor hands the job to the process's event loop, where the database lives.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker

from core import audit, jobservice
from core.jobs import LEASE, JobQueue
from core.jobservice import POOL_BEAT, PoolBeat
from core.schedules import SCHEDULER, ensure_schedules, fire_due, hold_lease
from models import JobQueueState
from pipelines import PipelineContext, load_pipelines, run_job
from pipelines.audit import INDEX_KIND, SILENCE

log = logging.getLogger(__name__)

QUEUE = "berth-jobs"
RESEND_AFTER_SECONDS = 30.0
SCHEDULE_EVERY_TICKS = 10
SCHEDULER_LEASE = timedelta(seconds=30)  # a sent job not yet claimed is sent again after this long


def server_jobs(
    broker_url: str | None,
    namespace: str,
    threads: int,
    schedules: dict[str, tuple[str, str, dict[str, Any]]] | None = None,
    backoff_seconds: float = 2.0,
    lease_seconds: float | None = None,
) -> Callable[[Any, asyncio.AbstractEventLoop], JobRuntime]:
    """The factory `berth serve` hands the web app: dispatch always, run jobs when embedded."""

    def build(registry: Any, loop: asyncio.AbstractEventLoop) -> JobRuntime:
        runtime = JobRuntime(
            broker_url, namespace, registry, loop, threads, backoff_seconds, lease_seconds
        )
        runtime.schedules = schedules or {}
        if runtime.embedded:
            runtime.start_workers()
        return runtime

    return build


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class JobRuntime:
    """Dispatches due jobs to the broker and (embedded, or in `berth worker`) runs them."""

    def __init__(
        self,
        broker_url: str | None,
        namespace: str,
        registry: Any,
        loop: asyncio.AbstractEventLoop,
        worker_threads: int = 2,
        backoff_base: float = 2.0,
        lease_seconds: float | None = None,
    ) -> None:
        load_pipelines()
        lease = LEASE if lease_seconds is None else timedelta(seconds=lease_seconds)
        self.queue = JobQueue(worker_name(), backoff_base, lease)
        self.context = PipelineContext(registry, self.queue)
        self.loop = loop
        self.embedded = broker_url is None
        self.broker: dramatiq.Broker = (
            StubBroker() if broker_url is None else _redis_broker(broker_url, namespace)
        )
        # Retries are the job table's business (backoff, max_attempts), not Dramatiq's.
        self.actor = dramatiq.actor(
            actor_name="run_job", queue_name=QUEUE, broker=self.broker, max_retries=0
        )(self._run)
        self.worker_threads = worker_threads
        self._worker: dramatiq.Worker | None = None
        self._running: dict[int, datetime] = {}  # job id -> when a thread of ours took it
        self._started_at = datetime.now(UTC)
        self._beat: concurrent.futures.Future[None] | None = None
        self._beat_stop = asyncio.Event()
        self._queues_seen: object = None  # the paused queues at the last dispatch
        self._sent: dict[tuple[int, int], float] = {}
        self._wake = asyncio.Event()
        self.schedules: dict[str, tuple[str, str, dict[str, Any]]] = {}
        # The scheduler-lease holder also starts audit indexing when events wait.
        self.is_scheduler = False

    def _run(self, job_id: int) -> None:
        """The actor: runs on a Dramatiq thread, hands the job to the event loop."""
        self._running[job_id] = datetime.now(UTC)
        try:
            future = asyncio.run_coroutine_threadsafe(run_job(job_id, self.context), self.loop)
            future.result()
        finally:
            self._running.pop(job_id, None)

    def start_workers(self) -> None:
        self._worker = dramatiq.Worker(self.broker, worker_threads=self.worker_threads)
        self._worker.start()
        self._started_at = datetime.now(UTC)
        self._beat = asyncio.run_coroutine_threadsafe(self._beat_forever(), self.loop)

    def stop(self) -> None:
        """Stop this process's Dramatiq workers, letting running jobs finish (10 s); then
        its heartbeat, which takes the pool off the job service's list. Call it from another
        thread than the event loop's (which must still run)."""
        if self._worker is not None:
            self._worker.stop(timeout=10_000)
            self._worker = None
        if self._beat is not None:
            self.loop.call_soon_threadsafe(self._beat_stop.set)
            with contextlib.suppress(Exception):
                self._beat.result(timeout=10)
            self._beat = None

    async def _beat_forever(self) -> None:
        """Write this pool's heartbeat every few seconds (the job service lists live pools
        and what their threads run) until stop; then remove the pool."""
        while not self._beat_stop.is_set():
            try:
                await jobservice.beat(self._pool())
            except Exception:
                log.warning("worker pool heartbeat failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POOL_BEAT.total_seconds()):
                    await self._beat_stop.wait()
        with contextlib.suppress(Exception):
            await jobservice.drop_pool(self.queue.worker_name)

    def _pool(self) -> PoolBeat:
        host, _, pid = self.queue.worker_name.rpartition(":")
        return PoolBeat(
            self.queue.worker_name,
            host,
            int(pid) if pid.isdigit() else os.getpid(),
            self.worker_threads,
            self.embedded,
            self._started_at,
            dict(self._running),
        )

    def wake(self) -> None:
        """Dispatch now rather than at the next tick (after a commit that enqueued a job)."""
        self._wake.set()

    async def dispatch_forever(self, interval: float = 1.0) -> None:
        """Send due jobs to the broker (a broker outage only delays them); every ten ticks,
        take part in scheduling: the replica holding the scheduler lease fires cron triggers
        and, every tick, starts audit indexing when new events wait."""
        await _finished(ensure_schedules(self.schedules))
        tick = 0
        while True:
            await _finished(self._tick(tick))
            tick += 1
            # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a cancel that
            # arrives as the wake-up does, and the server's shutdown then waits forever
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._wake.wait()
            self._wake.clear()

    async def _tick(self, tick: int) -> None:
        try:
            if tick % SCHEDULE_EVERY_TICKS == 0:
                self.is_scheduler = await self.schedule_once() is not None
            if self.is_scheduler:
                await audit.ensure_indexing(INDEX_KIND, self.queue.lease, SILENCE)
            await self.dispatch_once()
        except Exception:
            log.exception("dispatch failed; jobs stay in the database")

    async def schedule_once(self) -> list[str] | None:
        """Fire due schedules if this replica holds (or takes) the scheduler lease; None when
        another replica holds it."""
        if not await hold_lease(SCHEDULER, self.queue.worker_name, SCHEDULER_LEASE):
            return None
        fired = await fire_due()
        if fired:
            log.info("schedules fired", extra={"schedules": fired})
        return fired

    async def dispatch_once(self) -> int:
        now = time.monotonic()
        sent = 0
        queues = await JobQueueState.filter(paused=True).values_list("kind", flat=True)
        if sorted(queues) != self._queues_seen:
            # A queue was paused or resumed: what was sent meanwhile was refused by its claim
            # (paused), so resend what is due now rather than after RESEND_AFTER_SECONDS.
            self._queues_seen = sorted(queues)
            self._sent.clear()
        for job_id, attempts in await self.queue.due():
            # Sent already for this attempt and not claimed yet: give the broker time.
            if now - self._sent.get((job_id, attempts), -1e9) < RESEND_AFTER_SECONDS:
                continue
            await asyncio.to_thread(self.actor.send, job_id)
            self._sent[(job_id, attempts)] = now
            sent += 1
        self._sent = {k: v for k, v in self._sent.items() if now - v < RESEND_AFTER_SECONDS}
        return sent


async def _finished(step: Coroutine[Any, Any, None]) -> None:
    """Run step to its end even when the caller is cancelled meanwhile (stopping), then
    stop: a transaction cut off when the database closes is an error on PostgreSQL (the
    pool resets a connection with an active transaction)."""
    work = asyncio.ensure_future(step)
    try:
        await asyncio.shield(work)
    except asyncio.CancelledError:
        await work
        raise


def _redis_broker(url: str, namespace: str) -> dramatiq.Broker:
    """Imported only in Redis mode: redis-py costs some 10 MB per embedded server process."""
    from dramatiq.brokers.redis import RedisBroker

    return RedisBroker(url=url, namespace=namespace)
