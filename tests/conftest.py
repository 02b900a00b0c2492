from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import RunningBerth, running_berth


@pytest.fixture(scope="session")
def berth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBerth]:
    """One real Berth process for the whole session (embedded default: SQLite + filesystem)."""
    with running_berth(Path(tmp_path_factory.mktemp("berth-data"))) as server:
        yield server
