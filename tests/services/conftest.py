"""The services against a real database (a SQLite file, and PostgreSQL), no server; the
callers and what they send are built by tests/services/support.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import nullcontext
from pathlib import Path

import pytest

from core import audit
from core.projects import ensure_default_project
from models import close_database, open_database
from tests.support import postgres_database, require


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty Berth database with its `library` project."""
    sqlite = f"sqlite://{tmp_path / 'berth.db'}"
    with postgres_database() if request.param == "postgres" else nullcontext(sqlite) as url:
        require(url is not None, "PostgreSQL is not running on 127.0.0.1:5432")
        await open_database(str(url))
        await ensure_default_project()
        audit.begin_request("192.0.2.7", "services-test/1.0")
        try:
            yield str(url)
        finally:
            await close_database()
