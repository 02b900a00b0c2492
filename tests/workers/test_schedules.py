"""Cron triggers: one scheduler among replicas, each fire enqueued exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.schedules import ScheduleInvalid, ensure_schedules, fire_due, hold_lease
from core.service import close_registry, open_registry
from models import Job, Schedule
from storage import build_driver
from tests.support import postgres_database, require


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[None]:
    storage = build_driver("filesystem", tmp_path / "storage")
    if request.param == "sqlite":
        await open_registry(storage, f"sqlite://{tmp_path / 'b.db'}", 1 << 20)
        yield
        await close_registry()
        return
    with postgres_database() as url:
        require(url is not None, "PostgreSQL is not running on 127.0.0.1:5432")
        await open_registry(storage, str(url), 1 << 20)
        yield
        await close_registry()


async def test_one_replica_holds_the_scheduler_lease_at_a_time(database: None) -> None:
    ttl = timedelta(seconds=30)
    assert await hold_lease("scheduler", "replica-a", ttl)
    assert not await hold_lease("scheduler", "replica-b", ttl)
    assert await hold_lease("scheduler", "replica-a", ttl)  # the holder renews
    # When the holder goes silent past its lease, another replica takes over
    assert await hold_lease("scheduler", "replica-a", timedelta(seconds=-1))
    assert await hold_lease("scheduler", "replica-b", ttl)
    assert not await hold_lease("scheduler", "replica-a", ttl)


async def test_a_due_schedule_fires_once_even_with_two_schedulers(database: None) -> None:
    # Given an every-minute schedule that last fired three minutes ago
    await ensure_schedules({"tick": ("* * * * *", "scrub", {"rate": 1})})
    await Schedule.filter(name="tick").update(last_fire=datetime.now(UTC) - timedelta(minutes=3))
    # When two schedulers fire at the same moment
    results = await asyncio.gather(fire_due(), fire_due())
    # Then exactly one job was enqueued, and nothing is due again until the next minute
    assert sorted(len(r) for r in results) == [0, 1]
    assert await Job.filter(kind="scrub").count() == 1
    assert await fire_due() == []


async def test_a_schedule_not_yet_due_does_not_fire(database: None) -> None:
    await ensure_schedules({"nightly": ("0 3 * * *", "scrub", {})})
    assert await fire_due() == []  # created now: its next 03:00 is in the future
    assert await Job.filter(kind="scrub").count() == 0


async def test_a_bad_cron_expression_is_refused(database: None) -> None:
    with pytest.raises(ScheduleInvalid):
        await ensure_schedules({"bad": ("every tuesday", "scrub", {})})
