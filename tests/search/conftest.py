"""Every audit search backend on a fresh database (helpers in tests/search/support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import models
from search.audit import AuditIndex
from tests.search.support import (
    ELASTICSEARCH_URL,
    NO_ELASTICSEARCH,
    database,
    dispose,
    open_backend,
)


@pytest.fixture(params=["sqlite", "postgres", "elasticsearch"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AuditIndex]:
    """A prepared backend; Elasticsearch (events still go to a SQLite database first, as in
    Berth) under an alias of its own, removed afterwards."""
    if request.param == "elasticsearch" and not ELASTICSEARCH_URL:
        pytest.skip(NO_ELASTICSEARCH)  # not require(): CI has no Elasticsearch either
    with database(request.param, tmp_path) as url:
        await models.open_database(url)
        index = open_backend(request.param)
        try:
            await index.prepare()
            yield index
        finally:
            await dispose(index)
            await models.close_database()
