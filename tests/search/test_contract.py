"""The audit index contract (search/audit.py), run against every backend: SQLite FTS5,
PostgreSQL full text, and Elasticsearch when BERTH_TEST_ELASTICSEARCH_URL names one."""

from __future__ import annotations

from typing import Any

import pytest

import models
from search.audit import (
    MARK_END,
    MARK_START,
    SORT_FIELDS,
    AuditIndex,
    AuditPage,
    AuditQuery,
    AuditRecord,
    Condition,
)
from tests.search.support import EVENTS, event, given, minutes


@pytest.fixture
async def records(backend: AuditIndex) -> list[AuditRecord]:
    return await given(backend, EVENTS)


async def search(backend: AuditIndex, **query: Any) -> AuditPage:
    return await backend.search(AuditQuery(**{"limit": 100, **query}))


def ids(page: AuditPage) -> list[int]:
    return [hit.record.id for hit in page.hits]


def newest_first(records: list[AuditRecord], *positions: int) -> list[int]:
    """Ids of the events at these positions of EVENTS, newest first."""
    return [records[i].id for i in sorted(positions, reverse=True)]


async def test_without_a_query_every_event_comes_back_newest_first(
    backend: AuditIndex, records: list[AuditRecord]
) -> None:
    page = await search(backend)
    assert page.total == 6
    assert ids(page) == newest_first(records, 0, 1, 2, 3, 4, 5)
    assert [hit.record for hit in page.hits] == records[::-1]  # every field as indexed
    assert all(hit.highlights == {} for hit in page.hits)


@pytest.mark.parametrize(
    ("condition", "positions"),
    [
        pytest.param(Condition("username", "exact", ("alice",)), (1, 3), id="exact-username"),
        pytest.param(Condition("username", "exact", ("ALICE",)), (), id="exact-is-exact"),
        pytest.param(Condition("operation", "exact", ("pull",)), (2,), id="exact-operation"),
        pytest.param(Condition("success", "exact", (False,)), (3,), id="exact-failed"),
        pytest.param(Condition("username", "contains", ("LI",)), (1, 3), id="contains-any-case"),
        pytest.param(Condition("resource", "contains", ("sha256:",)), (1, 2), id="contains"),
        pytest.param(Condition("username", "contains", ("$team+",)), (5,), id="contains-literal"),
        pytest.param(Condition("resource", "contains", ("%",)), (), id="contains-percent"),
        pytest.param(Condition("resource", "contains", ("_",)), (), id="contains-underscore"),
        pytest.param(
            Condition("occurred_at", "range", (minutes(1), minutes(3))),
            (1, 2, 3),
            id="range-inclusive",
        ),
        pytest.param(
            Condition("occurred_at", "range", (None, minutes(1))),
            (0, 1),
            id="range-open-low",
        ),
        pytest.param(
            Condition("occurred_at", "range", (minutes(4.5), None)),
            (5,),
            id="range-open-high",
        ),
        pytest.param(Condition("operation", "any", ("create", "delete")), (0, 1, 3), id="any"),
    ],
)  # fmt: skip
async def test_filters(
    backend: AuditIndex, records: list[AuditRecord], condition: Condition, positions: tuple
) -> None:
    page = await search(backend, conditions=(condition,))
    assert ids(page) == newest_first(records, *positions)
    assert page.total == len(positions)


async def test_exact_id_and_id_range(backend: AuditIndex, records: list[AuditRecord]) -> None:
    exact = await search(backend, conditions=(Condition("id", "exact", (records[2].id,)),))
    assert ids(exact) == [records[2].id]
    ranged = Condition("id", "range", (records[1].id, records[2].id))
    assert ids(await search(backend, conditions=(ranged,))) == newest_first(records, 1, 2)


async def test_conditions_combine_with_and(backend: AuditIndex, records: list[AuditRecord]) -> None:
    conditions = (
        Condition("username", "exact", ("alice",)),
        Condition("resource_type", "exact", ("tag",)),
    )
    page = await search(backend, conditions=conditions)
    assert ids(page) == [records[3].id]


