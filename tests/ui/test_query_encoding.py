"""The dashboard writes exact filters in Harbor's `q` syntax so that the server's parser
(web/api/query.py) reads back the very value typed, or refuses values it cannot write."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

from models.errors import InvalidInput
from web.api.query import ANY, EXACT, parse_query

WRITABLE = [
    "plain",
    "library/app:1.0",
    "a,b",
    "a b",
    "~tilde",
    "[1~2]",
    "{x}",
    "(x)",
    "a[b",
    "a}b",
    "x (a, b)",
    "key=value",
    "ünïcødé",
    "a+b&c=d%20",
]
UNWRITABLE = ["a, b", "~ a", "[a b", "a}b,c"]


def exact_terms(page: Page, values: list[str]) -> list[str | None]:
    """What the page's own module writes for each value (None: it refuses the value)."""
    page.goto("/ui/login")
    script = """async (values) => {
        const query = await import("/ui/assets/query.js");
        return values.map((v) => {
            try { return query.exactTerm("username", v); }
            catch (e) { return e instanceof query.QueryError ? null : String(e); }
        });
    }"""
    result: Any = page.evaluate(script, values)
    return list(result)


@pytest.mark.parametrize("value", WRITABLE)
def test_the_server_reads_back_the_value_written(page: Page, value: str) -> None:
    # Given the term the dashboard writes, joined with another as in a real q
    [term] = exact_terms(page, [value])
    assert term is not None
    # When the server parses it
    terms = parse_query(f"operation=create,{term},operation_result=true", {
        "username": str, "operation": str, "operation_result": str,
    })  # fmt: skip
    # Then it is one exact match of the value, between the other two
    assert [t.key for t in terms] == ["operation", "username", "operation_result"]
    assert terms[1].op in (EXACT, ANY) and terms[1].values == (value,)


def test_values_the_syntax_cannot_write_are_refused(page: Page) -> None:
    assert exact_terms(page, UNWRITABLE) == [None] * len(UNWRITABLE)
    # (and indeed neither plain nor braced form reads back as the value)
    for value in UNWRITABLE:
        for term in (f"username={value}", f"username={{{value}}}"):
            try:
                parsed = parse_query(term, {"username": str})
            except InvalidInput:
                continue
            read = [(t.op, t.values) for t in parsed]
            assert read not in ([(EXACT, (value,))], [(ANY, (value,))])
