"""The user API on a real server: /api/v2.0/users, /users/current, passwords, sysadmin."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.factories import (
    API,
    PASSWORD,
    AppApi,
    admin_client,
    app_as,
    app_system_robot,
    app_user,
    client_as,
    message,
    new_user,
    user_body,
)
from tests.support import InProcessBerth, RunningBerth, run_sql, running_berth

CRUDL = ("create", "delete", "list", "read", "update")


# --- who may list and create --------------------------------------------------------------


def test_anonymous_cannot_list_users(berth_server: RunningBerth) -> None:
    # When nobody signs in
    response = httpx.get(f"{berth_server.url}{API}/users")
    # Then
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_non_admin_cannot_list_users(berth_server: RunningBerth) -> None:
    # Given an ordinary user
    _, name = new_user(berth_server)
    # When they list users
    with client_as(berth_server, name) as client:
        response = client.get("/users")
    # Then
    assert response.status_code == 403


def test_admin_creates_a_user_and_reads_it_back(berth_server: RunningBerth) -> None:
    # Given
    name = f"alice{uuid.uuid4().hex[:6]}"
    body = {
        "username": name,
        "email": f"{name}@example.com",
        "realname": "Alice A",
        "password": PASSWORD,
        "comment": "hi",
    }
    with admin_client(berth_server) as admin:
        # When
        created = admin.post("/users", json=body)
        fetched = admin.get(created.headers["Location"].removeprefix(API))
    # Then
    assert created.status_code == 201
    user = fetched.json()
    assert user["username"] == name and user["email"] == f"{name}@example.com"
    assert user["realname"] == "Alice A" and user["comment"] == "hi"
    assert user["sysadmin_flag"] is False and user["admin_role_in_auth"] is False
    assert {"user_id", "creation_time", "update_time"} <= set(user)
    assert "password" not in fetched.text and "argon2" not in fetched.text


@pytest.mark.parametrize(
    ("change", "status", "text"),
    [
        pytest.param({"username": "SAME"}, 409, "username", id="duplicate-username"),
        pytest.param({"email": "SAME"}, 409, "email", id="duplicate-email"),
        pytest.param({"email": "not-an-email"}, 400, "email", id="bad-email"),
        pytest.param({"username": "a b"}, 400, "username", id="bad-username"),
        pytest.param({"password": ""}, 400, "password", id="no-password"),
    ],
)
def test_bad_or_duplicate_user_is_refused(
    berth_server: RunningBerth, change: dict[str, str], status: int, text: str
) -> None:
    # Given an existing user
    _, taken = new_user(berth_server)
    name = f"v{uuid.uuid4().hex[:8]}"
    body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    same = {"username": taken, "email": f"{taken}@example.com"}
    body.update({k: same[k] if v == "SAME" else v for k, v in change.items()})
    # When
    with admin_client(berth_server) as admin:
        response = admin.post("/users", json=body)
    # Then
    assert response.status_code == status
    assert text in message(response)


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        pytest.param("Sh0rt", "8 to 128 characters", id="too-short"),
        pytest.param("alllower1case", "upper-case", id="no-upper"),
        pytest.param("ALLUPPER1CASE", "lower-case", id="no-lower"),
        pytest.param("NoDigitsHere", "digit", id="no-digit"),
    ],
)
def test_password_policy_is_explained(
    berth_server: RunningBerth, password: str, problem: str
) -> None:
    name = f"p{uuid.uuid4().hex[:8]}"
    body = {"username": name, "email": f"{name}@example.com", "password": password}
    with admin_client(berth_server) as admin:
        response = admin.post("/users", json=body)
    assert response.status_code == 400
    assert problem in message(response)


def test_non_admin_cannot_create_users_when_self_registration_is_off(
    berth_server: RunningBerth,
) -> None:
    # Given an ordinary user and nobody
    _, name = new_user(berth_server)
    body = {"username": "x" + uuid.uuid4().hex[:8], "email": "x@example.com", "password": PASSWORD}
    # When each tries to create a user
    with client_as(berth_server, name) as client:
        by_user = client.post("/users", json=body)
    anonymous = httpx.post(f"{berth_server.url}{API}/users", json=body)
    # Then
    assert by_user.status_code == 403
    assert anonymous.status_code == 401


def test_admin_cannot_create_an_admin_through_post(berth_server: RunningBerth) -> None:
    user_id, _ = new_user(berth_server, sysadmin_flag=True)
    with admin_client(berth_server) as admin:
        assert admin.get(f"/users/{user_id}").json()["sysadmin_flag"] is False


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBerth]:
    """A server with self-registration on."""
    data = Path(tmp_path_factory.mktemp("berth-selfreg"))
    with running_berth(data, {"BERTH_SELF_REGISTRATION": "true"}) as server:
        yield server


def test_self_registration_creates_ordinary_users_only(open_server: RunningBerth) -> None:
    # Given self-registration is on, when somebody signs up asking to be an admin
    name = f"s{uuid.uuid4().hex[:8]}"
    body = {
        "username": name,
        "email": f"{name}@example.com",
        "password": PASSWORD,
        "sysadmin_flag": True,
    }
    created = httpx.post(f"{open_server.url}{API}/users", json=body)
    # Then the account exists, but it is not an admin
    assert created.status_code == 201
    with client_as(open_server, name) as client:
        me = client.get("/users/current").json()
        assert me["sysadmin_flag"] is False
        assert client.get("/users").status_code == 403


# --- reading and changing one user --------------------------------------------------------


def test_users_read_themselves_but_not_others(berth_server: RunningBerth) -> None:
    me_id, me = new_user(berth_server)
    other_id, _ = new_user(berth_server)
    with client_as(berth_server, me) as client:
        assert client.get(f"/users/{me_id}").json()["username"] == me
        assert client.get("/users/current").json()["user_id"] == me_id
        assert client.get(f"/users/{other_id}").status_code == 403
        assert client.put(f"/users/{other_id}", json={"realname": "x"}).status_code == 403


def test_admin_without_email_updates_realname(berth_server: RunningBerth) -> None:
    with admin_client(berth_server) as admin:
        me = admin.get("/users/current").json()
        updated = admin.put(f"/users/{me['user_id']}", json={"realname": "system admin"})
        bad = admin.put(f"/users/{me['user_id']}", json={"email": "nope"})
    assert updated.status_code == 200
    assert bad.status_code == 400 and "email" in message(bad)


def test_unknown_user_is_404(berth_server: RunningBerth) -> None:
    with admin_client(berth_server) as admin:
        response = admin.get("/users/99999999")
    assert response.status_code == 404


def test_profile_update_never_grants_sysadmin(berth_server: RunningBerth) -> None:
    # Given an ordinary user
    user_id, name = new_user(berth_server)
    # When they update their profile and slip in sysadmin fields
    with client_as(berth_server, name) as client:
        body = {"realname": "New Name", "sysadmin_flag": True, "admin_role_in_auth": True}
        updated = client.put(f"/users/{user_id}", json=body)
        me = client.get("/users/current").json()
    # Then the profile changed and nothing else
    assert updated.status_code == 200
    assert me["realname"] == "New Name" and me["sysadmin_flag"] is False


def test_only_an_admin_sets_sysadmin(berth_server: RunningBerth) -> None:
    # Given an ordinary user, signed in with Basic auth and with a session cookie
    user_id, name = new_user(berth_server)
    session = httpx.Client(base_url=berth_server.url)
    with client_as(berth_server, name) as client, admin_client(berth_server) as admin, session:
        session.post("/c/login", data={"principal": name, "password": PASSWORD}).raise_for_status()
        # When they try to make themself admin, then it is refused
        refused = client.put(f"/users/{user_id}/sysadmin", json={"sysadmin_flag": True})
        assert refused.status_code == 403
        # When the admin does it, then their session may list users at once
        granted = admin.put(f"/users/{user_id}/sysadmin", json={"sysadmin_flag": True})
        assert granted.status_code == 200
        assert session.get(f"{API}/users").status_code == 200
        # And when the admin revokes it, then the session may not any more
        revoked = admin.put(f"/users/{user_id}/sysadmin", json={"sysadmin_flag": False})
        assert revoked.status_code == 200
        assert session.get(f"{API}/users").status_code == 403
        assert admin.get(f"/users/{user_id}").json()["sysadmin_flag"] is False


def test_sysadmin_flag_must_be_boolean(berth_server: RunningBerth) -> None:
    user_id, _ = new_user(berth_server)
    with admin_client(berth_server) as admin:
        response = admin.put(f"/users/{user_id}/sysadmin", json={"sysadmin_flag": "yes"})
    assert response.status_code == 400 and "sysadmin_flag" in message(response)


def test_search_shows_names_only_to_signed_in_users(berth_server: RunningBerth) -> None:
    user_id, name = new_user(berth_server, prefix="findme")
    with client_as(berth_server, name) as client:
        found = client.get("/users/search", params={"username": name})
    anonymous = httpx.get(f"{berth_server.url}{API}/users/search", params={"username": name})
    assert found.json() == [{"user_id": user_id, "username": name}]
    assert anonymous.status_code == 401


# --- listing: q, sort, pages --------------------------------------------------------------


def test_list_filters_sorts_and_pages(berth_server: RunningBerth) -> None:
    # Given three users sharing a prefix
    prefix = f"pg{uuid.uuid4().hex[:6]}"
    names = sorted(new_user(berth_server, prefix=prefix)[1] for _ in range(3))
    with admin_client(berth_server) as admin:
        # When listing the first page of two, newest first
        query = {"q": f"username=~{prefix}", "sort": "-creation_time", "page_size": 2}
        first = admin.get("/users", params=query)
        second = admin.get("/users", params={**query, "page": 2})
        by_name = admin.get("/users", params={"q": f"username=~{prefix}", "sort": "username"})
    # Then
    assert first.headers["X-Total-Count"] == "3"
    assert 'rel="next"' in first.headers["Link"] and "page=2" in first.headers["Link"]
    assert len(first.json()) == 2 and len(second.json()) == 1
    assert 'rel="prev"' in second.headers["Link"]
    assert [u["username"] for u in by_name.json()] == names
    seen = [u["username"] for u in first.json() + second.json()]
    assert sorted(seen) == names


def test_exact_email_filter(berth_server: RunningBerth) -> None:
    _, name = new_user(berth_server)
    with admin_client(berth_server) as admin:
        listed = admin.get("/users", params={"q": f"email={name}@example.com"})
    assert [u["username"] for u in listed.json()] == [name]


@pytest.mark.parametrize(
    ("params", "text"),
    [
        pytest.param({"q": "password=~x"}, "cannot filter by 'password'", id="q-unknown-key"),
        pytest.param({"q": "username"}, "is not key=value", id="q-no-operator"),
        pytest.param({"q": "username=[a~b]"}, "not supported", id="q-range"),
        pytest.param({"sort": "password_hash"}, "cannot sort by", id="sort-unknown"),
        pytest.param({"sort": "-username;drop"}, "cannot sort by", id="sort-injection"),
        pytest.param({"page_size": "1000"}, "page_size", id="page-size-too-big"),
    ],
)
def test_list_rejects_what_it_does_not_understand(
    berth_server: RunningBerth, params: dict[str, str], text: str
) -> None:
    with admin_client(berth_server) as admin:
        response = admin.get("/users", params=params)
    assert response.status_code == 400
    assert text in message(response)


# --- passwords ----------------------------------------------------------------------------


def test_user_changes_own_password_with_the_old_one(berth_server: RunningBerth) -> None:
    user_id, name = new_user(berth_server)
    new = "Changed-Passw0rd"
    with client_as(berth_server, name) as client:
        # When the old password is wrong, then it is refused
        wrong = client.put(
            f"/users/{user_id}/password", json={"old_password": "nope", "new_password": new}
        )
        assert wrong.status_code == 403
        # When the new one breaks the policy, then the policy is explained
        weak = client.put(
            f"/users/{user_id}/password", json={"old_password": PASSWORD, "new_password": "weak"}
        )
        assert weak.status_code == 400 and "8 to 128" in message(weak)
        # When both are right
        ok = client.put(
            f"/users/{user_id}/password", json={"old_password": PASSWORD, "new_password": new}
        )
        assert ok.status_code == 200
    # Then the new one works (the old one may be remembered by another server process for
    # up to 30 s: UserService's login cache is per process)
    with client_as(berth_server, name, new) as client:
        assert client.get("/users/current").status_code == 200


def test_admin_resets_a_password_without_the_old_one(berth_server: RunningBerth) -> None:
    user_id, name = new_user(berth_server)
    with admin_client(berth_server) as admin:
        reset = admin.put(f"/users/{user_id}/password", json={"new_password": "Reset-Passw0rd"})
    assert reset.status_code == 200
    with client_as(berth_server, name, "Reset-Passw0rd") as client:
        assert client.get("/users/current").status_code == 200


def test_users_cannot_change_others_passwords(berth_server: RunningBerth) -> None:
    other_id, _ = new_user(berth_server)
    _, name = new_user(berth_server)
    with client_as(berth_server, name) as client:
        response = client.put(
            f"/users/{other_id}/password",
            json={"old_password": PASSWORD, "new_password": "Other-Passw0rd"},
        )
    assert response.status_code == 403


# --- deletion and permissions -------------------------------------------------------------


def library_id(server: RunningBerth) -> int:
    return int(run_sql(server, "SELECT id FROM project WHERE name = ?", "library")[0][0])


def test_delete_removes_the_user_and_memberships(berth_server: RunningBerth) -> None:
    # Given a user who is a developer in library
    user_id, name = new_user(berth_server)
    run_sql(
        berth_server,
        "INSERT INTO project_member (project_id, entity_type, entity_id, role, created_at,"
        " updated_at) VALUES (?, 'u', ?, 2, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        library_id(berth_server),
        user_id,
    )
    with admin_client(berth_server) as admin:
        # When the admin deletes them
        assert admin.delete(f"/users/{user_id}").status_code == 200
        # Then they are gone, with their memberships, and cannot sign in
        assert admin.get(f"/users/{user_id}").status_code == 404
    members = run_sql(
        berth_server,
        "SELECT id FROM project_member WHERE entity_type = 'u' AND entity_id = ?",
        user_id,
    )
    assert members == []
    with client_as(berth_server, name) as client:  # 404 while a process still caches the login
        assert client.get("/users/current").status_code in (401, 404)


def test_admin_account_cannot_be_deleted_and_users_cannot_delete(
    berth_server: RunningBerth,
) -> None:
    admin_id = int(
        run_sql(berth_server, "SELECT id FROM berth_user WHERE username = 'admin'")[0][0]
    )
    other_id, _ = new_user(berth_server)
    _, name = new_user(berth_server)
    with admin_client(berth_server) as admin:
        assert admin.delete(f"/users/{admin_id}").status_code == 403
    with client_as(berth_server, name) as client:
        assert client.delete(f"/users/{other_id}").status_code == 403


def test_permissions_follow_the_callers_role(berth_server: RunningBerth) -> None:
    # Given a developer of library and an admin
    user_id, name = new_user(berth_server)
    project = library_id(berth_server)
    run_sql(
        berth_server,
        "INSERT INTO project_member (project_id, entity_type, entity_id, role, created_at,"
        " updated_at) VALUES (?, 'u', ?, 2, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        project,
        user_id,
    )
    scope = {"scope": f"/project/{project}", "relative": "true"}
    # When each asks what they may do there
    with client_as(berth_server, name) as client:
        mine = client.get("/users/current/permissions", params=scope).json()
        absolute = client.get("/users/current/permissions", params={"scope": scope["scope"]})
        system = client.get("/users/current/permissions").json()
    with admin_client(berth_server) as admin:
        theirs = admin.get("/users/current/permissions", params=scope).json()
    # Then the developer may push but not delete; the admin may do everything
    assert {"resource": "repository", "action": "push"} in mine
    assert {"resource": "repository", "action": "delete"} not in mine
    assert {"resource": f"/project/{project}/repository", "action": "push"} in absolute.json()
    assert {"resource": "repository", "action": "delete"} in theirs
    assert system == []


def test_malformed_permission_scope_is_400(berth_server: RunningBerth) -> None:
    with admin_client(berth_server) as admin:
        response = admin.get("/users/current/permissions", params={"scope": "/project/abc"})
    assert response.status_code == 400 and "scope" in message(response)


# --- system robots: the one system-rights check ---------------------------------------------


async def test_a_system_robot_with_user_create_creates_a_user_and_one_without_is_refused(
    in_process: InProcessBerth,
) -> None:
    # Given two system robots, one holding user:create and one only user:list
    creator = await app_system_robot(in_process, "user:create")
    lister = await app_system_robot(in_process, "user:list")
    # When each creates a user
    made = await AppApi(in_process, creator).post("/users", json=user_body("botmade"))
    refused = await AppApi(in_process, lister).post("/users", json=user_body("botrefused"))
    # Then the first is there, and the second was refused saying what it lacks
    assert made.status_code == 201, made.text
    assert refused.status_code == 403 and "user:create" in message(refused)
    names = {u["username"] for u in (await AppApi(in_process).get("/users")).json()}
    assert "botmade" in names and "botrefused" not in names


async def test_a_robot_lists_its_system_permissions_for_the_system_scope(
    in_process: InProcessBerth,
) -> None:
    robot = await app_system_robot(in_process, "user:create", "registry:*")
    answer = await AppApi(in_process, robot).get(
        "/users/current/permissions", params={"scope": "/", "relative": "true"}
    )
    assert answer.status_code == 200, answer.text
    registry = [{"resource": "registry", "action": a} for a in CRUDL]
    assert answer.json() == sorted(
        [{"resource": "user", "action": "create"}, *registry],
        key=lambda p: (p["resource"], p["action"]),
    )
    admin = (await AppApi(in_process).get("/users/current/permissions")).json()
    assert {"resource": "replication", "action": "create"} in admin  # every one of them


async def test_a_robot_with_user_update_sets_a_password_but_never_an_admins(
    in_process: InProcessBerth,
) -> None:
    # Given a user, a second system admin and a robot holding user:update
    user_id, name = await app_user(in_process)
    boss_id, boss = await app_user(in_process, "boss")
    made_admin = await AppApi(in_process).put(
        f"/users/{boss_id}/sysadmin", json={"sysadmin_flag": True}
    )
    assert made_admin.status_code == 200, made_admin.text
    robot = AppApi(in_process, await app_system_robot(in_process, "user:update"))
    # When it sets each one's password
    new = {"new_password": "Robot-Set-Pass-1"}
    plain = await robot.put(f"/users/{user_id}/password", json=new)
    admins = await robot.put(f"/users/{boss_id}/password", json=new)
    # Then the user's is changed; the admin's is not: setting it would make the robot them
    assert plain.status_code == 200, plain.text
    assert admins.status_code == 403 and "only a system admin" in message(admins)
    assert (
        await app_as(in_process, name, "Robot-Set-Pass-1").get("/users/current")
    ).status_code == 200
    assert (await app_as(in_process, boss).get("/users/current")).status_code == 200