@pytest.mark.parametrize(
    ("project_ids", "positions"),
    [
        pytest.param(None, (0, 1, 2, 3, 4, 5), id="all"),
        pytest.param(frozenset({2}), (2, 3, 5), id="one-project"),
        pytest.param(frozenset({1, 2}), (0, 1, 2, 3, 5), id="two-projects"),
        pytest.param(frozenset(), (), id="none"),
    ],
)
async def test_project_scope(
    backend: AuditIndex,
    records: list[AuditRecord],
    project_ids: frozenset[int] | None,
    positions: tuple,
) -> None:
    page = await search(backend, project_ids=project_ids)
    assert ids(page) == newest_first(records, *positions)
    assert page.total == len(positions)
    scoped_text = await search(backend, project_ids=project_ids, text="alice")
    assert set(ids(scoped_text)) == {records[i].id for i in positions if i in (1, 3)}


@pytest.mark.parametrize("field", SORT_FIELDS)
@pytest.mark.parametrize("desc", [True, False], ids=["desc", "asc"])
async def test_sort(
    backend: AuditIndex, records: list[AuditRecord], field: str, desc: bool
) -> None:
    page = await search(backend, sort=((field, desc),))
    expected = sorted(records, key=lambda r: (getattr(r, field), r.id), reverse=desc)
    assert ids(page) == [r.id for r in expected]


async def test_pages_cover_every_event_once(backend: AuditIndex) -> None:
    records = await given(backend, [event(i, f"user{i % 3}", "pull", f"p/r{i}") for i in range(23)])
    seen: list[int] = []
    for offset in range(0, 30, 7):
        page = await backend.search(AuditQuery(offset=offset, limit=7))
        assert page.total == 23
        seen += ids(page)
    assert seen == [r.id for r in reversed(records)]
    text_page = await backend.search(AuditQuery(text="user1", offset=4, limit=3))
    assert text_page.total == 8
    assert ids(text_page) == [r.id for r in reversed(records) if r.username == "user1"][4:7]


@pytest.mark.parametrize(
    ("count_limit", "total", "exact"),
    [
        pytest.param(None, 23, True, id="no-limit"),
        pytest.param(100, 23, True, id="under"),
        pytest.param(23, 23, True, id="at"),
        pytest.param(22, 22, False, id="one-past"),
        pytest.param(5, 5, False, id="far-past"),
        pytest.param(0, 0, False, id="zero"),
    ],
)
async def test_a_count_limit_caps_the_total_not_the_page(
    backend: AuditIndex, count_limit: int | None, total: int, exact: bool
) -> None:
    records = await given(backend, [event(i, f"user{i % 3}", "pull", f"p/r{i}") for i in range(23)])
    newest = [r.id for r in reversed(records)]
    page = await backend.search(AuditQuery(offset=2, limit=7, count_limit=count_limit))
    assert (page.total, page.total_exact) == (total, exact)
    assert ids(page) == newest[2:9]
    text_limit = None if count_limit is None else count_limit // 3  # user1: 8 events
    text_page = await backend.search(AuditQuery(text="user1", limit=3, count_limit=text_limit))
    assert text_page.total == min(8, 8 if text_limit is None else text_limit)
    assert text_page.total_exact == (text_limit is None or text_limit >= 8)
    assert ids(text_page) == [r.id for r in reversed(records) if r.username == "user1"][:3]


async def test_a_count_limit_sees_nothing_when_nothing_matches(backend: AuditIndex) -> None:
    await given(backend, [event(i, "user", "pull", f"p/r{i}") for i in range(3)])
    for query in (
        AuditQuery(count_limit=0, text="nobody"),
        AuditQuery(count_limit=0, conditions=(Condition("username", "exact", ("nobody",)),)),
    ):
        page = await backend.search(query)
        assert (page.total, page.total_exact, page.hits) == (0, True, [])


@pytest.mark.parametrize(
    ("text", "positions"),
    [
        pytest.param("lib", (0, 1), id="word-prefix"),
        pytest.param("alice team", (3,), id="every-word"),
        pytest.param("team alice", (3,), id="any-order"),
        pytest.param("CAROL", (4,), id="any-case"),
        pytest.param("Docker", (1,), id="user-agent"),
        pytest.param("10.0.0.7", (2,), id="address"),
        pytest.param("library/app:1.0@sha256:ab12", (1,), id="resource-name"),
        pytest.param("sha256:ef", (2,), id="digest-prefix"),
        pytest.param("immutable", (3,), id="description"),
        pytest.param("brary", (), id="not-mid-word"),
        pytest.param("alice nobody", (), id="missing-word"),
    ],
)
async def test_free_text(
    backend: AuditIndex, records: list[AuditRecord], text: str, positions: tuple
) -> None:
    page = await search(backend, text=text)
    assert ids(page) == newest_first(records, *positions)
    assert page.total == len(positions)


