"""Project members (in-process, on SQLite and PostgreSQL): users and groups, roles, who may
manage them."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.factories import AppApi, app_as, app_member, app_project, app_user, error_of
from tests.support import InProcessBerth


async def test_a_member_is_added_read_changed_and_removed(in_process: InProcessBerth) -> None:
    # Given a project and a user
    project_id, project = await app_project(in_process)
    user_id, user = await app_user(in_process)
    admin = AppApi(in_process)
    # When the admin adds the user by id as a developer, promotes them, and removes them
    added = await admin.post(
        f"/projects/{project_id}/members",
        json={"role_id": 2, "member_user": {"user_id": user_id}},
    )
    path = added.headers["Location"].removeprefix("/api/v2.0")
    first = (await admin.get(path)).json()
    promoted = await admin.put(path, json={"role_id": 4})
    second = (await admin.get(path)).json()
    removed = await admin.delete(path)
    gone = await admin.get(path)
    listed = (await admin.get(f"/projects/{project}/members")).json()
    # Then each step shows in Harbor's ProjectMemberEntity
    assert added.status_code == 201
    assert first == {
        "id": int(path.rsplit("/", 1)[1]),
        "project_id": project_id,
        "entity_name": user,
        "role_name": "developer",
        "role_id": 2,
        "entity_id": user_id,
        "entity_type": "u",
    }
    assert promoted.status_code == 200 and second["role_name"] == "maintainer"
    assert removed.status_code == 200 and gone.status_code == 404
    assert [m["entity_name"] for m in listed] == ["admin"]


async def test_a_group_is_added_by_its_dn_and_recorded(in_process: InProcessBerth) -> None:
    # Given a project and an LDAP group nobody has used yet
    _, project = await app_project(in_process)
    dn = f"cn=team{uuid.uuid4().hex[:6]},ou=groups,dc=example,dc=com"
    admin = AppApi(in_process)
    # When the admin adds it as guest, then adds it again
    added = await admin.post(
        f"/projects/{project}/members",
        json={"role_id": 3, "member_group": {"ldap_group_dn": dn, "group_type": 1}},
    )
    again = await admin.post(
        f"/projects/{project}/members",
        json={"role_id": 2, "member_group": {"ldap_group_dn": dn}},
    )
    listed = await admin.get(f"/projects/{project}/members", params={"entityname": "team"})
    groups = listed.json()
    # Then the group is a member named by its cn; the second add is a conflict
    assert added.status_code == 201 and again.status_code == 409
    assert [(g["entity_type"], g["role_name"]) for g in groups] == [("g", "guest")]
    assert groups[0]["entity_name"] == dn.split(",")[0][3:]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param({"role_id": 0, "member_user": {"username": "admin"}}, 400, id="role-0"),
        pytest.param({"role_id": 6, "member_user": {"username": "admin"}}, 400, id="role-6"),
        pytest.param({"role_id": "1", "member_user": {"username": "admin"}}, 400, id="role-text"),
        pytest.param({"member_user": {"username": "admin"}}, 400, id="no-role"),
        pytest.param({"role_id": 2}, 400, id="nobody"),
        pytest.param({"role_id": 2, "member_user": "admin"}, 400, id="user-not-object"),
        pytest.param({"role_id": 2, "member_user": {"user_id": "1"}}, 400, id="user-id-text"),
        pytest.param({"role_id": 2, "member_user": {"username": "no-such"}}, 404, id="no-user"),
        pytest.param({"role_id": 2, "member_group": {"id": 999999}}, 404, id="no-group"),
        pytest.param({"role_id": 2, "member_user": {"username": "admin"}}, 409, id="duplicate"),
    ],
)
async def test_bad_member_requests(in_process: InProcessBerth, body: Any, status: int) -> None:
    # Given a project the admin created (so admin is already its member)
    _, project = await app_project(in_process)
    # When
    admin = AppApi(in_process)
    response = await admin.post(f"/projects/{project}/members", json=body)
    # Then
    assert response.status_code == status, response.text
    assert error_of(response) in {"BAD_REQUEST", "NOT_FOUND", "CONFLICT"}


async def test_a_role_change_to_a_bad_role_is_refused(in_process: InProcessBerth) -> None:
    _, project = await app_project(in_process)
    _, user = await app_user(in_process)
    member = await app_member(in_process, project, user, 3)
    admin = AppApi(in_process)
    response = await admin.put(f"/projects/{project}/members/{member}", json={"role_id": 9})
    assert response.status_code == 400


async def test_a_member_of_another_project_is_not_found(in_process: InProcessBerth) -> None:
    # Given a member of one project
    _, one = await app_project(in_process)
    _, other = await app_project(in_process)
    _, user = await app_user(in_process)
    member = await app_member(in_process, one, user, 3)
    admin = AppApi(in_process)
    # When it is addressed through another project
    read = await admin.get(f"/projects/{other}/members/{member}")
    removed = await admin.delete(f"/projects/{other}/members/{member}")
    # Then
    assert (read.status_code, removed.status_code) == (404, 404)


async def test_a_new_member_gets_access_at_once(in_process: InProcessBerth) -> None:
    # Given a private project and a user who has already been refused
    _, project = await app_project(in_process)
    _, user = await app_user(in_process)
    client = app_as(in_process, user)
    before = await client.get(f"/projects/{project}")
    # When the admin adds them, and later removes them
    member = await app_member(in_process, project, user, 5)
    during = await client.get(f"/projects/{project}")
    await AppApi(in_process).delete(f"/projects/{project}/members/{member}")
    after = await client.get(f"/projects/{project}")
    # Then each change applies on the next request
    assert (before.status_code, during.status_code, after.status_code) == (404, 200, 404)
    assert during.json()["current_user_role_id"] == 5
