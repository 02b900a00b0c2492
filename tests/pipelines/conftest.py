"""Pipeline tests run twice: jobs on the embedded broker, and on Redis with a worker process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import RunningBerth, running_berth_on


@pytest.fixture(scope="module", params=["embedded", "redis"])
def berth_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningBerth]:
    """Overrides the suite's server here: one per broker (SQLite; PostgreSQL runs elsewhere)."""
    with running_berth_on(
        Path(tmp_path_factory.mktemp(f"berth-{request.param}")), request.param
    ) as server:
        yield server
