"""The Elasticsearch request bodies of the audit index, as plain data (no client, no I/O).

Events live in monthly indices `<alias>-YYYY.MM` (by occurred_at, UTC) that an index
template puts behind `<alias>`; a document's `_id` is the event id, so indexing an event
again replaces it. Text fields are keywords (exact filters, sorting) with a `.text`
sub-field split into words as search/text.py splits them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from search.audit import (
    FILTER_FIELDS,
    MARK_END,
    MARK_START,
    SORT_FIELDS,
    TEXT_FIELDS,
    AuditHit,
    AuditPage,
    AuditQuery,
    AuditRecord,
    Condition,
)
from search.text import words

ANALYZER = "berth_words"
MONTH = "%Y.%m"
# Above the priority-100 templates Elasticsearch installs for logs-*/metrics-*.
TEMPLATE_PRIORITY = 200
# index.max_result_window: from + size past it is refused by the cluster.
MAX_RESULT_WINDOW = 10_000


def template(alias: str) -> dict[str, Any]:
    """The index template: settings, mapping and alias of every monthly index."""
    words_field = {"type": "keyword", "fields": {"text": {"type": "text", "analyzer": ANALYZER}}}
    properties: dict[str, Any] = {name: words_field for name in TEXT_FIELDS}
    properties |= {
        "id": {"type": "long"},
        "project_id": {"type": "long"},
        "success": {"type": "boolean"},
        "occurred_at": {"type": "date_nanos"},  # `date` would round microseconds away
    }
    analysis = {
        "tokenizer": {ANALYZER: {"type": "pattern", "pattern": r"[^\p{L}\p{N}]+"}},
        "analyzer": {ANALYZER: {"type": "custom", "tokenizer": ANALYZER, "filter": ["lowercase"]}},
    }
    return {
        "index_patterns": [f"{alias}-*"],
        "priority": TEMPLATE_PRIORITY,
        "template": {
            "settings": {"analysis": analysis},
            "mappings": {"dynamic": "strict", "properties": properties},
            "aliases": {alias: {}},
        },
    }


def utc(moment: datetime) -> datetime:
    """moment in UTC; a naive one is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def index_name(alias: str, occurred_at: datetime) -> str:
    """The monthly index an event belongs to."""
    return f"{alias}-{utc(occurred_at).strftime(MONTH)}"


def document(record: AuditRecord) -> dict[str, Any]:
    """The indexed source of one event."""
    source: dict[str, Any] = {name: getattr(record, name) for name in TEXT_FIELDS}
    source |= {
        "id": record.id,
        "occurred_at": utc(record.occurred_at).isoformat(),
        "project_id": record.project_id,
        "success": record.success,
    }
    return source


def actions(alias: str, records: Iterable[AuditRecord]) -> list[dict[str, Any]]:
    """Bulk actions that index (or replace) each record in its monthly index."""
    return [
        {
            "_op_type": "index",
            "_index": index_name(alias, record.occurred_at),
            "_id": str(record.id),
            "_source": document(record),
        }
        for record in records
    ]


def search_body(query: AuditQuery) -> dict[str, Any]:
    """The search request for a query; ValueError for a field or op it cannot serve."""
    if query.limit < 0 or query.offset < 0:
        raise ValueError("limit and offset cannot be negative")
    if query.offset + query.limit > MAX_RESULT_WINDOW:
        raise ValueError(f"Elasticsearch pages end at event {MAX_RESULT_WINDOW}; narrow the query")
    filters = [condition(c) for c in query.conditions]
    if query.project_ids is not None:
        filters.append({"terms": {"project_id": sorted(query.project_ids)}})
    text = [word_clause(word) for word in words(query.text)]
    body: dict[str, Any] = {
        "query": {"bool": {"filter": filters + text}},
        "sort": sort(query.sort),
        "from": query.offset,
        "size": query.limit,
        "track_total_hits": track_total_hits(query.count_limit),
    }
    if text:
        body["highlight"] = {
            "highlight_query": {"bool": {"must": text}},
            "pre_tags": [MARK_START],
            "post_tags": [MARK_END],
            "number_of_fragments": 0,  # the whole value, as the other backends give it
            "fields": {f"{name}.text": {} for name in TEXT_FIELDS},
        }
    return body


def track_total_hits(count_limit: int | None) -> bool | int:
    """Count every match, or stop one past count_limit: a total of count_limit + 1 ("gte")
    tells more from exactly count_limit, even for a limit of 0."""
    if count_limit is None:
        return True
    if count_limit < 0:
        raise ValueError("count_limit cannot be negative")
    return count_limit + 1


