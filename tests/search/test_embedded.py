"""What the contract cannot see of the embedded backend: which indexes its queries use, that
both PostgreSQL text paths agree, and that a purge leaves no words behind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tortoise import Tortoise

import models
from search.audit import AuditQuery, Condition
from search.embedded import EmbeddedIndex
from tests.search.conftest import T0, database, event, given
from tests.search.test_contract import EVENTS, minutes

WORD_TABLE = {"sqlite": "audit_fts", "postgres": "audit_search"}


@pytest.fixture(params=["sqlite", "postgres"])
async def embedded(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EmbeddedIndex]:
    with database(request.param, tmp_path) as url:
        await models.open_database(url)
        try:
            index = EmbeddedIndex()
            await index.prepare()
            yield index
        finally:
            await models.close_database()


@pytest.fixture
async def sqlite_index(tmp_path: Path) -> AsyncIterator[EmbeddedIndex]:
    with database("sqlite", tmp_path) as url:
        await models.open_database(url)
        try:
            index = EmbeddedIndex()
            await index.prepare()
            yield index
        finally:
            await models.close_database()


@pytest.mark.parametrize(
    ("query", "index_use"),
    [
        pytest.param(AuditQuery(), "SCAN e USING INDEX idx_audit_event_occurre", id="newest"),
        pytest.param(
            AuditQuery(conditions=(Condition("username", "exact", ("alice",)),)),
            "SEARCH e USING INDEX idx_audit_event_usernam",
            id="username",
        ),
        pytest.param(
            AuditQuery(conditions=(Condition("occurred_at", "range", (T0, minutes(60))),)),
            "SEARCH e USING INDEX idx_audit_event_occurre",
            id="time-range",
        ),
        pytest.param(
            AuditQuery(project_ids=frozenset({7})),
            "SEARCH e USING INDEX idx_audit_event_project",
            id="one-project",
        ),
    ],
)
async def test_sqlite_pages_walk_an_index_in_order(
    sqlite_index: EmbeddedIndex, query: AuditQuery, index_use: str
) -> None:
    page_plan, _count_plan = await plans(sqlite_index, query)
    assert page_plan[0].startswith(index_use)
    assert "USE TEMP B-TREE FOR ORDER BY" not in page_plan  # no sort: the index gives the order


async def test_sqlite_text_starts_from_the_word_index(sqlite_index: EmbeddedIndex) -> None:
    page_plan, count_plan = await plans(sqlite_index, AuditQuery(text="library app"))
    for plan in (page_plan, count_plan):
        assert "SEARCH e USING INTEGER PRIMARY KEY (rowid=?)" in plan  # events by id
        assert any("VIRTUAL TABLE INDEX 0:M" in line for line in plan)  # ids from MATCH
        assert not any(line.startswith("SCAN e") for line in plan)


async def plans(index: EmbeddedIndex, query: AuditQuery) -> tuple[list[str], list[str]]:
    page_plan, count_plan = await index.explain(query)
    return page_plan, count_plan


@pytest.mark.parametrize("text", ["team", "alice team", "sha256", "c", "nobody"])
async def test_postgres_text_paths_agree(tmp_path: Path, text: str) -> None:
    with database("postgres", tmp_path) as url:
        await models.open_database(url)
        try:
            few_ids = EmbeddedIndex()  # ids looked up (matches under its limit)
            many_ids = EmbeddedIndex(few=0)  # the planner's join, as past the limit
            await few_ids.prepare()
            await given(few_ids, EVENTS)
            query = AuditQuery(text=text, limit=3, offset=1)
            assert await many_ids.search(query) == await few_ids.search(query)
        finally:
            await models.close_database()


async def test_purge_leaves_no_words_of_gone_events(embedded: EmbeddedIndex) -> None:
    await given(embedded, [event(i, f"user{i}", "pull", f"p/r:{i}") for i in range(30)])
    await models.AuditEvent.filter(occurred_at__lt=minutes(10)).delete()  # the database first
    await embedded.delete_before(minutes(10))
    await embedded.delete_before(minutes(20))  # and on its own
    assert await word_rows(embedded.name) == await models.AuditEvent.all().count() == 10


async def word_rows(dialect: str) -> int:
    _count, rows = await Tortoise.get_connection("default").execute_query(
        f"SELECT count(*) FROM {WORD_TABLE[dialect]}"
    )
    return int(tuple(rows[0])[0])
