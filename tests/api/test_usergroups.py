"""User groups (in-process, SQLite and PostgreSQL): /usergroups CRUD and search, who may do
what, and a deleted group's memberships. The directory's part is tests/ldap/test_groups.py."""

from __future__ import annotations

import uuid

import pytest

from tests.factories import AppApi, app_as, app_project, app_user, created, error_of
from tests.support import InProcessBerth


def dn(name: str) -> str:
    return f"cn={name},ou=groups,dc=example,dc=com"


async def test_a_group_is_created_read_renamed_and_deleted(in_process: InProcessBerth) -> None:
    # Given the admin
    admin = AppApi(in_process)
    # When they create an HTTP group, read it, rename it and delete it
    group_id = await created(
        await admin.post("/usergroups", json={"group_name": "ops", "group_type": 2})
    )
    first = (await admin.get(f"/usergroups/{group_id}")).json()
    renamed = await admin.put(f"/usergroups/{group_id}", json={"group_name": "operations"})
    second = (await admin.get(f"/usergroups/{group_id}")).json()
    deleted = await admin.delete(f"/usergroups/{group_id}")
    gone = await admin.get(f"/usergroups/{group_id}")
    # Then each step shows in Harbor's UserGroup
    assert first == {"id": group_id, "group_name": "ops", "group_type": 2, "ldap_group_dn": ""}
    assert renamed.status_code == 200 and second["group_name"] == "operations"
    assert deleted.status_code == 200 and gone.status_code == 404


async def test_an_ldap_group_is_named_by_its_dn_and_unique(in_process: InProcessBerth) -> None:
    # Given no directory is configured (the DN cannot be checked)
    admin = AppApi(in_process)
    group_dn = dn(f"team{uuid.uuid4().hex[:6]}")
    # When the admin creates an LDAP group without a name, then the same DN again
    group_id = await created(
        await admin.post("/usergroups", json={"group_type": 1, "ldap_group_dn": group_dn})
    )
    again = await admin.post(
        "/usergroups", json={"group_name": "x", "group_type": 1, "ldap_group_dn": group_dn}
    )
    # Then the group is named after its DN's first value, and the duplicate is refused
    group = (await admin.get(f"/usergroups/{group_id}")).json()
    assert group["group_name"] == group_dn.split(",")[0][3:]
    assert group["ldap_group_dn"] == group_dn
    assert again.status_code == 409, again.text


async def test_the_group_a_membership_made_is_the_same_group(in_process: InProcessBerth) -> None:
    # Given an LDAP group added to a project as a member by its DN
    admin = AppApi(in_process)
    _, project = await app_project(in_process)
    group_dn = dn(f"m{uuid.uuid4().hex[:6]}")
    added = await admin.post(
        f"/projects/{project}/members",
        json={"role_id": 2, "member_group": {"ldap_group_dn": group_dn, "group_type": 1}},
    )
    assert added.status_code == 201
    # When the admin lists the groups by that DN
    listed = await admin.get("/usergroups", params={"ldap_group_dn": group_dn})
    # Then it is there, and deleting it removes its membership
    [group] = listed.json()
    assert listed.headers["X-Total-Count"] == "1"
    assert (await admin.delete(f"/usergroups/{group['id']}")).status_code == 200
    members = (await admin.get(f"/projects/{project}/members")).json()
    assert [m["entity_type"] for m in members] == ["u"]


async def test_groups_are_listed_by_name_and_paged(in_process: InProcessBerth) -> None:
    # Given three groups sharing a prefix
    admin = AppApi(in_process)
    prefix = f"g{uuid.uuid4().hex[:6]}"
    for i in range(3):
        await created(
            await admin.post("/usergroups", json={"group_name": f"{prefix}-{i}", "group_type": 3})
        )
    # When listed by name part, two a page
    page = await admin.get("/usergroups", params={"group_name": prefix, "page_size": 2})
    last = await admin.get("/usergroups", params={"group_name": prefix, "page_size": 2, "page": 2})
    # Then
    assert page.headers["X-Total-Count"] == "3"
    assert [g["group_name"] for g in page.json()] == [f"{prefix}-0", f"{prefix}-1"]
    assert [g["group_name"] for g in last.json()] == [f"{prefix}-2"]


