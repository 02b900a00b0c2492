"""The job runtime `berth serve` hands the web app, built the same way by every entry point."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ops.settings import Settings
from workers.runtime import JobRuntime, server_jobs


def jobs_factory(settings: Settings) -> Callable[[Any, asyncio.AbstractEventLoop], JobRuntime]:
    """Dispatch always; run jobs in the server when no broker is configured."""
    return server_jobs(
        settings.broker_url,
        settings.broker_namespace,
        settings.job_threads,
        settings.schedules,
        settings.job_backoff_seconds,
        settings.job_lease_seconds,
    )
