"""Pipeline tests run twice: jobs on the embedded broker, and on Redis with a worker process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path

import pytest

from core.service import Registry, close_registry, open_registry
from storage import build_driver
from tests.support import RunningBerth, postgres_database, require, running_berth_on


@pytest.fixture(scope="module", params=["embedded", "redis"])
def berth_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningBerth]:
    """Overrides the suite's server here: one per broker (SQLite; PostgreSQL runs elsewhere)."""
    with running_berth_on(
        Path(tmp_path_factory.mktemp(f"berth-{request.param}")), request.param
    ) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
async def registry(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Registry]:
    """The real services in this process on a fresh database (SQLite file or PostgreSQL),
    for calling a pipeline function directly; the GC window is a minute."""
    storage = build_driver("filesystem", tmp_path / "storage")
    with (
        postgres_database()
        if request.param == "postgres"
        else nullcontext(f"sqlite://{tmp_path / 'berth.db'}") as url
    ):
        require(url is not None, "PostgreSQL is not running on 127.0.0.1:5432")
        reg = await open_registry(
            storage, str(url), 1024, gc_window=timedelta(minutes=1), sealing_keys=[b"k" * 32]
        )
        try:
            yield reg
        finally:
            await close_registry()