def word_clause(word: str) -> dict[str, Any]:
    """Some text field has a word starting with word (already lower-case, letters and
    digits only, so the analyzer would not change it)."""
    prefixes = [{"prefix": {f"{name}.text": {"value": word}}} for name in TEXT_FIELDS]
    return {"bool": {"should": prefixes, "minimum_should_match": 1}}


def condition(cond: Condition) -> dict[str, Any]:
    """One filter clause; ValueError if the condition is malformed."""
    name, op, values = cond.field, cond.op, cond.values
    if name not in FILTER_FIELDS:
        raise ValueError(f"cannot filter on {name!r}")
    if op == "exact" and len(values) == 1:
        return {"term": {name: value(name, values[0])}}
    if op == "contains" and len(values) == 1 and name in TEXT_FIELDS:
        pattern = f"*{escape_wildcard(str(values[0]))}*"
        return {"wildcard": {name: {"value": pattern, "case_insensitive": True}}}
    if op == "range" and len(values) == 2:
        bounds = {
            key: value(name, bound)
            for key, bound in zip(("gte", "lte"), values, strict=True)
            if bound is not None
        }
        return {"range": {name: bounds}} if bounds else {"match_all": {}}
    if op == "any" and values:
        return {"terms": {name: [value(name, v) for v in values]}}
    raise ValueError(f"cannot apply {op!r} to {name!r} with {len(values)} values")


def value(name: str, raw: Any) -> Any:
    """A caller's value as the mapping holds that field; ValueError if it does not fit."""
    if name == "occurred_at":
        moment = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
        return utc(moment).isoformat()
    if name == "id":
        return int(raw)
    if name == "success":
        if not isinstance(raw, bool):
            raise ValueError(f"success takes true or false, not {raw!r}")
        return raw
    return str(raw)


def escape_wildcard(text: str) -> str:
    """text matched literally inside a wildcard pattern."""
    return re.sub(r"([\\*?])", r"\\\1", text)


def sort(keys: Sequence[tuple[str, bool]]) -> list[dict[str, Any]]:
    """Sort clauses, ending with id so that pages never overlap."""
    keys = list(keys)
    if not any(name == "id" for name, _ in keys):
        keys.append(("id", keys[0][1] if keys else True))
    for name, _desc in keys:
        if name not in SORT_FIELDS:
            raise ValueError(f"cannot sort on {name!r}")
    return [{name: {"order": "desc" if desc else "asc"}} for name, desc in keys]


def page_of(response: Mapping[str, Any], count_limit: int | None = None) -> AuditPage:
    """The AuditPage of a search response to a query with this count_limit."""
    hits = response["hits"]
    total = int(hits["total"]["value"])
    exact = hits["total"].get("relation", "eq") == "eq"
    if count_limit is not None and total > count_limit:
        total, exact = count_limit, False
    return AuditPage(total, [hit_of(hit) for hit in hits["hits"]], exact)


def hit_of(hit: Mapping[str, Any]) -> AuditHit:
    """One hit: its record and the whole marked value of each field that matched."""
    marked = {
        name.removesuffix(".text"): fragments[0]
        for name, fragments in hit.get("highlight", {}).items()
        if fragments
    }
    return AuditHit(record_of(hit["_source"]), marked)


def record_of(source: Mapping[str, Any]) -> AuditRecord:
    """The AuditRecord of an indexed document."""
    values = {name: source[name] for name in TEXT_FIELDS}
    return AuditRecord(
        id=int(source["id"]),
        occurred_at=utc(datetime.fromisoformat(source["occurred_at"])),
        project_id=source.get("project_id"),
        success=bool(source["success"]),
        **values,
    )


def expired_indices(alias: str, names: Iterable[str], cutoff: datetime) -> list[str]:
    """The monthly indices whose whole month lies before cutoff (they can be dropped)."""
    pattern = re.compile(re.escape(alias) + r"-(\d{4})\.(\d{2})")
    cutoff = utc(cutoff)
    expired = []
    for name in names:
        match = pattern.fullmatch(name)
        if match:
            year, month = int(match[1]), int(match[2])
            following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
            if following <= cutoff:
                expired.append(name)
    return sorted(expired)


def monthly_indices(alias: str, names: Iterable[str]) -> list[str]:
    """Of names, the monthly indices of this alias."""
    pattern = re.compile(re.escape(alias) + r"-\d{4}\.\d{2}")
    return sorted(name for name in names if pattern.fullmatch(name))
