"""User groups and the LDAP user import against a real slapd: a group's DN is checked in the
directory, the group a login finds is the one /usergroups made, imported users can be made
members before they ever log in."""

from __future__ import annotations

import httpx

from tests.ldap.directory import PASSWORDS, granted, group_dn
from tests.support import ADMIN, RunningBerth

API = "/api/v2.0"


def post(server: RunningBerth, path: str, body: object, auth: object = ADMIN) -> httpx.Response:
    return httpx.post(f"{server.url}{API}{path}", json=body, auth=auth)  # type: ignore[arg-type]


def get(server: RunningBerth, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{server.url}{API}{path}", params=params, auth=ADMIN)


def test_an_ldap_group_is_checked_in_the_directory(ldap_berth: RunningBerth) -> None:
    # When the admin creates the directory's developers group, and a DN the directory lacks
    made = post(ldap_berth, "/usergroups", {"group_type": 1, "ldap_group_dn": group_dn("admins")})
    again = post(ldap_berth, "/usergroups", {"group_type": 1, "ldap_group_dn": group_dn("admins")})
    unknown = post(
        ldap_berth, "/usergroups", {"group_type": 1, "ldap_group_dn": group_dn("nosuchgroup")}
    )
    # Then the first is made with the directory's name, the same DN again is a conflict, the
    # unknown DN is refused
    assert made.status_code == 201, made.text
    group = httpx.get(f"{ldap_berth.url}{made.headers['Location']}", auth=ADMIN).json()
    assert (group["group_name"], group["group_type"]) == ("admins", 1)
    assert again.status_code == 409
    assert unknown.status_code == 400
    assert "not found" in unknown.json()["errors"][0]["message"]


def test_a_group_made_here_is_the_one_a_login_uses(ldap_berth: RunningBerth) -> None:
    # Given the backend group made through /usergroups and given a role in a private project
    made = post(
        ldap_berth,
        "/usergroups",
        {"group_name": "Backend team", "group_type": 1, "ldap_group_dn": group_dn("backend")},
    )
    group_id = int(made.headers["Location"].rsplit("/", 1)[1])
    post(ldap_berth, "/projects", {"project_name": "backend", "metadata": {"public": "false"}})
    member = post(
        ldap_berth, "/projects/backend/members", {"role_id": 2, "member_group": {"id": group_id}}
    )
    assert member.status_code == 201, member.text
    # When bob, a member of backend in the directory, asks for push and pull
    actions = granted(ldap_berth, "bob", "backend/app")
    # Then he has them through the group, which stays one group under its own name
    assert actions == ["pull", "push"]
    listed = get(ldap_berth, "/usergroups", ldap_group_dn=group_dn("backend")).json()
    assert [(g["id"], g["group_name"]) for g in listed] == [(group_id, "Backend team")]


def test_ldap_mode_lists_ldap_groups_only(ldap_berth: RunningBerth) -> None:
    # Given an HTTP group besides the LDAP ones
    assert (
        post(ldap_berth, "/usergroups", {"group_name": "web", "group_type": 2}).status_code == 201
    )
    # When the admin lists the groups under ldap_auth
    listed = get(ldap_berth, "/usergroups", page_size="100").json()
    # Then only LDAP groups show (Harbor's rule), though search finds the other
    assert listed and {g["group_type"] for g in listed} == {1}
    found = get(ldap_berth, "/usergroups/search", groupname="web").json()
    assert [g["group_type"] for g in found] == [2]


def test_imported_users_can_be_members_before_their_first_login(
    ldap_berth: RunningBerth,
) -> None:
    # When the admin imports dave and somebody the directory lacks
    answer = post(ldap_berth, "/ldap/users/import", {"ldap_uid_list": ["dave", "nobody"]})
    # Then the missing one is named (with Harbor's reason), and dave exists with his
    # directory name
    assert answer.status_code == 404
    [error] = answer.json()["errors"]
    assert "nobody (unknown_user)" in error["message"]
    assert error["detail"] == {"failed": [{"uid": "nobody", "error": "unknown_user"}]}
    [dave] = get(ldap_berth, "/users", q="username=dave").json()
    assert (dave["realname"], dave["email"]) == ("Dave", "dave@berth.test")
    # And he can be made a member, and then logs in with that role
    post(ldap_berth, "/projects", {"project_name": "daves", "metadata": {"public": "false"}})
    added = post(
        ldap_berth, "/projects/daves/members", {"role_id": 2, "member_user": {"username": "dave"}}
    )
    assert added.status_code == 201, added.text
    assert granted(ldap_berth, "dave", "daves/app") == ["pull", "push"]
    # And importing him again is fine
    assert post(ldap_berth, "/ldap/users/import", {"ldap_uid_list": ["dave"]}).status_code == 200


def test_only_the_admin_imports(ldap_berth: RunningBerth) -> None:
    body = {"ldap_uid_list": ["erin"]}
    as_alice = post(ldap_berth, "/ldap/users/import", body, auth=("alice", PASSWORDS["alice"]))
    as_nobody = post(ldap_berth, "/ldap/users/import", body, auth=None)
    bad = post(ldap_berth, "/ldap/users/import", {"ldap_uid_list": "erin"})
    assert (as_alice.status_code, as_nobody.status_code, bad.status_code) == (403, 401, 400)
    assert get(ldap_berth, "/users", q="username=erin").json() == []
