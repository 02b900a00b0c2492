from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.service import Registry, close_registry, open_registry
from storage import build_driver


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[Registry]:
    """The real services on a fresh SQLite file and filesystem storage."""
    storage = build_driver("filesystem", tmp_path / "storage")
    reg = await open_registry(storage, f"sqlite://{tmp_path / 'berth.db'}", flush_every=1024)
    yield reg
    await close_registry()
