"""What the Elasticsearch backend sends: the template, the documents, the search bodies, and
how it reads answers back. Pure data, so it runs without a server (the contract suite
runs against a real one when BERTH_TEST_ELASTICSEARCH_URL is set)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from search import elastic_body as body
from search import open_audit_index
from search.audit import (
    MARK_END,
    MARK_START,
    TEXT_FIELDS,
    AuditQuery,
    AuditRecord,
    Condition,
)

ALIAS = "berth-audit"
RECORD = AuditRecord(
    id=42,
    occurred_at=datetime(2024, 3, 31, 23, 59, 59, 123456, tzinfo=UTC),
    username="alice",
    operation="create",
    resource_type="artifact",
    resource="library/app:1.0@sha256:ab",
    project="library",
    project_id=1,
    success=True,
    client_address="10.0.0.7",
    user_agent="docker/24.0.7",
    description="",
)


def test_template_puts_every_monthly_index_behind_the_alias() -> None:
    template = body.template(ALIAS)
    assert template["index_patterns"] == ["berth-audit-*"]
    assert template["template"]["aliases"] == {"berth-audit": {}}


def test_mapping_types() -> None:
    mappings = body.template(ALIAS)["template"]["mappings"]
    properties = mappings["properties"]
    assert mappings["dynamic"] == "strict"
    assert properties["occurred_at"] == {"type": "date_nanos"}
    assert properties["success"] == {"type": "boolean"}
    assert properties["id"] == properties["project_id"] == {"type": "long"}
    for name in TEXT_FIELDS:
        assert properties[name]["type"] == "keyword"  # exact filters and sorting
        assert properties[name]["fields"]["text"] == {"type": "text", "analyzer": "berth_words"}


def test_words_are_runs_of_letters_and_digits_in_lower_case() -> None:
    analysis = body.template(ALIAS)["template"]["settings"]["analysis"]
    assert analysis["tokenizer"]["berth_words"] == {
        "type": "pattern",
        "pattern": r"[^\p{L}\p{N}]+",
    }
    assert analysis["analyzer"]["berth_words"]["filter"] == ["lowercase"]


@pytest.mark.parametrize(
    ("moment", "name"),
    [
        pytest.param(datetime(2024, 3, 31, 23, 59, tzinfo=UTC), "berth-audit-2024.03", id="utc"),
        pytest.param(
            datetime(2024, 4, 1, 1, 30, tzinfo=timezone(timedelta(hours=2))),
            "berth-audit-2024.03",
            id="offset-counts-in-utc",
        ),
        pytest.param(datetime(2024, 12, 5), "berth-audit-2024.12", id="naive-is-utc"),
    ],
)
def test_events_go_to_the_index_of_their_month(moment: datetime, name: str) -> None:
    assert body.index_name(ALIAS, moment) == name


def test_actions_index_by_event_id() -> None:
    (action,) = body.actions(ALIAS, [RECORD])
    assert action["_op_type"] == "index"  # replaces a document of the same id
    assert action["_id"] == "42"
    assert action["_index"] == "berth-audit-2024.03"
    assert action["_source"]["occurred_at"] == "2024-03-31T23:59:59.123456+00:00"
    assert action["_source"]["resource"] == RECORD.resource
    assert body.record_of(action["_source"]) == RECORD


def test_default_search_is_everything_newest_first() -> None:
    request = body.search_body(AuditQuery())
    assert request == {
        "query": {"bool": {"filter": []}},
        "sort": [{"occurred_at": {"order": "desc"}}, {"id": {"order": "desc"}}],
        "from": 0,
        "size": 15,
        "track_total_hits": True,
    }


@pytest.mark.parametrize(
    ("condition", "clause"),
    [
        pytest.param(
            Condition("username", "exact", ("alice",)),
            {"term": {"username": "alice"}},
            id="exact",
        ),
        pytest.param(
            Condition("success", "exact", (False,)), {"term": {"success": False}}, id="boolean"
        ),
        pytest.param(
            Condition("resource", "contains", ("App*1?\\",)),
            {"wildcard": {"resource": {"value": "*App\\*1\\?\\\\*", "case_insensitive": True}}},
            id="contains-escaped",
        ),
        pytest.param(
            Condition("occurred_at", "range", (datetime(2024, 1, 1, 1, tzinfo=UTC), None)),
            {"range": {"occurred_at": {"gte": "2024-01-01T01:00:00+00:00"}}},
            id="range-open-high",
        ),
        pytest.param(
            Condition("id", "range", (None, "7")), {"range": {"id": {"lte": 7}}}, id="range-low"
        ),
        pytest.param(
            Condition("id", "range", (None, None)), {"match_all": {}}, id="range-unbounded"
        ),
        pytest.param(
            Condition("operation", "any", ("create", "delete")),
            {"terms": {"operation": ["create", "delete"]}},
            id="any",
        ),
    ],
)
def test_conditions_become_filters(condition: Condition, clause: dict) -> None:
    request = body.search_body(AuditQuery(conditions=(condition,)))
    assert request["query"]["bool"]["filter"] == [clause]


def test_project_scope_is_a_terms_filter() -> None:
    request = body.search_body(AuditQuery(project_ids=frozenset({9, 2})))
    assert request["query"]["bool"]["filter"] == [{"terms": {"project_id": [2, 9]}}]


def test_every_word_is_a_prefix_in_some_text_field() -> None:
    request = body.search_body(AuditQuery(text="Alice  sha256:AB"))
    clauses = request["query"]["bool"]["filter"]
    assert [c["bool"]["should"][0]["prefix"]["username.text"]["value"] for c in clauses] == [
        "alice",
        "sha256",
        "ab",
    ]
    first = clauses[0]["bool"]
    assert first["minimum_should_match"] == 1
    assert {next(iter(p["prefix"])) for p in first["should"]} == {
        f"{name}.text" for name in TEXT_FIELDS
    }


def test_text_highlights_whole_values_between_the_marks() -> None:
    highlight = body.search_body(AuditQuery(text="alice"))["highlight"]
    assert highlight["pre_tags"] == [MARK_START]
    assert highlight["post_tags"] == [MARK_END]
    assert highlight["number_of_fragments"] == 0
    assert set(highlight["fields"]) == {f"{name}.text" for name in TEXT_FIELDS}
    assert highlight["highlight_query"]["bool"]["must"][0]["bool"]["should"]


@pytest.mark.parametrize("text", ["\" * ( ) : - AND OR NEAR ^ '", "a:b OR c*"])
def test_query_syntax_in_text_stays_words(text: str) -> None:
    clauses = body.search_body(AuditQuery(text=text))["query"]["bool"]["filter"]
    values = {c["bool"]["should"][0]["prefix"]["username.text"]["value"] for c in clauses}
    assert values <= {"and", "or", "near", "a", "b", "c"}


def test_text_without_words_adds_nothing() -> None:
    request = body.search_body(AuditQuery(text=" :: ** "))
    assert request["query"]["bool"]["filter"] == []
    assert "highlight" not in request


def test_sort_ends_with_id_and_pages() -> None:
    request = body.search_body(AuditQuery(sort=(("username", False),), offset=30, limit=10))
    assert request["sort"] == [{"username": {"order": "asc"}}, {"id": {"order": "asc"}}]
    assert (request["from"], request["size"]) == (30, 10)


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(AuditQuery(conditions=(Condition("indexed", "exact", (1,)),)), id="field"),
        pytest.param(AuditQuery(conditions=(Condition("id", "contains", ("1",)),)), id="op"),
        pytest.param(AuditQuery(conditions=(Condition("success", "exact", ("no",)),)), id="type"),
        pytest.param(AuditQuery(sort=(("description", True),)), id="sort"),
        pytest.param(AuditQuery(offset=-1), id="offset"),
        pytest.param(AuditQuery(offset=9_990, limit=15), id="past-the-result-window"),
        pytest.param(AuditQuery(count_limit=-1), id="count-limit"),
    ],
)
def test_queries_it_cannot_serve(query: AuditQuery) -> None:
    with pytest.raises(ValueError):
        body.search_body(query)


def test_a_response_becomes_a_page() -> None:
    source = body.document(RECORD)
    response = {
        "hits": {
            "total": {"value": 31, "relation": "eq"},
            "hits": [
                {
                    "_id": "42",
                    "_source": source,
                    "highlight": {"resource.text": [f"{MARK_START}library{MARK_END}/app"]},
                }
            ],
        }
    }
    page = body.page_of(response)
    assert page.total == 31
    assert page.total_exact
    (hit,) = page.hits
    assert hit.record == RECORD
    assert hit.highlights == {"resource": f"{MARK_START}library{MARK_END}/app"}


@pytest.mark.parametrize(
    ("count_limit", "track"), [(None, True), (0, 1), (100_000, 100_001)], ids=["all", "0", "100k"]
)
def test_a_count_limit_stops_counting_one_past_it(count_limit: int | None, track: object) -> None:
    request = body.search_body(AuditQuery(count_limit=count_limit))
    assert request["track_total_hits"] == track


@pytest.mark.parametrize(
    ("count_limit", "total", "relation", "expected"),
    [
        pytest.param(None, 31, "eq", (31, True), id="no-limit"),
        pytest.param(31, 31, "eq", (31, True), id="at-the-limit"),
        pytest.param(30, 31, "gte", (30, False), id="past-the-limit"),
        pytest.param(0, 0, "eq", (0, True), id="none-at-0"),
        pytest.param(0, 1, "gte", (0, False), id="some-at-0"),
    ],
)
def test_a_capped_total_says_whether_it_is_exact(
    count_limit: int | None, total: int, relation: str, expected: tuple[int, bool]
) -> None:
    response = {"hits": {"total": {"value": total, "relation": relation}, "hits": []}}
    page = body.page_of(response, count_limit)
    assert (page.total, page.total_exact) == expected


@pytest.mark.parametrize(
    ("cutoff", "expired"),
    [
        pytest.param(datetime(2024, 3, 1, tzinfo=UTC), ["2023.12", "2024.01", "2024.02"], id="m"),
        pytest.param(datetime(2024, 2, 29, 23, tzinfo=UTC), ["2023.12", "2024.01"], id="mid"),
        pytest.param(datetime(2024, 1, 1, tzinfo=UTC), ["2023.12"], id="year-end"),
        pytest.param(datetime(2023, 12, 31, tzinfo=UTC), [], id="none"),
    ],
)
def test_retention_drops_only_months_wholly_before_the_cutoff(
    cutoff: datetime, expired: list[str]
) -> None:
    names = [f"berth-audit-{m}" for m in ("2024.02", "2023.12", "2024.03", "2024.01")]
    names += ["berth-audit-old", "other-2023.01", "berth-audit-2023.01-copy"]
    assert body.expired_indices(ALIAS, names, cutoff) == [f"berth-audit-{m}" for m in expired]


def test_only_the_alias_monthly_indices_are_cleared() -> None:
    names = ["berth-audit-2024.01", "berth-audit-archive", "berth-audits-2024.01"]
    assert body.monthly_indices(ALIAS, names) == ["berth-audit-2024.01"]


async def test_open_audit_index_names_the_choices() -> None:
    with pytest.raises(ValueError, match="embedded, elasticsearch"):
        open_audit_index("solr", None, ALIAS)
    with pytest.raises(ValueError, match="elasticsearch_url"):
        open_audit_index("elasticsearch", None, ALIAS)
    index = open_audit_index("elasticsearch", "http://127.0.0.1:9", ALIAS)  # connects lazily
    assert index.name == "elasticsearch"
    await index.close()
