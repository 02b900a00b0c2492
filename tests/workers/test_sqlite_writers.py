"""The dispatcher's transactions on SQLite while another process writes the same file.

SQLite cannot upgrade a read snapshot that another connection has written past: a
transaction that reads first and then writes fails at once with "database is locked"
(no busy wait helps). Every write transaction on the dispatcher's path must start with
a write, so that it waits for the other writer instead.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from core import audit
from core.service import close_registry, open_registry
from models import Job
from storage import build_driver

KIND = "audit-index"
ROUNDS = 300
_EVENT = (
    "INSERT INTO audit_event (occurred_at, username, operation, resource_type, resource,"
    " project, success, client_address, user_agent, description, indexed)"
    " VALUES (datetime('now'), 'x', 'pull', 'artifact', 'r', '', 1, '', '', '', 0)"
)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Path]:
    path = tmp_path / "berth.db"
    await open_registry(build_driver("filesystem", tmp_path / "storage"), f"sqlite://{path}", 1)
    try:
        yield path
    finally:
        await close_registry()


@contextmanager
def another_writer(path: Path) -> Iterator[None]:
    """A second connection (as another replica would be) adding events in a tight loop."""
    stop = threading.Event()

    def write() -> None:
        conn = sqlite3.connect(path, isolation_level=None, timeout=10)
        try:
            while not stop.wait(0.001):  # a busy replica, not one that never lets go
                conn.execute(_EVENT)
        finally:
            conn.close()

    with sqlite3.connect(path, isolation_level=None) as first:
        first.execute(_EVENT)  # events wait from the first round on
    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


async def test_ensure_indexing_survives_a_concurrent_writer(database: Path) -> None:
    with another_writer(database):
        for _ in range(ROUNDS):
            # No job active: every round takes the check-then-enqueue path.
            await Job.filter(kind=KIND).update(status="succeeded")
            assert await audit.ensure_indexing(KIND, timedelta(minutes=5), timedelta(seconds=15))
    assert await Job.filter(kind=KIND).count() == ROUNDS


async def test_ensure_indexing_enqueues_once_while_a_job_is_pending(database: Path) -> None:
    with another_writer(database):
        results = [
            await audit.ensure_indexing(KIND, timedelta(minutes=5), timedelta(seconds=15))
            for _ in range(20)
        ]
    assert results.count(True) == 1
    assert await Job.filter(kind=KIND, status="pending").count() == 1
