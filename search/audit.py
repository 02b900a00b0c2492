"""The audit index: what every search backend stores, answers and promises.

The database is the source of truth (models.AuditEvent); a backend holds a searchable copy
that the indexing pipeline fills in batches, so it may lag a little behind. Backends:
search/embedded.py (SQLite FTS5 or PostgreSQL full-text search, in Berth's own database)
and search/elastic.py (Elasticsearch). One contract suite (tests/search) runs against each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

# Highlighted fragments mark matches with these two private-use characters; whoever shows
# them (the API) escapes the text first and then turns the marks into <mark> tags.
MARK_START, MARK_END = "\ue000", "\ue001"

# Fields a query may filter on; TEXT_FIELDS are also searched by free text.
TEXT_FIELDS = (
    "username",
    "operation",
    "resource_type",
    "resource",
    "project",
    "client_address",
    "user_agent",
    "description",
)
FILTER_FIELDS = (*TEXT_FIELDS, "success", "occurred_at", "id")
SORT_FIELDS = ("occurred_at", "id", "username", "operation", "resource_type", "resource")

Op = Literal["exact", "contains", "range", "any"]
NEWEST_FIRST: tuple[tuple[str, bool], ...] = (("occurred_at", True), ("id", True))


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One event as indexed and returned."""

    id: int
    occurred_at: datetime  # timezone-aware, UTC
    username: str
    operation: str
    resource_type: str
    resource: str
    project: str
    project_id: int | None
    success: bool
    client_address: str
    user_agent: str
    description: str


@dataclass(frozen=True, slots=True)
class Condition:
    """field op values: exact and contains take one value (contains: case-insensitive
    substring), range takes (low, high) with None for an open end, any takes one or more."""

    field: str
    op: Op
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """A filtered, sorted page of events, optionally matching free text."""

    conditions: tuple[Condition, ...] = ()
    # Every word must occur (as a word prefix, any case) in some text field of the event.
    text: str = ""
    # None: all events; otherwise only events of these projects (an empty set sees none).
    project_ids: frozenset[int] | None = None
    sort: tuple[tuple[str, bool], ...] = NEWEST_FIRST  # (field, descending)
    offset: int = 0
    limit: int = 15
    # Count matches up to this many (None: all); past it the page's total is this number and
    # not exact. Counting millions of matches costs more than the page itself and tells a
    # reader nothing that paging (which stops at 10,000 deep) could use.
    count_limit: int | None = None


@dataclass(frozen=True, slots=True)
class AuditHit:
    record: AuditRecord
    # text field -> its whole value with each match between MARK_START and MARK_END; only
    # fields that matched the free text, and only when the query had text.
    highlights: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditPage:
    total: int  # events matching the query, all pages together (at most count_limit)
    hits: list[AuditHit]
    total_exact: bool = True  # False when counting stopped at the query's count_limit


class AuditIndex(Protocol):
    """A searchable copy of the audit log."""

    name: str  # "sqlite", "postgres", "elasticsearch"

    async def prepare(self) -> None:
        """Create the tables / index template / alias the backend needs. Safe to repeat."""
        ...

    async def index(self, records: Sequence[AuditRecord]) -> None:
        """Add records, replacing any with the same id. Safe to repeat."""
        ...

    async def search(self, query: AuditQuery) -> AuditPage:
        """The page of matching events. Raises ValueError for a field or op it cannot
        serve (callers validate first, so this is a programming error)."""
        ...

    async def delete_before(
        self, cutoff: datetime, operations: frozenset[str] | None = None
    ) -> None:
        """Forget events that occurred before cutoff (of these operations only, when given).
        Safe to repeat."""
        ...

    async def clear(self) -> None:
        """Forget every event (before a rebuild). Safe to repeat."""
        ...

    async def ping(self) -> None:
        """One cheap request to the backend; raises when it does not answer (health)."""
        ...

    async def close(self) -> None: ...
