"""Harbor's /audit-logs (in-process, SQLite and PostgreSQL): the audit log in Harbor's
AuditLog shape, filtered, sorted and paged by the same query as /auditlog-exts."""

from __future__ import annotations

import uuid

import pytest

from tests.factories import AppApi, app_as, app_member, app_project, app_user
from tests.support import InProcessBerth

FIELDS = {"id", "username", "resource", "resource_type", "operation", "op_time"}


async def test_events_show_in_harbors_shape(in_process: InProcessBerth) -> None:
    # Given a project the admin created
    _, project = await app_project(in_process)
    # When the admin lists the log for it
    answer = await AppApi(in_process).get(
        "/audit-logs", params={"q": f"resource={project},resource_type=project"}
    )
    # Then the one event has exactly Harbor's fields
    assert answer.status_code == 200
    [event] = answer.json()
    assert set(event) == FIELDS
    assert (event["username"], event["operation"], event["resource"]) == (
        "admin",
        "create",
        project,
    )
    assert event["op_time"].endswith("Z")


async def test_filters_sort_and_paging(in_process: InProcessBerth) -> None:
    # Given three users created in order
    admin = AppApi(in_process)
    tag = uuid.uuid4().hex[:6]
    names = [(await app_user(in_process, prefix=f"a{tag}"))[1] for _ in range(3)]
    query = f"resource=~a{tag},operation=create,op_time=[2000-01-01T00:00:00~2100-01-01T00:00:00]"
    # When listed oldest first, two a page
    first = await admin.get("/audit-logs", params={"q": query, "sort": "op_time", "page_size": 2})
    second = await admin.get(
        "/audit-logs", params={"q": query, "sort": "op_time", "page_size": 2, "page": 2}
    )
    newest = await admin.get("/audit-logs", params={"q": query})
    # Then
    assert first.headers["X-Total-Count"] == "3"
    assert [e["resource"] for e in first.json() + second.json()] == names
    assert [e["resource"] for e in newest.json()] == names[::-1]


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"q": "nonsense=1"}, id="unknown-key"),
        pytest.param({"sort": "password"}, id="unknown-sort"),
        pytest.param({"q": "op_time=[yesterday~today]"}, id="bad-time"),
        pytest.param({"page_size": "0"}, id="page-size"),
    ],
)
async def test_bad_queries_are_400(in_process: InProcessBerth, params: dict[str, str]) -> None:
    assert (await AppApi(in_process).get("/audit-logs", params=params)).status_code == 400


async def test_who_reads_what(in_process: InProcessBerth) -> None:
    # Given a project with a Project Admin, another project, and an ordinary user
    _, mine = await app_project(in_process)
    _, other = await app_project(in_process)
    _, boss = await app_user(in_process)
    _, nobody_special = await app_user(in_process)
    await app_member(in_process, mine, boss, 1)
    # When each reads the log
    as_boss = await app_as(in_process, boss).get("/audit-logs", params={"page_size": 100})
    as_user = await app_as(in_process, nobody_special).get("/audit-logs")
    as_nobody = await app_as(in_process, None).get("/audit-logs")
    # Then the Project Admin sees their project's events only; the user none; nobody 401
    resources = {e["resource"] for e in as_boss.json()}
    assert mine in resources and other not in resources
    assert as_user.status_code == 200 and as_user.json() == []
    assert as_user.headers["X-Total-Count"] == "0"
    assert as_nobody.status_code == 401