async def test_any_signed_in_user_searches_groups(in_process: InProcessBerth) -> None:
    # Given a group and an ordinary user
    admin = AppApi(in_process)
    name = f"s{uuid.uuid4().hex[:6]}"
    group_id = await created(
        await admin.post("/usergroups", json={"group_name": name, "group_type": 2})
    )
    _, user = await app_user(in_process)
    # When the user searches, and nobody does
    found = await app_as(in_process, user).get("/usergroups/search", params={"groupname": name})
    anonymous = await app_as(in_process, None).get("/usergroups/search", params={"groupname": name})
    missing = await app_as(in_process, user).get("/usergroups/search")
    # Then the user sees the search item; nobody is asked to sign in; no name is a 400
    assert found.json() == [{"id": group_id, "group_name": name, "group_type": 2}]
    assert anonymous.status_code == 401
    assert missing.status_code == 400


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("GET", "/usergroups", None, id="list"),
        pytest.param("POST", "/usergroups", {"group_name": "n", "group_type": 2}, id="create"),
        pytest.param("GET", "/usergroups/{id}", None, id="read"),
        pytest.param("PUT", "/usergroups/{id}", {"group_name": "n2"}, id="update"),
        pytest.param("DELETE", "/usergroups/{id}", None, id="delete"),
    ],
)
async def test_only_the_admin_manages_groups(
    in_process: InProcessBerth, method: str, path: str, body: dict[str, object] | None
) -> None:
    # Given a group and an ordinary user
    group_id = await created(
        await AppApi(in_process).post(
            "/usergroups", json={"group_name": f"r{uuid.uuid4().hex[:6]}", "group_type": 2}
        )
    )
    _, user = await app_user(in_process)
    url = path.format(id=group_id)
    # When the user, then nobody, tries
    as_user = await app_as(in_process, user).request(method, url, json=body)
    as_nobody = await app_as(in_process, None).request(method, url, json=body)
    # Then 403 and 401; the group is unchanged
    assert as_user.status_code == 403, as_user.text
    assert as_nobody.status_code == 401
    group = (await AppApi(in_process).get(f"/usergroups/{group_id}")).json()
    assert group["group_name"].startswith("r")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"group_type": 7, "group_name": "a"}, "group_type", id="bad-type"),
        pytest.param({"group_type": True, "group_name": "a"}, "group_type", id="bool-type"),
        pytest.param({"group_type": 1}, "ldap_group_dn", id="ldap-without-dn"),
        pytest.param({"group_type": 2}, "group_name", id="http-without-name"),
        pytest.param({"group_type": 2, "group_name": 5}, "group_name", id="name-not-text"),
        pytest.param({"group_type": 2, "group_name": "a" * 256}, "group_name", id="long"),
        pytest.param(
            {"group_type": 2, "group_name": "a", "ldap_group_dn": "cn=a"}, "ldap_group_dn",
            id="dn-on-http",
        ),
    ],
)  # fmt: skip
async def test_bad_groups_are_refused_naming_the_field(
    in_process: InProcessBerth, body: dict[str, object], field: str
) -> None:
    answer = await AppApi(in_process).post("/usergroups", json=body)
    assert answer.status_code == 400
    assert field in error_of(answer) or field in answer.text


async def test_unknown_groups_and_empty_names(in_process: InProcessBerth) -> None:
    admin = AppApi(in_process)
    group_id = await created(
        await admin.post("/usergroups", json={"group_name": "e", "group_type": 3})
    )
    assert (await admin.get("/usergroups/999999")).status_code == 404
    assert (await admin.put("/usergroups/999999", json={"group_name": "x"})).status_code == 404
    assert (await admin.delete("/usergroups/999999")).status_code == 404
    assert (await admin.put(f"/usergroups/{group_id}", json={})).status_code == 400


async def test_group_changes_are_audited(in_process: InProcessBerth) -> None:
    admin = AppApi(in_process)
    name = f"a{uuid.uuid4().hex[:6]}"
    group_id = await created(
        await admin.post("/usergroups", json={"group_name": name, "group_type": 2})
    )
    await admin.delete(f"/usergroups/{group_id}")
    logs = await admin.get("/audit-logs", params={"q": f"resource={name}"})
    assert [(e["operation"], e["resource_type"]) for e in logs.json()] == [
        ("delete", "user_group"),
        ("create", "user_group"),
    ]
