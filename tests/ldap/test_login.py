"""LDAP login against a real slapd: every way in, local users, groups, nesting, admins."""

from __future__ import annotations

import httpx
import pytest

from tests.ldap.directory import GROUPS_DN, PASSWORDS, granted, group_dn, token_status
from tests.support import ADMIN, RunningBerth

CHANNELS = [
    pytest.param("token", id="service-token"),
    pytest.param("v2", id="v2-basic"),
    pytest.param("api", id="api-basic"),
]


def login_status(server: RunningBerth, channel: str, user: str, password: str) -> int:
    if channel == "token":
        return token_status(server, user, password)
    path = "/v2/" if channel == "v2" else "/api/v2.0/users/current"
    return httpx.get(f"{server.url}{path}", auth=(user, password)).status_code


@pytest.mark.parametrize("channel", CHANNELS)
def test_directory_user_logs_in_everywhere(ldap_berth: RunningBerth, channel: str) -> None:
    # Given alice in the directory; When she logs in; Then she is let in
    assert login_status(ldap_berth, channel, "alice", PASSWORDS["alice"]) == 200


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize(
    ("user", "password"),
    [
        pytest.param("dave", "not-daves-password", id="wrong-password"),
        pytest.param("nobody", "Whatever-1", id="unknown-user"),
        pytest.param("erin", "", id="empty-password"),
    ],
)
def test_bad_credentials_are_refused(
    ldap_berth: RunningBerth, channel: str, user: str, password: str
) -> None:
    assert login_status(ldap_berth, channel, user, password) == 401


def test_first_login_creates_the_local_user(ldap_berth: RunningBerth) -> None:
    # Given dave has never logged in; When he does
    response = httpx.get(
        f"{ldap_berth.url}/api/v2.0/users/current", auth=("dave", PASSWORDS["dave"])
    )
    # Then Berth knows him, with his name and mail from the directory, and no local password
    assert response.status_code == 200
    me = response.json()
    assert (me["username"], me["email"], me["realname"]) == ("dave", "dave@berth.test", "Dave")
    assert me["sysadmin_flag"] is False


def test_local_admin_still_logs_in(ldap_berth: RunningBerth) -> None:
    assert token_status(ldap_berth, *ADMIN) == 200


def add_group_member(server: RunningBerth, project: str, group: str, role: int) -> None:
    """A private project, and a directory group as its member, through the API."""
    httpx.post(
        f"{server.url}/api/v2.0/projects",
        json={"project_name": project, "metadata": {"public": "false"}},
        auth=ADMIN,
    ).raise_for_status()
    httpx.post(
        f"{server.url}/api/v2.0/projects/{project}/members",
        json={"role_id": role, "member_group": {"group_type": 1, "ldap_group_dn": group_dn(group)}},
        auth=ADMIN,
    ).raise_for_status()


@pytest.mark.parametrize(
    ("project", "group", "role", "user", "expected"),
    [
        pytest.param("devs", "developers", 2, "alice", ["pull", "push"], id="direct-member"),
        pytest.param("eng", "engineering", 3, "bob", ["pull"], id="nested-group"),
        pytest.param("devs2", "developers", 2, "dave", [], id="not-a-member"),
    ],
)
def test_group_membership_gives_project_access(
    ldap_berth: RunningBerth, project: str, group: str, role: int, user: str, expected: list[str]
) -> None:
    # Given a private project whose member is a directory group
    add_group_member(ldap_berth, project, group, role)
    # When a directory user asks for a token; Then the group's role decides the grant
    assert granted(ldap_berth, user, f"{project}/app") == expected


def test_admin_group_members_are_system_admins(ldap_berth: RunningBerth) -> None:
    # Given carol in the admin group, alice not; When both read the system configuration
    url = f"{ldap_berth.url}/api/v2.0/configurations"
    as_carol = httpx.get(url, auth=("carol", PASSWORDS["carol"]))
    as_alice = httpx.get(url, auth=("alice", PASSWORDS["alice"]))
    # Then only carol may
    assert (as_carol.status_code, as_alice.status_code) == (200, 403)


def test_ping_uses_stored_or_given_settings(ldap_berth: RunningBerth) -> None:
    url = f"{ldap_berth.url}/api/v2.0/ldap/ping"
    stored = httpx.post(url, json={}, auth=ADMIN).json()
    wrong = httpx.post(url, json={"ldap_search_password": "nope"}, auth=ADMIN).json()
    gone = httpx.post(url, json={"ldap_url": "ldap://127.0.0.1:1"}, auth=ADMIN).json()
    assert (stored["success"], wrong["success"], gone["success"]) == (True, False, False)
    assert "nope" not in wrong["message"]


def test_search_users_and_groups(ldap_berth: RunningBerth) -> None:
    api = f"{ldap_berth.url}/api/v2.0/ldap"
    users = httpx.get(f"{api}/users/search", params={"username": "alice"}, auth=ADMIN).json()
    by_name = httpx.get(
        f"{api}/groups/search", params={"groupname": "developers"}, auth=ADMIN
    ).json()
    by_dn = httpx.get(
        f"{api}/groups/search", params={"groupdn": group_dn("engineering")}, auth=ADMIN
    ).json()
    assert users == [{"username": "alice", "realname": "Alice", "email": "alice@berth.test"}]
    assert [g["ldap_group_dn"] for g in by_name] == [group_dn("developers")]
    assert [g["group_name"] for g in by_dn] == ["engineering"]


def test_missing_group_dn_is_not_found(ldap_berth: RunningBerth) -> None:
    response = httpx.get(
        f"{ldap_berth.url}/api/v2.0/ldap/groups/search",
        params={"groupdn": f"cn=ghosts,{GROUPS_DN}"},
        auth=ADMIN,
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    "path", [pytest.param("/ldap/users/search", id="users"), pytest.param("/ldap/ping", id="ping")]
)
def test_ldap_api_is_for_system_admins(ldap_berth: RunningBerth, path: str) -> None:
    url = f"{ldap_berth.url}/api/v2.0{path}"
    method = "POST" if path.endswith("ping") else "GET"
    anonymous = httpx.request(method, url)
    alice = httpx.request(method, url, auth=("alice", PASSWORDS["alice"]))
    assert (anonymous.status_code, alice.status_code) == (401, 403)


def test_membership_listed_on_the_member_entry_works_like_active_directory(
    ldap_berth: RunningBerth,
) -> None:
    # Given the membership attribute is one the member carries (AD's memberOf; here seeAlso):
    # frank lists qa, and qa lists qa-leads, on their own entries
    url = f"{ldap_berth.url}/api/v2.0/configurations"
    assert (
        httpx.put(url, json={"ldap_group_membership_attribute": "seeAlso"}, auth=ADMIN).status_code
        == 200
    )
    try:
        add_group_member(ldap_berth, "qa-proj", "qa-leads", 3)
        # When frank asks for a token; Then the nested group's Guest role grants pull
        assert granted(ldap_berth, "frank", "qa-proj/app") == ["pull"]
    finally:
        httpx.put(url, json={"ldap_group_membership_attribute": "member"}, auth=ADMIN)
