"""The embedded audit index: full-text search in Berth's own database.

Filters, order and pages read `audit_event` itself (the source of truth, with its indexes);
free text joins a word index that `index()` fills: an FTS5 table on SQLite, a tsvector
table with a GIN index on PostgreSQL. Every word of the text must start some word of the
event (search/text.py says what a word is); text without any word filters nothing.
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
    MARK_END,
    MARK_START,
    TEXT_FIELDS,
    AuditHit,
    AuditPage,
    AuditQuery,
    AuditRecord,
)
from search.text import highlights, word_text, words

_CHUNK = 5000  # rows per delete statement: short write transactions, as the purge in core


@dataclass(frozen=True, slots=True)
class TextSource:
    """How a text query joins the word index: extra select columns, FROM and WHERE."""

    select: str
    select_params: list[Any]
    from_: str
    match: str
    match_params: list[Any]


PLAIN = TextSource("", [], "audit_event e", "", [])


class Dialect(Protocol):
    """What differs between the SQLite and the PostgreSQL word index."""

    schema: tuple[str, ...]
    upsert: str
    delete_orphans: str
    clear: tuple[str, ...]

    def rows(self, records: Sequence[AuditRecord]) -> list[list[Any]]: ...

    def text(self, terms: list[str]) -> TextSource: ...

    def hit(self, row: Sequence[Any], terms: list[str]) -> AuditHit: ...


class SqliteWords:
    """An FTS5 table whose rowid is the event id; FTS5's highlight() marks the matches."""

    schema: tuple[str, ...] = (
        "CREATE VIRTUAL TABLE IF NOT EXISTS audit_fts USING fts5("
        + ", ".join(TEXT_FIELDS)
        + ", tokenize = 'unicode61')",
    )
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

    def text(self, terms: list[str]) -> TextSource:
        # Terms hold only letters and digits, so quoting makes each a plain prefix term
        # whatever FTS5 syntax the user typed; FTS5 ANDs terms separated by spaces.
        match = " ".join(f'"{term}"*' for term in terms)
        marks = [MARK_START, MARK_END] * len(TEXT_FIELDS)
        select = "".join(f", highlight(audit_fts, {i}, ?, ?)" for i in range(len(TEXT_FIELDS)))
        # CROSS JOIN keeps the word index as the outer loop: the planner would otherwise
        # walk audit_event by date and probe the index once per event.
        from_ = "audit_fts CROSS JOIN audit_event e ON e.id = audit_fts.rowid"
        return TextSource(select, marks, from_, "audit_fts MATCH ?", [match])

    def hit(self, row: Sequence[Any], terms: list[str]) -> AuditHit:
        record = sql.record_of(row[: len(sql.COLUMNS)])
        marked = dict(zip(TEXT_FIELDS, row[len(sql.COLUMNS) :], strict=False))
        return AuditHit(record, {k: v for k, v in marked.items() if v and MARK_START in v})


class PostgresWords:
    """A tsvector per event ('simple': no stemming, no stop words) under a GIN index; the
    document holds the words of search/text.py, so punctuation never glues words together."""

    schema: tuple[str, ...] = (
        "CREATE TABLE IF NOT EXISTS audit_search"
        " (id bigint PRIMARY KEY, document tsvector NOT NULL)",
        "CREATE INDEX IF NOT EXISTS audit_search_document ON audit_search USING gin (document)",
    )
    upsert = (
        "INSERT INTO audit_search (id, document) SELECT t.id, to_tsvector('simple', t.words)"
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

    def text(self, terms: list[str]) -> TextSource:
        # Terms hold only letters and digits: nothing in them is tsquery syntax.
        tsquery = " & ".join(f"{term}:*" for term in terms)
        from_ = "audit_search s JOIN audit_event e ON e.id = s.id"
        return TextSource("", [], from_, "s.document @@ to_tsquery('simple', ?)", [tsquery])

    def hit(self, row: Sequence[Any], terms: list[str]) -> AuditHit:
        record = sql.record_of(row)
        return AuditHit(record, highlights(record, terms) if terms else {})


class EmbeddedIndex:
    """The AuditIndex in Berth's database; build it after the database is open."""

    def __init__(self) -> None:
        self.name: str = _connection().capabilities.dialect  # "sqlite" or "postgres"
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
        source = self._words.text(terms) if terms else PLAIN
        clauses, params = sql.where(query, self.name)
        if source.match:
            clauses, params = [source.match, *clauses], [*source.match_params, *params]
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        limit, limit_params = sql.page(query)
        statement = (
            f"SELECT {sql.SELECT_COLUMNS}{source.select} FROM {source.from_} {where} "
            f"{sql.order_by(query.sort, self.name)} {limit}"
        )
        rows = await self._rows(statement, [*source.select_params, *params, *limit_params])
        (total,), *_ = await self._rows(f"SELECT count(*) FROM {source.from_} {where}", params)
        return AuditPage(int(total), [self._words.hit(row, terms) for row in rows])

    async def delete_before(self, cutoff: datetime) -> None:
        """Delete the events before cutoff from audit_event (this index reads it directly)
        and the words of every event no longer there. Safe to repeat, in either order with
        the purge of the event table."""
        moment = sql.bind("occurred_at", cutoff, self.name)
        events = "DELETE FROM audit_event WHERE id IN (SELECT id FROM audit_event"
        await self._drain(f"{events} WHERE occurred_at < ? LIMIT ?)", [moment])
        await self._drain(self._words.delete_orphans, [])

    async def clear(self) -> None:
        """Forget every event's words (events stay in audit_event). Safe to repeat."""
        await self.prepare()  # TRUNCATE needs the table
        for statement in self._words.clear:
            await _connection().execute_script(statement)
        await self.prepare()

    async def close(self) -> None:
        """Nothing to close: the connection is the database's."""

    async def _rows(self, statement: str, params: list[Any]) -> list[Sequence[Any]]:
        if self.name == "postgres":
            statement = sql.numbered(statement)
        _count, rows = await _connection().execute_query(statement, params)
        return [tuple(row) for row in rows]

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
