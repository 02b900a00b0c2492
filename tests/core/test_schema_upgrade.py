"""A database made before a column was added gets it at start, its rows kept."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from models import Blob, close_database, open_database
from tests.support import postgres_database, require

# The blob table as the first release made it, before online GC's columns.
OLD_BLOB = (
    "CREATE TABLE blob (id {pk}, digest VARCHAR(200) NOT NULL UNIQUE, size BIGINT NOT NULL,"
    " status VARCHAR(16) NOT NULL DEFAULT 'none', version INT NOT NULL DEFAULT 0,"
    " created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)"
)
ROW = "INSERT INTO blob (digest, size) VALUES ('sha256:' || repeat('a', 64), 3)"


async def upgraded(url: str) -> Blob:
    for _start in range(2):  # the second start finds nothing to add
        await open_database(url)
        blob = await Blob.get(size=3)
        await close_database()
    return blob


async def test_sqlite_blob_rows_gain_the_gc_columns(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute(OLD_BLOB.format(pk="INTEGER PRIMARY KEY"))
        conn.execute(ROW.replace("repeat('a', 64)", "'" + "a" * 64 + "'"))
    blob = await upgraded(f"sqlite://{path}")
    assert (blob.status, blob.touched_ms, blob.gc_run) == ("none", 0, None)


async def test_postgres_blob_rows_gain_the_gc_columns() -> None:
    with postgres_database() as url:
        require(url is not None, "PostgreSQL is not running on 127.0.0.1:5432")
        assert url is not None
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(OLD_BLOB.format(pk="SERIAL PRIMARY KEY"))
            await conn.execute(ROW)
        finally:
            await conn.close()
        blob = await upgraded(url)
        assert (blob.status, blob.touched_ms, blob.gc_run) == ("none", 0, None)
