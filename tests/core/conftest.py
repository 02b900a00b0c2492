from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.service import Registry, close_registry, open_registry
from storage import build_driver
from tests.support import postgres_database, require


@pytest.fixture(params=["sqlite", "postgres"])
async def registry(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Registry]:
    """The real services on a fresh database (SQLite file or PostgreSQL) and filesystem storage."""
    storage = build_driver("filesystem", tmp_path / "storage")
    with postgres_database() if request.param == "postgres" else _sqlite(tmp_path) as url:
        require(url is not None, "PostgreSQL is not running on 127.0.0.1:5432")
        reg = await open_registry(storage, str(url), flush_every=1024)
        try:
            yield reg
        finally:
            await close_registry()


class _sqlite:
    def __init__(self, folder: Path) -> None:
        self.url = f"sqlite://{folder / 'berth.db'}"

    def __enter__(self) -> str:
        return self.url

    def __exit__(self, *exc: object) -> None:
        return None
