"""A gc_run table made before its schedule column gets it at start, its rows kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg

from models import GcRun, close_database, open_database
from tests.support import postgres_database, require

# gc_run as its first release made it (before the schedule column)
OLD_GC_RUN = (
    "CREATE TABLE gc_run (id {pk}, trigger VARCHAR(16) NOT NULL DEFAULT 'MANUAL',"
    " parameters {json} NOT NULL, status VARCHAR(16) NOT NULL DEFAULT 'Pending',"
    " stop_requested BOOL NOT NULL DEFAULT FALSE, job_id BIGINT, operator VARCHAR(255) NOT NULL"
    " DEFAULT '', results {json}, log TEXT NOT NULL, heartbeat_at {time},"
    " created_at {time} NOT NULL DEFAULT CURRENT_TIMESTAMP,"
    " updated_at {time} NOT NULL DEFAULT CURRENT_TIMESTAMP)"
)
ROW = "INSERT INTO gc_run (parameters, status, log) VALUES ('{}', 'Success', 'old')"


async def upgraded(url: str) -> tuple[GcRun, GcRun]:
    for _start in range(2):  # the second start finds nothing to add
        await open_database(url)
        try:
            old = await GcRun.get(log="old")
            made = await GcRun.create(schedule={"type": "Daily", "cron": "0 0 0 * * *"}, log="n")
            new = await GcRun.get(id=made.id)
        finally:
            await close_database()
    return old, new


async def test_sqlite_gc_runs_gain_the_schedule_column(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute(OLD_GC_RUN.format(pk="INTEGER PRIMARY KEY", json="JSON", time="TIMESTAMP"))
        conn.execute(ROW)
    old, new = await upgraded(f"sqlite://{path}")
    assert (old.status, old.schedule) == ("Success", None)
    assert new.schedule == {"type": "Daily", "cron": "0 0 0 * * *"}


async def test_postgres_gc_runs_gain_the_schedule_column() -> None:
    with postgres_database() as url:
        require(url is not None, "PostgreSQL is not running on 127.0.0.1:5432")
        assert url is not None
        conn = await asyncpg.connect(url)
        try:
            table = OLD_GC_RUN.format(pk="SERIAL PRIMARY KEY", json="JSONB", time="TIMESTAMPTZ")
            await conn.execute(table)
            await conn.execute(ROW)
        finally:
            await conn.close()
        old, new = await upgraded(url)
        assert (old.status, old.schedule) == ("Success", None)
        assert new.schedule == {"type": "Daily", "cron": "0 0 0 * * *"}
