"""Project members on a real server: users and groups, roles, who may manage them."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.api.test_projects import (
    add_member,
    admin_client,
    client_as,
    error_of,
    new_project,
    new_user,
)
from tests.support import RunningBerth


def test_a_member_is_added_read_changed_and_removed(berth_server: RunningBerth) -> None:
    # Given a project and a user
    project_id, project = new_project(berth_server, public=False)
    user_id, user = new_user(berth_server)
    with admin_client(berth_server) as admin:
        # When the admin adds the user by id as a developer, promotes them, and removes them
        added = admin.post(
            f"/projects/{project_id}/members",
            json={"role_id": 2, "member_user": {"user_id": user_id}},
        )
        path = added.headers["Location"].removeprefix("/api/v2.0")
        first = admin.get(path).json()
        promoted = admin.put(path, json={"role_id": 4})
        second = admin.get(path).json()
        removed = admin.delete(path)
        gone = admin.get(path)
        listed = admin.get(f"/projects/{project}/members").json()
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


def test_a_group_is_added_by_its_dn_and_recorded(berth_server: RunningBerth) -> None:
    # Given a project and an LDAP group nobody has used yet
    _, project = new_project(berth_server, public=False)
    dn = f"cn=team{uuid.uuid4().hex[:6]},ou=groups,dc=example,dc=com"
    with admin_client(berth_server) as admin:
        # When the admin adds it as guest, then adds it again
        added = admin.post(
            f"/projects/{project}/members",
            json={"role_id": 3, "member_group": {"ldap_group_dn": dn, "group_type": 1}},
        )
        again = admin.post(
            f"/projects/{project}/members",
            json={"role_id": 2, "member_group": {"ldap_group_dn": dn}},
        )
        groups = admin.get(f"/projects/{project}/members", params={"entityname": "team"}).json()
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
def test_bad_member_requests(berth_server: RunningBerth, body: Any, status: int) -> None:
    # Given a project the admin created (so admin is already its member)
    _, project = new_project(berth_server, public=False)
    # When
    with admin_client(berth_server) as admin:
        response = admin.post(f"/projects/{project}/members", json=body)
    # Then
    assert response.status_code == status, response.text
    assert error_of(response) in {"BAD_REQUEST", "NOT_FOUND", "CONFLICT"}


def test_a_role_change_to_a_bad_role_is_refused(berth_server: RunningBerth) -> None:
    _, project = new_project(berth_server, public=False)
    _, user = new_user(berth_server)
    member = add_member(berth_server, project, user, 3)
    with admin_client(berth_server) as admin:
        response = admin.put(f"/projects/{project}/members/{member}", json={"role_id": 9})
    assert response.status_code == 400


def test_a_member_of_another_project_is_not_found(berth_server: RunningBerth) -> None:
    # Given a member of one project
    _, one = new_project(berth_server, public=False)
    _, other = new_project(berth_server, public=False)
    _, user = new_user(berth_server)
    member = add_member(berth_server, one, user, 3)
    with admin_client(berth_server) as admin:
        # When it is addressed through another project
        read = admin.get(f"/projects/{other}/members/{member}")
        removed = admin.delete(f"/projects/{other}/members/{member}")
    # Then
    assert (read.status_code, removed.status_code) == (404, 404)


def test_a_new_member_gets_access_at_once(berth_server: RunningBerth) -> None:
    # Given a private project and a user who has already been refused
    _, project = new_project(berth_server, public=False)
    _, user = new_user(berth_server)
    with client_as(berth_server, user) as client:
        before = client.get(f"/projects/{project}")
        # When the admin adds them, and later removes them
        member = add_member(berth_server, project, user, 5)
        during = client.get(f"/projects/{project}")
        with admin_client(berth_server) as admin:
            admin.delete(f"/projects/{project}/members/{member}")
        after = client.get(f"/projects/{project}")
    # Then each change applies on the next request
    assert (before.status_code, during.status_code, after.status_code) == (404, 200, 404)
    assert during.json()["current_user_role_id"] == 5
