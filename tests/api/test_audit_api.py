"""The audit search API's contract: who may read, bad queries, paging, event types, CSV."""

from __future__ import annotations

import csv
import io
import uuid

import httpx
import pytest

from tests.factories import push_image
from tests.support import ADMIN, RunningBerth

LOGS = "/api/v2.0/auditlog-exts"


def get(server: RunningBerth, path: str, auth: object = ADMIN, **params: str) -> httpx.Response:
    return httpx.get(f"{server.url}{path}", params=params, auth=auth, timeout=30)  # type: ignore[arg-type]


def test_anonymous_callers_are_asked_to_sign_in(berth_server: RunningBerth) -> None:
    response = get(berth_server, LOGS, auth=None)
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize(
    ("params", "says"),
    [
        pytest.param({"q": "password=x"}, "cannot filter by 'password'", id="unknown-key"),
        pytest.param({"q": "op_time=[yesterday~]"}, "bad value for 'op_time'", id="bad-time"),
        pytest.param({"q": "operation_result=maybe"}, "bad value", id="bad-bool"),
        pytest.param({"q": "operation_result=~tru"}, "does not support =~", id="contains-bool"),
        pytest.param({"q": "username=[a~b"}, "unclosed bracket", id="unclosed"),
        pytest.param({"q": "username"}, "is not key=value", id="no-value"),
        pytest.param({"q": "username=a\x00b"}, "NUL character", id="nul"),
        pytest.param({"sort": "-password"}, "cannot sort by 'password'", id="bad-sort"),
        pytest.param({"page": "0"}, "page must be", id="page-zero"),
        pytest.param({"page_size": "500"}, "page_size", id="page-too-big"),
        pytest.param({"page": "201", "page_size": "50"}, "narrow the query", id="too-deep"),
        pytest.param({"text": "x" * 300}, "at most 256", id="text-too-long"),
    ],
)
def test_a_malformed_query_gets_a_400_that_says_what_is_wrong(
    berth_server: RunningBerth, params: dict[str, str], says: str
) -> None:
    response = get(berth_server, LOGS, **params)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == "BAD_REQUEST"
    assert says in error["message"]


def test_hostile_free_text_is_words_not_syntax(berth_server: RunningBerth) -> None:
    everything = int(get(berth_server, LOGS).headers["X-Total-Count"])
    for text in ('" OR 1=1 --', "a* NEAR(b) ^c", "日本語 ✓", "%_\\", "':*&|!()"):
        response = get(berth_server, LOGS, text=text)
        assert response.status_code == 200, (text, response.text)
        total = int(response.headers["X-Total-Count"])
        assert len(response.json()) == min(total, 10)
    # Text without a single word is no condition at all
    assert total >= everything


def test_paging_sorting_and_ranges_over_pushes(berth_server: RunningBerth) -> None:
    # Given five pushes to one repository
    name = f"library/paged-{uuid.uuid4().hex[:6]}"
    for n in range(5):
        push_image(berth_server, name, f"v{n}")
    query = f"operation=create,resource=~{name}:"
    # When reading them two at a time, oldest first
    pages = [
        get(berth_server, LOGS, q=query, sort="op_time", page=str(p), page_size="2")
        for p in (1, 2, 3)
    ]
    # Then the pages hold 2, 2, 1 events in push order, each page says the total and links on
    assert [int(p.headers["X-Total-Count"]) for p in pages] == [5, 5, 5]
    assert pages[0].headers["X-Total-Count-Exact"] == "true"
    tags = [e["resource"].split(":", 1)[1].split("@")[0] for p in pages for e in p.json()]
    assert tags == ["v0", "v1", "v2", "v3", "v4"]
    assert 'rel="next"' in pages[0].headers["Link"] and 'rel="prev"' in pages[2].headers["Link"]
    # And a time range from the third push on finds the last three
    third = pages[1].json()[0]["op_time"]
    ranged = get(berth_server, LOGS, q=f"{query},op_time=[{third}~]")
    assert int(ranged.headers["X-Total-Count"]) == 3
    # And any-of finds exactly the named operations
    either = get(berth_server, LOGS, q=f"resource=~{name}:,operation={{create delete}}")
    assert {e["operation"] for e in either.json()} == {"create"}


def test_event_types_are_listed(berth_server: RunningBerth) -> None:
    response = get(berth_server, f"{LOGS}/events")
    assert response.status_code == 200
    types = {t["event_type"] for t in response.json()}
    assert {"create_artifact", "pull_artifact", "login_user", "delete_project"} <= types


def test_csv_export_holds_the_filtered_events_and_defuses_formulas(
    berth_server: RunningBerth,
) -> None:
    # Given a failed login whose attempted user name is a spreadsheet formula
    hostile = "=HYPERLINK(evil)"
    httpx.post(
        f"{berth_server.url}/c/login",
        data={"principal": hostile, "password": "wrong"},
        timeout=30,
    )
    name = f"library/exported-{uuid.uuid4().hex[:6]}"
    push_image(berth_server, name, "1")
    # When exporting the pushes of that repository, and the failed logins
    pushes = get(berth_server, f"{LOGS}/export", q=f"resource=~{name}:")
    logins = get(berth_server, f"{LOGS}/export", q="operation=login,operation_result=false")
    # Then each is a CSV attachment with a header row and exactly the matching events
    assert pushes.status_code == 200
    assert pushes.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in pushes.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(pushes.text)))
    assert len(rows) == 1 and rows[0]["resource"].startswith(f"{name}:1@sha256:")
    assert rows[0]["operation"] == "create" and rows[0]["operation_result"] == "true"
    # And a cell that a spreadsheet would run as a formula is quoted as text
    users = [row["username"] for row in csv.DictReader(io.StringIO(logins.text))]
    assert f"'{hostile}" in users and hostile not in users
