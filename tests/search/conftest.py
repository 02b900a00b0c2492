"""Every audit search backend on a fresh database, and a helper that puts events in both."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import models
from core.audit import record_of
from search.audit import AuditIndex, AuditRecord
from tests.support import postgres_database, require

T0 = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)
ELASTICSEARCH_URL = os.environ.get("BERTH_TEST_ELASTICSEARCH_URL", "")
NO_ELASTICSEARCH = (
    "BERTH_TEST_ELASTICSEARCH_URL is not set: no Elasticsearch server can be installed on "
    "this machine (not in Debian, PyPI or npm), so the Elasticsearch contract runs only "
    "where one is given, in CI too"
)


@contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    """A fresh database URL: a SQLite file, or a new database on the local PostgreSQL."""
    if kind != "postgres":
        yield f"sqlite://{folder / 'berth.db'}"
        return
    with postgres_database() as url:
        require(url is not None, "PostgreSQL is not running on 127.0.0.1:5432")
        yield str(url)


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


def open_backend(kind: str) -> AuditIndex:
    from search import open_audit_index

    if kind == "elasticsearch":
        alias = f"berth-test-{uuid.uuid4().hex[:8]}"
        return open_audit_index("elasticsearch", ELASTICSEARCH_URL, alias)
    index = open_audit_index("embedded", None, "unused")
    assert index.name == kind
    return index


async def dispose(index: AuditIndex) -> None:
    if index.name == "elasticsearch":
        await index.clear()
        client = index.client  # type: ignore[attr-defined]
        await client.indices.delete_index_template(name=index.alias)  # type: ignore[attr-defined]
    await index.close()


def event(minutes: float, username: str, operation: str, resource: str, **more: Any) -> dict:
    """One event's columns, `minutes` after T0."""
    return {
        "occurred_at": T0 + timedelta(minutes=minutes),
        "username": username,
        "operation": operation,
        "resource": resource,
        "resource_type": more.pop("resource_type", "artifact"),
        **more,
    }


async def given(index: AuditIndex, events: list[dict]) -> list[AuditRecord]:
    """Write the events to audit_event, index them, and return them as indexed (by id)."""
    await models.AuditEvent.bulk_create([models.AuditEvent(**columns) for columns in events])
    rows = await models.AuditEvent.all().order_by("id")
    records = [record_of(row) for row in rows]
    await index.index(records)
    return records
