"""An AuditQuery's filters, order and page as SQL on `audit_event e`, for SQLite and PostgreSQL.

Caller values are always bound as parameters; only column names from the fixed field tuples
of search/audit.py are written into the statement. Statements use `?` placeholders, which
`numbered` rewrites to `$n` for PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from search.audit import FILTER_FIELDS, SORT_FIELDS, TEXT_FIELDS, AuditQuery, AuditRecord, Condition

COLUMNS = (
    "id",
    "occurred_at",
    "username",
    "operation",
    "resource_type",
    "resource",
    "project",
    "project_id",
    "success",
    "client_address",
    "user_agent",
    "description",
)
SELECT_COLUMNS = ", ".join(f"e.{name}" for name in COLUMNS)


def where(query: AuditQuery, dialect: str) -> tuple[list[str], list[Any]]:
    """The WHERE clauses (ANDed) and their parameters for the query's conditions and
    project scope. An empty project_ids set is the caller's to short-cut."""
    clauses: list[str] = []
    params: list[Any] = []
    for condition in query.conditions:
        clause, values = condition_sql(condition, dialect)
        clauses.append(clause)
        params += values
    if query.project_ids is not None:
        ids = sorted(query.project_ids)
        if dialect == "postgres":
            clauses.append("e.project_id = ANY(?)")
            params.append(ids)
        else:
            clauses.append(f"e.project_id IN ({', '.join('?' * len(ids))})")
            params += ids
    return clauses, params


def condition_sql(condition: Condition, dialect: str) -> tuple[str, list[Any]]:
    """One condition as a clause and its parameters; ValueError if it is malformed."""
    field, op, values = condition.field, condition.op, condition.values
    if field not in FILTER_FIELDS:
        raise ValueError(f"cannot filter on {field!r}")
    column = f"e.{field}"
    if op == "exact" and len(values) == 1:
        return f"{column} = ?", [bind(field, values[0], dialect)]
    if op == "contains" and len(values) == 1 and field in TEXT_FIELDS:
        like = "ILIKE" if dialect == "postgres" else "LIKE"  # SQLite's LIKE ignores ASCII case
        return f"{column} {like} ? ESCAPE '\\'", [f"%{escape_like(str(values[0]))}%"]
    if op == "range" and len(values) == 2:
        return range_sql(column, field, values, dialect)
    if op == "any" and values:
        marks = ", ".join("?" * len(values))
        return f"{column} IN ({marks})", [bind(field, v, dialect) for v in values]
    raise ValueError(f"cannot apply {op!r} to {field!r} with {len(values)} values")


def range_sql(column: str, field: str, values: Sequence[Any], dialect: str) -> tuple[str, list]:
    """low <= column <= high; a None end is open (both None: everything)."""
    clauses: list[str] = []
    params: list[Any] = []
    for value, compare in zip(values, (">=", "<="), strict=True):
        if value is not None:
            clauses.append(f"{column} {compare} ?")
            params.append(bind(field, value, dialect))
    return " AND ".join(clauses) or "1 = 1", params


def escape_like(text: str) -> str:
    """text matched literally inside a LIKE pattern with ESCAPE '\\'."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def bind(field: str, value: Any, dialect: str) -> Any:
    """A caller's value as the database stores that field; ValueError if it does not fit."""
    if field == "occurred_at":
        moment = utc(value if isinstance(value, datetime) else datetime.fromisoformat(str(value)))
        # Tortoise stores SQLite datetimes as isoformat(" ") text; the same form compares right.
        return moment if dialect == "postgres" else moment.isoformat(" ")
    if field == "id":
        return int(value)
    if field == "success":
        if not isinstance(value, bool):
            raise ValueError(f"success takes true or false, not {value!r}")
        return value
    return str(value)


def utc(moment: datetime) -> datetime:
    """moment in UTC; a naive one is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def order_by(sort: Sequence[tuple[str, bool]], dialect: str) -> str:
    """ORDER BY for the sort keys, ending with id so that pages never overlap."""
    keys = list(sort)
    if not any(name == "id" for name, _ in keys):
        keys.append(("id", keys[0][1] if keys else True))
    parts = []
    for name, desc in keys:
        if name not in SORT_FIELDS:
            raise ValueError(f"cannot sort on {name!r}")
        # Byte order on PostgreSQL too, as SQLite and Elasticsearch keywords sort.
        collate = ' COLLATE "C"' if dialect == "postgres" and name in TEXT_FIELDS else ""
        parts.append(f"e.{name}{collate} {'DESC' if desc else 'ASC'}")
    return "ORDER BY " + ", ".join(parts)


def page(query: AuditQuery) -> tuple[str, list[int]]:
    """LIMIT/OFFSET and their parameters; ValueError for negative numbers."""
    if query.limit < 0 or query.offset < 0:
        raise ValueError("limit and offset cannot be negative")
    return "LIMIT ? OFFSET ?", [query.limit, query.offset]


def count(source: str, count_limit: int | None) -> tuple[str, list[int]]:
    """A statement counting the rows of `source` (a FROM clause with its WHERE), and its
    parameters: all of them, or up to count_limit + 1 so that the caller can tell whether
    there were more (see `capped`); ValueError for a negative limit."""
    if count_limit is None:
        return f"SELECT count(*) FROM {source}", []
    if count_limit < 0:
        raise ValueError("count_limit cannot be negative")
    # The LIMIT inside lets the database stop reading at the cap, whatever the plan.
    return f"SELECT count(*) FROM (SELECT 1 FROM {source} LIMIT ?) AS capped", [count_limit + 1]


def capped(counted: int, count_limit: int | None) -> tuple[int, bool]:
    """(total, exact) of a count made by `count`: at most count_limit, exact unless more
    rows were there."""
    if count_limit is None or counted <= count_limit:
        return counted, True
    return count_limit, False


def numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2, ...` (our statements hold no other `?`)."""
    parts = sql.split("?")
    return parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))


def record_of(row: Sequence[Any]) -> AuditRecord:
    """An AuditRecord from a row of COLUMNS in order."""
    values = dict(zip(COLUMNS, row, strict=True))
    moment = values["occurred_at"]
    if not isinstance(moment, datetime):
        moment = datetime.fromisoformat(str(moment))
    values["occurred_at"] = utc(moment)
    values["success"] = bool(values["success"])
    return AuditRecord(**values)
