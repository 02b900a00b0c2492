"""The `berth worker` process: consumes "run job N" messages from Redis and runs the jobs.

Dramatiq's threads receive messages; the jobs themselves run on one asyncio loop, on a thread
of its own, where the database connection lives. The main thread waits for SIGTERM / SIGINT,
then stops the consumers (running jobs get Dramatiq's grace period) and closes the database.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta
from types import FrameType
from typing import TypeVar

from core.service import AuditOptions, Registry, close_registry, open_registry
from storage import StorageDriver
from workers.runtime import JobRuntime

log = logging.getLogger("berth.worker")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    broker_url: str  # redis://...
    namespace: str
    database_url: str
    flush_every: int
    threads: int = 2
    lease_seconds: float | None = None  # None: core.jobs.LEASE
    backoff_seconds: float = 2.0
    audit: AuditOptions | None = None
    gc_window: timedelta = timedelta(hours=2)  # settings.gc.window_seconds
    sealing_keys: tuple[bytes, ...] = ()  # settings.sealing_keys()


class WorkerProcess:
    """One worker: an event loop thread, the registry, and a JobRuntime's consumers."""

    def __init__(self, config: WorkerConfig, storage: StorageDriver) -> None:
        self.config = config
        self.storage = storage
        self.loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(
            target=self.loop.run_forever, name="berth-worker-loop", daemon=True
        )
        self._stop = threading.Event()
        self.runtime: JobRuntime | None = None
        self.registry: Registry | None = None

    def _call(self, coro: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()  # type: ignore[arg-type]

    def start(self) -> None:
        """Open the database on the loop thread and start consuming."""
        self._loop_thread.start()
        config = self.config
        registry = self._call(
            open_registry(
                self.storage,
                config.database_url,
                config.flush_every,
                config.audit,
                config.gc_window,
                config.sealing_keys,
            )
        )
        self.registry = registry
        self.runtime = JobRuntime(
            config.broker_url,
            config.namespace,
            registry,
            self.loop,
            config.threads,
            backoff_base=config.backoff_seconds,
            lease_seconds=config.lease_seconds,
        )
        self.runtime.start_workers()
        log.info("worker started", extra={"threads": config.threads})

    def request_stop(self, signum: int = 0, frame: FrameType | None = None) -> None:
        self._stop.set()

    def wait(self) -> None:
        """Block until request_stop (a signal handler) is called."""
        while not self._stop.wait(0.5):
            pass

    def stop(self) -> None:
        """Stop consuming (running jobs may finish), close the database, end the loop."""
        if self.runtime is not None:
            self.runtime.stop()
            self.runtime = None
        if self._loop_thread.is_alive():
            self._call(close_registry(self.registry))
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._loop_thread.join(timeout=10)
        log.info("worker stopped")


def run_worker(config: WorkerConfig, storage: StorageDriver) -> None:
    """Run a worker in this process until SIGTERM or SIGINT."""
    worker = WorkerProcess(config, storage)
    signal.signal(signal.SIGTERM, worker.request_stop)
    signal.signal(signal.SIGINT, worker.request_stop)
    try:
        worker.start()
        worker.wait()
    finally:
        worker.stop()
