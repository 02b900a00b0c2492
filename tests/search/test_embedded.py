"""What the contract cannot see of the embedded backend: which indexes its queries use, that
both text paths (matches by id, or a walk in order) agree, and that a purge leaves no words
behind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tortoise import Tortoise

import models
from search.audit import AuditQuery, Condition
from search.embedded import EmbeddedIndex
from tests.search.support import EVENTS, T0, database, event, given, minutes

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


async def test_sqlite_text_of_few_matches_starts_from_the_word_index(
    sqlite_index: EmbeddedIndex,
) -> None:
    await given(sqlite_index, EVENTS)
    page_plan, count_plan = await plans(sqlite_index, AuditQuery(text="library app"))
    assert "SEARCH e USING INTEGER PRIMARY KEY (rowid=?)" in page_plan  # events by id
    assert any("VIRTUAL TABLE INDEX 0:M" in line for line in page_plan)  # ids from MATCH
    assert not any(line.startswith("SCAN e") for line in page_plan)
    assert count_plan == ["SCAN audit_fts VIRTUAL TABLE INDEX 0:M8"]  # the word index alone


async def test_sqlite_text_of_many_matches_walks_the_events_in_order(tmp_path: Path) -> None:
    with database("sqlite", tmp_path) as url:
        await models.open_database(url)
        try:
            index = EmbeddedIndex(few=0)  # every match count is "many"
            await index.prepare()
            await given(index, EVENTS)
            page_plan, _count_plan = await plans(index, AuditQuery(text="team"))
        finally:
            await models.close_database()
    assert page_plan[0].startswith("SCAN e USING INDEX idx_audit_event_occurre")
    assert "USE TEMP B-TREE FOR ORDER BY" not in page_plan  # no sort of the matches


async def plans(index: EmbeddedIndex, query: AuditQuery) -> tuple[list[str], list[str]]:
    page_plan, count_plan = await index.explain(query)
    return page_plan, count_plan


TEXT_QUERIES = [
    AuditQuery(text="team", limit=3, offset=1),
    AuditQuery(text="alice team", limit=3),
    AuditQuery(text="sha256", limit=1, offset=1, sort=(("occurred_at", False),)),
    AuditQuery(text="c", limit=2, count_limit=1),
    AuditQuery(text="a", limit=2, sort=(("id", True),), count_limit=2),
    AuditQuery(text="nobody"),
    AuditQuery(text="team", project_ids=frozenset({2}), count_limit=1),
    AuditQuery(text="team", conditions=(Condition("operation", "any", ("pull", "update")),)),
    AuditQuery(text="team", sort=(("username", False),)),
]


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_text_paths_agree(tmp_path: Path, kind: str) -> None:
    with database(kind, tmp_path) as url:
        await models.open_database(url)
        try:
            few_ids = EmbeddedIndex()  # matches looked up by id (under its limit)
            many_ids = EmbeddedIndex(few=0)  # the walk in order, as past the limit
            await few_ids.prepare()
            await given(few_ids, EVENTS)
            for query in TEXT_QUERIES:
                assert await many_ids.search(query) == await few_ids.search(query), query
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