@pytest.mark.parametrize(
    "text",
    [
        "\" * ( ) : - AND OR NEAR ^ '",
        '"unterminated',
        "alice*",
        "NOT alice",
        "username:alice",
        "'; DROP TABLE audit_event; --",
        "a & b | !c <-> d",
        "\\",
        "%_",
        "\x00",
        "é" * 3000,
    ],
)
async def test_hostile_text_is_only_words(
    backend: AuditIndex, records: list[AuditRecord], text: str
) -> None:
    page = await search(backend, text=text)
    assert page.total == len(page.hits)
    assert (await search(backend)).total == 6  # the table is still there


async def test_text_without_words_filters_nothing(
    backend: AuditIndex, records: list[AuditRecord]
) -> None:
    page = await search(backend, text=" :: -- ** ")
    assert page.total == 6
    assert all(hit.highlights == {} for hit in page.hits)


async def test_text_words_are_terms_not_operators(
    backend: AuditIndex, records: list[AuditRecord]
) -> None:
    page = await search(backend, text="alice OR bob")
    assert page.total == 0  # "or" and "bob" are words that must occur too
    assert ids(await search(backend, text="alice*")) == newest_first(records, 1, 3)


async def test_text_with_filters_and_sort(backend: AuditIndex, records: list[AuditRecord]) -> None:
    conditions = (Condition("operation", "any", ("create", "pull")),)
    page = await search(backend, text="sha256", conditions=conditions, sort=(("id", False),))
    assert ids(page) == [records[1].id, records[2].id]


async def test_highlights_mark_whole_matching_words(
    backend: AuditIndex, records: list[AuditRecord]
) -> None:
    page = await search(backend, text="alice tea")
    (hit,) = page.hits
    assert hit.highlights == {
        "username": f"{MARK_START}alice{MARK_END}",
        "resource": f"{MARK_START}team{MARK_END}/api:old",
        "project": f"{MARK_START}team{MARK_END}",
    }


async def test_highlights_keep_the_whole_value(
    backend: AuditIndex, records: list[AuditRecord]
) -> None:
    page = await search(backend, text="immut")
    assert page.hits[0].highlights == {"description": f"Tag is {MARK_START}immutable{MARK_END}"}
    page = await search(backend, text="sha256")
    by_id = {hit.record.id: hit.highlights for hit in page.hits}
    assert by_id[records[1].id] == {
        "resource": f"library/app:1.0@{MARK_START}sha256{MARK_END}:ab12cd"
    }


async def test_indexing_again_replaces(backend: AuditIndex, records: list[AuditRecord]) -> None:
    await backend.index(records)
    await backend.index(records[2:4])
    assert (await search(backend)).total == 6
    assert ids(await search(backend, text="alice")) == newest_first(records, 1, 3)


@pytest.mark.parametrize("database_first", [False, True], ids=["index-first", "database-first"])
async def test_delete_before(
    backend: AuditIndex, records: list[AuditRecord], database_first: bool
) -> None:
    cutoff = minutes(2)
    if database_first:  # as the retention purge does: the truth first
        await models.AuditEvent.filter(occurred_at__lt=cutoff).delete()
    await backend.delete_before(cutoff)
    await backend.delete_before(cutoff)
    assert ids(await search(backend)) == newest_first(records, 2, 3, 4, 5)
    assert (await search(backend, text="library")).total == 0
    assert ids(await search(backend, text="alice")) == [records[3].id]


async def test_clear_forgets_every_event_until_indexed_again(
    backend: AuditIndex, records: list[AuditRecord]
) -> None:
    await backend.clear()
    await backend.clear()
    assert (await search(backend, text="alice")).total == 0
    await backend.prepare()
    await backend.index(records)
    assert ids(await search(backend, text="alice")) == newest_first(records, 1, 3)


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(AuditQuery(conditions=(Condition("indexed", "exact", (True,)),)), id="field"),
        pytest.param(AuditQuery(conditions=(Condition("id", "contains", ("1",)),)), id="op"),
        pytest.param(AuditQuery(conditions=(Condition("username", "exact", ()),)), id="arity"),
        pytest.param(AuditQuery(sort=(("description", True),)), id="sort"),
        pytest.param(AuditQuery(count_limit=-1), id="count-limit"),
    ],
)
async def test_queries_it_cannot_serve_raise_value_error(
    backend: AuditIndex, query: AuditQuery
) -> None:
    with pytest.raises(ValueError):
        await backend.search(query)
