"""The embedded audit index: full-text search in Berth's own database.

Filters, order and pages read `audit_event` itself (the source of truth, with its indexes);
free text adds "id among the matches of a word index" that `index()` fills: an FTS5 table
on SQLite, a tsvector table with a GIN index on PostgreSQL. Every word of the text must
start some word of the event (search/text.py says what a word is); text without any word
filters nothing. Matches are marked in Python (search/text.py), for the page's events only.

Text is answered in one of two ways, chosen by how many events its words match (counted in
the word index first, which is cheap): few matches are read by id and sorted; many are found
by walking `audit_event` in the order asked for (an index) and testing each event against
the match set, built once, so a common word stops after a page's worth of events instead of
reading and sorting every match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient

from search import sql
from search.audit import (
    TEXT_FIELDS,
    AuditHit,
    AuditPage,
    AuditQuery,
    AuditRecord,
)
from search.text import highlights, word_text, words

_CHUNK = 5000  # rows per delete statement: short write transactions, as the purge in core
_FEW = 2_000  # text matches looked up by id; more are found by walking the events in order
# (measured at 1M events: near 10,000 matches, fetching and sorting them all cost 50 ms more
# than walking)
# How many events a walk may pass per match it would otherwise read by id and sort: a step
# of the walk is an index entry and a probe of the match set (SQLite: ~0.06 us against ~1.8
# us per match read and sorted, at 1M events).
_WALK_RATIO = 30
_WALK_ORDERS = ("occurred_at", "id")  # first sort keys an index (or the table) walks in order


class Dialect(Protocol):
    """What differs between the SQLite and the PostgreSQL word index."""

    schema: tuple[str, ...]
    probe: str  # one cheap read of the word index
    upsert: str
    delete_orphans: str
    clear: tuple[str, ...]

    def rows(self, records: Sequence[AuditRecord]) -> list[list[Any]]: ...

    def matches(self, terms: list[str]) -> tuple[str, list[Any]]:
        """FROM and WHERE (and parameters) of the word index rows that hold every term."""
        ...

    async def text(self, terms: list[str], walk: bool, few: bool) -> tuple[str, list[Any]]:
        """A WHERE clause on `e` (and its parameters): every term starts a word of the event.
        walk: the events are walked in order and each tested against the matches; otherwise
        the matches are looked up by id. few: the index holds at most `few` matches."""
        ...


class SqliteWords:
    """An FTS5 table whose rowid is the event id. It keeps its own copy of the text: an
    external-content table could not forget an event already purged from audit_event, and
    contentless ones cannot delete before SQLite 3.43. Diacritics are kept, as PostgreSQL's
    'simple' configuration and the Elasticsearch analyzer keep them."""

    schema: tuple[str, ...] = (
        "CREATE VIRTUAL TABLE IF NOT EXISTS audit_fts USING fts5("
        + ", ".join(TEXT_FIELDS)
        + ", tokenize = 'unicode61 remove_diacritics 0')",
    )
    probe = "SELECT rowid FROM audit_fts LIMIT 1"
    upsert = (
        f"INSERT OR REPLACE INTO audit_fts (rowid, {', '.join(TEXT_FIELDS)}) "
        f"VALUES (?, {', '.join('?' * len(TEXT_FIELDS))})"
    )
    delete_orphans = (
        "DELETE FROM audit_fts WHERE rowid IN (SELECT f.rowid FROM audit_fts f WHERE NOT EXISTS"
        " (SELECT 1 FROM audit_event e WHERE e.id = f.rowid) LIMIT ?)"
    )
    # Dropping is instant; deleting every row of an FTS5 table one by one is not.
    clear: tuple[str, ...] = ("DROP TABLE IF EXISTS audit_fts",)

    def rows(self, records: Sequence[AuditRecord]) -> list[list[Any]]:
        return [[r.id, *(getattr(r, name) for name in TEXT_FIELDS)] for r in records]

    def matches(self, terms: list[str]) -> tuple[str, list[Any]]:
        # Terms hold only letters and digits, so quoting makes each a plain prefix term
        # whatever FTS5 syntax the user typed; FTS5 ANDs terms separated by spaces.
        return "audit_fts WHERE audit_fts MATCH ?", [" ".join(f'"{term}"*' for term in terms)]

    async def text(self, terms: list[str], walk: bool, few: bool) -> tuple[str, list[Any]]:
        source, params = self.matches(terms)
        # SQLite builds the IN list once either way; a unary + keeps it from driving the
        # query (by rowid, then a sort of every match), so the ORDER BY's index does.
        plus = "+" if walk else ""
        return f"{plus}e.id IN (SELECT rowid FROM {source})", params


class PostgresWords:
    """A tsvector per event ('simple': no stemming, no stop words) under a GIN index; the
    document holds the words of search/text.py, so punctuation never glues words together.
    Positions are stripped (nothing ranks or matches phrases): a third smaller table, and
    counting the matches of a word visits its rows."""

    schema: tuple[str, ...] = (
        "CREATE TABLE IF NOT EXISTS audit_search"
        " (id bigint PRIMARY KEY, document tsvector NOT NULL)",
        "CREATE INDEX IF NOT EXISTS audit_search_document ON audit_search USING gin (document)",
    )
    probe = "SELECT id FROM audit_search LIMIT 1"
    upsert = (
        "INSERT INTO audit_search (id, document) SELECT t.id, strip(to_tsvector('simple', t.words))"
        " FROM unnest($1::bigint[], $2::text[]) AS t(id, words)"
        " ON CONFLICT (id) DO UPDATE SET document = EXCLUDED.document"
    )
    delete_orphans = (
        "DELETE FROM audit_search WHERE id IN (SELECT s.id FROM audit_search s WHERE NOT EXISTS"
        " (SELECT 1 FROM audit_event e WHERE e.id = s.id) LIMIT ?)"
    )
    clear: tuple[str, ...] = ("TRUNCATE audit_search",)

    def rows(self, records: Sequence[AuditRecord]) -> list[list[Any]]:
        documents = [word_text(getattr(r, name) for name in TEXT_FIELDS) for r in records]
        return [[[r.id for r in records], documents]]  # one statement: two parallel arrays

    def matches(self, terms: list[str]) -> tuple[str, list[Any]]:
        # Terms hold only letters and digits: nothing in them is tsquery syntax.
        tsquery = " & ".join(f"{term}:*" for term in terms)
        return "audit_search s WHERE s.document @@ to_tsquery('simple', ?)", [tsquery]

    async def text(self, terms: list[str], walk: bool, few: bool) -> tuple[str, list[Any]]:
        source, params = self.matches(terms)
        if walk or not few:
            # The planner walks the events by time and probes the word table for each.
            return f"e.id IN (SELECT s.id FROM {source})", params
        # PostgreSQL cannot tell how many events a prefix matches; guessing many, it walks
        # the events by date and probes each (6 s at 2M events for a digest that matched
        # once). With the few ids in hand it looks them up instead.
        ids = await _fetch(f"SELECT s.id FROM {source}", params)
        return "e.id = ANY(?)", [[row[0] for row in ids]]


@dataclass(frozen=True, slots=True)
class _Statements:
    """What search() runs for a query: each statement with its parameters."""

    page: tuple[str, list[Any]]
    count: tuple[str, list[Any]]
    counted: int | None = None  # the count's result, when it ran already to choose the page


class EmbeddedIndex:
    """The AuditIndex in Berth's database; build it after the database is open. Text with
    more than `few` matches is answered by walking the events in order (when that is cheaper
    than reading the matches)."""

    def __init__(self, few: int = _FEW) -> None:
        self.name: str = _connection().capabilities.dialect  # "sqlite" or "postgres"
        self.few = few
        self._words: Dialect = PostgresWords() if self.name == "postgres" else SqliteWords()

    async def prepare(self) -> None:
        """Create the word index if missing. Safe to repeat."""
        for statement in self._words.schema:
            await _connection().execute_script(statement)

    async def index(self, records: Sequence[AuditRecord]) -> None:
        """Add the records' words, replacing those of the same ids. Safe to repeat."""
        if records:
            await _connection().execute_many(self._words.upsert, self._words.rows(records))

    async def search(self, query: AuditQuery) -> AuditPage:
        """The page of matching events, newest first unless the query sorts otherwise."""
        if query.project_ids is not None and not query.project_ids:
            return AuditPage(0, [])
        terms = words(query.text)
        statements = await self._statements(query, terms)
        rows = await _fetch(*statements.page)
        counted = statements.counted
        if counted is None:
            (counted,), *_ = await _fetch(*statements.count)
        total, exact = sql.capped(int(counted), query.count_limit)
        records = [sql.record_of(row) for row in rows]
        # Marked in Python, for the page only: FTS5's highlight() runs for every matching
        # event before the sort (5 s for a word in 1.6M of 2M events), and re-running the
        # match for the page's rowids alone still took 0.4-0.6 s.
        hits = [AuditHit(r, highlights(r, terms)) for r in records]
        return AuditPage(total, hits, exact)

    async def explain(self, query: AuditQuery) -> list[list[str]]:
        """The database's plan of each statement search(query) runs (the page, then the
        count), one line per step; for checking that a query shape uses the indexes."""
        if query.project_ids is not None and not query.project_ids:
            return []
        explain = "EXPLAIN QUERY PLAN " if self.name == "sqlite" else "EXPLAIN "
        statements = await self._statements(query, words(query.text))
        return [
            [str(row[-1]) for row in await _fetch(explain + statement, params)]
            for statement, params in (statements.page, statements.count)
        ]

    async def delete_before(
        self, cutoff: datetime, operations: frozenset[str] | None = None
    ) -> None:
        """Delete the events before cutoff (of these operations, when given) from
        audit_event (this index reads it directly) and the words of every event no longer
        there. Safe to repeat, in either order with the purge of the event table."""
        moment = sql.bind("occurred_at", cutoff, self.name)
        events = "DELETE FROM audit_event WHERE id IN (SELECT id FROM audit_event"
        chosen = sorted(operations) if operations is not None else []
        only = f" AND operation IN ({','.join('?' * len(chosen)) or 'NULL'})"
        where = "WHERE occurred_at < ?" + (only if operations is not None else "")
        await self._drain(f"{events} {where} LIMIT ?)", [moment, *chosen])
        await self._drain(self._words.delete_orphans, [])

    async def clear(self) -> None:
        """Forget every event's words (events stay in audit_event). Safe to repeat."""
        await self.prepare()  # TRUNCATE needs the table
        for statement in self._words.clear:
            await _connection().execute_script(statement)
        await self.prepare()

    async def ping(self) -> None:
        await _fetch(self._words.probe, [])

    async def close(self) -> None:
        """Nothing to close: the connection is the database's."""

    async def _statements(self, query: AuditQuery, terms: list[str]) -> _Statements:
        """The page and the count statements of a query. Text is counted in the word index
        first: that count chooses how to find the page, and is the total when nothing else
        narrows the query."""
        clauses, params = sql.where(query, self.name)
        limit, limit_params = sql.page(query)
        order = sql.order_by(query.sort, self.name)
        word_count, counted = None, None
        if terms:
            word_count = self._word_count(terms, query.count_limit)
            (matches,), *_ = await _fetch(*word_count)
            walk = await self._walk(query, int(matches))
            few = int(matches) <= self.few
            match, match_params = await self._words.text(terms, walk, few)
            counted = None if clauses else int(matches)
            clauses, params = [match, *clauses], [*match_params, *params]
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        page = f"SELECT {sql.SELECT_COLUMNS} FROM audit_event e {where} {order} {limit}"
        if word_count is not None and counted is not None:
            return _Statements((page, [*params, *limit_params]), word_count, counted)
        count, count_params = sql.count(f"audit_event e {where}", query.count_limit)
        return _Statements((page, [*params, *limit_params]), (count, [*params, *count_params]))

    def _word_count(self, terms: list[str], count_limit: int | None) -> tuple[str, list[Any]]:
        """Count the word index's matches far enough for the total and to tell few from
        many. Words of events purged a moment ago may still be there (delete_before removes
        them right after the purge), so for that moment a total can be a little high."""
        source, params = self._words.matches(terms)
        cap = None if count_limit is None else max(count_limit, self.few)
        count, count_params = sql.count(source, cap)
        return count, [*params, *count_params]

    async def _walk(self, query: AuditQuery, matches: int) -> bool:
        """Whether to find the page by walking the events in order: for many matches, when
        the events the walk expects to pass before the page ends (matches spread evenly
        over time) cost less than reading every match by id and sorting them."""
        if matches <= self.few or not query.sort or query.sort[0][0] not in _WALK_ORDERS:
            return False
        (low, high), *_ = await _fetch(
            "SELECT (SELECT min(id) FROM audit_event), (SELECT max(id) FROM audit_event)", []
        )
        events = int(high or 0) - int(low or 0) + 1
        return (query.offset + query.limit) * events <= _WALK_RATIO * matches * matches

    async def _drain(self, statement: str, params: list[Any]) -> None:
        """Repeat a chunked DELETE until it deletes nothing."""
        if self.name == "postgres":
            statement = sql.numbered(statement)
        while True:
            changed, _rows = await _connection().execute_query(statement, [*params, _CHUNK])
            if not changed:
                return


def _connection() -> BaseDBAsyncClient:
    return Tortoise.get_connection("default")


async def _fetch(statement: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Rows of a `?`-placeholder statement, on either database."""
    connection = _connection()
    if connection.capabilities.dialect == "postgres":
        statement = sql.numbered(statement)
    _count, rows = await connection.execute_query(statement, params)
    return [tuple(row) for row in rows]
