"""What the audit search tests share: a fresh database of a kind, backends opened and
disposed of, and events put in both the database and a backend (the fixtures are in
conftest.py)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


EVENTS = [
    event(0, "admin", "create", "library", resource_type="project", project="library",
          project_id=1),
    event(1, "alice", "create", "library/app:1.0@sha256:ab12cd", project="library",
          project_id=1, user_agent="docker/24.0.7 go/go1.21"),
    event(2, "bob", "pull", "team/api@sha256:ef34", project="team", project_id=2,
          client_address="10.0.0.7"),
    event(3, "alice", "delete", "team/api:old", resource_type="tag", project="team",
          project_id=2, success=False, description="Tag is immutable"),
    event(4, "Carol", "login", "Carol", resource_type="user"),
    event(5, "robot$team+ci", "update", "team/web", resource_type="repository",
          project="team", project_id=2, description="Description changed by CI"),
]  # fmt: skip
