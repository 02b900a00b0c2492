"""The audit log records identity, project and configuration changes, read back through the
audit API (GET /api/v2.0/auditlog-exts) as an administrator would: who, what, where from,
whether it worked. Every test runs against a real Berth on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.factories import PASSWORD, add_member, new_project, new_user
from tests.support import ADMIN, RunningBerth

API = "/api/v2.0"
UA = "berth-audit-test/1.0 (access events)"
LOOPBACK = "127.0.0.1"


# --- helpers ---------------------------------------------------------------------------------


def client(server: RunningBerth, auth: Any = ADMIN) -> httpx.Client:
    """An API client with a recognisable User-Agent, by default the system admin."""
    return httpx.Client(base_url=server.url + API, auth=auth, headers={"User-Agent": UA})


def events(server: RunningBerth, auth: Any = ADMIN, **terms: str) -> list[dict[str, Any]]:
    """The events matching exact q terms, newest first, read through the audit API."""
    q = ",".join(f"{key}={value}" for key, value in terms.items())
    with httpx.Client(base_url=server.url + API, auth=auth) as reader:
        found = reader.get("/auditlog-exts", params={"q": q, "sort": "-op_time", "page_size": 100})
    assert found.status_code == 200, found.text
    return list(found.json())


def the_event(server: RunningBerth, operation: str, resource_type: str, resource: str) -> Any:
    """The one event of this operation on this resource."""
    found = events(server, operation=operation, resource_type=resource_type, resource=resource)
    assert len(found) == 1, found
    return found[0]


def assert_recorded(event: dict[str, Any], username: str, success: bool = True) -> None:
    """By whom, with which result, from the test's address and client."""
    assert event["username"] == username
    assert event["operation_result"] is success
    assert event["client_ip"] == LOOPBACK
    assert event["user_agent"] == UA


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def sign_in(server: RunningBerth, principal: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/c/login",
        data={"principal": principal, "password": password},
        headers={"User-Agent": UA},
    )


# --- projects --------------------------------------------------------------------------------


def test_project_create_update_delete_are_recorded(berth_server: RunningBerth) -> None:
    # Given a name nobody uses
    name = unique("audit")
    with client(berth_server) as admin:
        # When the admin creates the project, makes it public, and deletes it
        created = admin.post(
            "/projects", json={"project_name": name, "metadata": {"public": "false"}}
        )
        updated = admin.put(f"/projects/{name}", json={"metadata": {"public": "true"}})
        deleted = admin.delete(f"/projects/{name}")
    assert (created.status_code, updated.status_code, deleted.status_code) == (201, 200, 200)
    # Then each step is an event of the admin on that project
    project_id = int(created.headers["Location"].rsplit("/", 1)[1])
    for operation in ("create", "update", "delete"):
        event = the_event(berth_server, operation, "project", name)
        assert_recorded(event, ADMIN[0])
        assert event["project"] == name
    assert the_event(berth_server, "update", "project", name)["operation_description"] == (
        "public: false -> true"
    )
    assert project_id > 0


def test_project_create_with_a_taken_name_is_a_failed_event(berth_server: RunningBerth) -> None:
    # Given a project
    _, name = new_project(berth_server, public=False)
    # When the admin creates it again
    with client(berth_server) as admin:
        again = admin.post("/projects", json={"project_name": name})
    # Then the refusal is recorded as a failed create, with the reason
    assert again.status_code == 409
    failed = [
        e
        for e in events(berth_server, operation="create", resource=name)
        if not e["operation_result"]
    ]
    assert len(failed) == 1
    assert_recorded(failed[0], ADMIN[0], success=False)
    assert "already exists" in failed[0]["operation_description"]


def test_project_create_with_a_bad_body_is_a_failed_event(berth_server: RunningBerth) -> None:
    # Given a user
    _, user = new_user(berth_server)
    # When they send a body that is not JSON
    with client(berth_server, (user, PASSWORD)) as caller:
        refused = caller.post(
            "/projects", content=b"{not json", headers={"Content-Type": "application/json"}
        )
    # Then a failed create by them is recorded
    assert refused.status_code == 400
    found = events(berth_server, operation="create", resource_type="project", username=user)
    assert len(found) == 1
    assert_recorded(found[0], user, success=False)


def test_denied_project_delete_by_a_non_member_is_recorded(berth_server: RunningBerth) -> None:
    # Given a private project and a user who is not its member
    project_id, name = new_project(berth_server, public=False)
    _, outsider = new_user(berth_server)
    # When the outsider tries to delete it
    with client(berth_server, (outsider, PASSWORD)) as caller:
        denied = caller.delete(f"/projects/{name}")
    # Then the attempt is refused, recorded as failed, and filed under the project
    assert denied.status_code == 404
    event = the_event(berth_server, "delete", "project", name)
    assert_recorded(event, outsider, success=False)
    assert event["project"] == name
    with client(berth_server) as admin:
        assert admin.get(f"/projects/{project_id}").status_code == 200  # still there


# --- members ---------------------------------------------------------------------------------


def test_member_add_update_remove_are_recorded(berth_server: RunningBerth) -> None:
    # Given a project and a user
    _, project = new_project(berth_server, public=False)
    _, user = new_user(berth_server)
    with client(berth_server) as admin:
        # When the admin adds them as developer, makes them guest, and removes them
        added = admin.post(
            f"/projects/{project}/members",
            json={"role_id": 2, "member_user": {"username": user}},
        )
        member = added.headers["Location"].rsplit("/", 1)[1]
        updated = admin.put(f"/projects/{project}/members/{member}", json={"role_id": 3})
        removed = admin.delete(f"/projects/{project}/members/{member}")
    assert (added.status_code, updated.status_code, removed.status_code) == (201, 200, 200)
    # Then three events name the member and the project
    descriptions = {}
    for operation in ("create", "update", "delete"):
        event = the_event(berth_server, operation, "project_member", f"user {user}")
        assert_recorded(event, ADMIN[0])
        assert event["project"] == project
        descriptions[operation] = event["operation_description"]
    assert descriptions == {
        "create": "role: developer",
        "update": "role: developer -> guest",
        "delete": "role: guest",
    }


def test_member_add_by_a_role_without_the_right_is_a_failed_event(
    berth_server: RunningBerth,
) -> None:
    # Given a developer of a project and another user
    _, project = new_project(berth_server, public=False)
    _, developer = new_user(berth_server)
    _, other = new_user(berth_server)
    add_member(berth_server, project, developer, 2)
    # When the developer tries to add the other user
    with client(berth_server, (developer, PASSWORD)) as caller:
        denied = caller.post(
            f"/projects/{project}/members", json={"role_id": 1, "member_user": {"username": other}}
        )
    # Then the 403 is a failed event of the developer in that project
    assert denied.status_code == 403
    event = the_event(berth_server, "create", "project_member", f"user {other}")
    assert_recorded(event, developer, success=False)
    assert event["project"] == project


# --- users -----------------------------------------------------------------------------------


def test_user_create_update_password_sysadmin_delete_are_recorded(
    berth_server: RunningBerth,
) -> None:
    # Given a new user name and password
    name, password, new_password = unique("auser"), "First-Passw0rd-x", "Second-Passw0rd-y"
    with client(berth_server) as admin:
        # When the admin creates the user, changes their profile, password and admin flag,
        # and deletes them
        created = admin.post(
            "/users", json={"username": name, "email": f"{name}@example.com", "password": password}
        )
        user_id = created.headers["Location"].rsplit("/", 1)[1]
        steps = [
            admin.put(f"/users/{user_id}", json={"realname": "Audit Person"}),
            admin.put(f"/users/{user_id}/password", json={"new_password": new_password}),
            admin.put(f"/users/{user_id}/sysadmin", json={"sysadmin_flag": True}),
            admin.delete(f"/users/{user_id}"),
        ]
    assert created.status_code == 201 and [s.status_code for s in steps] == [200] * 4
    # Then each is an event of the admin on that user, saying what changed
    assert_recorded(the_event(berth_server, "create", "user", name), ADMIN[0])
    assert_recorded(the_event(berth_server, "delete", "user", name), ADMIN[0])
    updates = events(berth_server, operation="update", resource_type="user", resource=name)
    assert [e["operation_description"] for e in updates] == [
        "sysadmin_flag: false -> true",
        "password change",
        "realname changed",
    ]
    for event in updates:
        assert_recorded(event, ADMIN[0])


def test_user_create_with_a_taken_name_is_a_failed_event(berth_server: RunningBerth) -> None:
    # Given a user
    _, name = new_user(berth_server)
    # When the admin creates another with the same name
    with client(berth_server) as admin:
        again = admin.post(
            "/users",
            json={"username": name, "email": f"other-{name}@example.com", "password": PASSWORD},
        )
    # Then a failed create is recorded
    assert again.status_code == 409
    failed = [
        e
        for e in events(berth_server, operation="create", resource=name)
        if not e["operation_result"]
    ]
    assert len(failed) == 1
    assert_recorded(failed[0], ADMIN[0], success=False)


# --- logins ----------------------------------------------------------------------------------


def test_dashboard_login_and_logout_are_recorded(berth_server: RunningBerth) -> None:
    # Given a user
    _, name = new_user(berth_server)
    # When they sign in with the form and sign out
    with httpx.Client(base_url=berth_server.url, headers={"User-Agent": UA}) as browser:
        signed_in = browser.post("/c/login", data={"principal": name, "password": PASSWORD})
        signed_out = browser.get("/c/log_out")
    assert (signed_in.status_code, signed_out.status_code) == (200, 200)
    # Then a login and a logout of theirs are recorded
    assert_recorded(the_event(berth_server, "login", "user", name), name)
    assert_recorded(the_event(berth_server, "logout", "user", name), name)


def test_failed_dashboard_login_is_recorded(berth_server: RunningBerth) -> None:
    # Given a user
    _, name = new_user(berth_server)
    # When someone signs in as them with a wrong password
    refused = sign_in(berth_server, name, "Wrong-Passw0rd-1")
    # Then a failed login under that name is recorded, and no session began
    assert refused.status_code == 401
    event = the_event(berth_server, "login", "user", name)
    assert_recorded(event, name, success=False)
    assert "set-cookie" not in refused.headers


def test_throttled_logins_are_recorded_as_failed(berth_server: RunningBerth) -> None:
    # Given a user whose password has been guessed wrong five times
    _, name = new_user(berth_server)
    statuses = [sign_in(berth_server, name, f"Wrong-Passw0rd-{i}").status_code for i in range(5)]
    # When a sixth attempt comes, even with the right password
    throttled = sign_in(berth_server, name, PASSWORD)
    # Then it is refused and recorded as a failed login, like the five before it
    assert statuses == [401] * 5 and throttled.status_code == 429
    found = events(berth_server, operation="login", resource=name)
    assert len(found) == 6 and not any(e["operation_result"] for e in found)
    assert "too many failed login attempts" in found[0]["operation_description"]


def test_docker_login_through_the_token_service_is_recorded(berth_server: RunningBerth) -> None:
    # Given a user
    _, name = new_user(berth_server)
    params = {"service": "berth-registry", "account": name, "client_id": "docker"}
    headers = {"User-Agent": UA}
    # When docker logs in (a token with no scope), then pulls (a token with a scope)
    login = httpx.get(
        f"{berth_server.url}/service/token", params=params, auth=(name, PASSWORD), headers=headers
    )
    pull = httpx.get(
        f"{berth_server.url}/service/token",
        params={**params, "scope": "repository:library/app:pull"},
        auth=(name, PASSWORD),
        headers=headers,
    )
    assert (login.status_code, pull.status_code) == (200, 200)
    # Then one login is recorded: the pull's token is not a login of its own
    assert_recorded(the_event(berth_server, "login", "user", name), name)


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/service/token?service=berth-registry", id="token-service"),
        pytest.param("/v2/", id="registry"),
        pytest.param(API + "/users/current", id="api"),
        pytest.param(API + "/projects", id="api-change"),
    ],
)
def test_wrong_basic_credentials_anywhere_are_a_failed_login(
    berth_server: RunningBerth, path: str
) -> None:
    # Given a user
    _, name = new_user(berth_server)
    # When a client sends a wrong password with Basic auth (a change, for api-change)
    method = "POST" if path == API + "/projects" else "GET"
    body = {"project_name": unique("never")} if method == "POST" else None
    refused = httpx.request(
        method,
        berth_server.url + path,
        json=body,
        auth=(name, "Wrong-Passw0rd-2"),
        headers={"User-Agent": UA},
    )
    # Then a failed login under that name is recorded, and nothing else in their name
    assert refused.status_code == 401
    event = the_event(berth_server, "login", "user", name)
    assert_recorded(event, name, success=False)
    assert events(berth_server, username=name) == [event]


# --- robots ----------------------------------------------------------------------------------


def test_robot_create_update_refresh_delete_are_recorded(berth_server: RunningBerth) -> None:
    # Given a project
    _, project = new_project(berth_server, public=False)
    access = [{"resource": "repository", "action": "pull"}]
    spec = {
        "name": unique("bot"),
        "level": "project",
        "duration": -1,
        "permissions": [{"kind": "project", "namespace": project, "access": access}],
    }
    with client(berth_server) as admin:
        # When the admin creates a robot, disables it, sets its secret, and deletes it
        created = admin.post("/robots", json=spec)
        robot = created.json()
        steps = [
            admin.put(f"/robots/{robot['id']}", json={"disable": True}),
            admin.patch(f"/robots/{robot['id']}", json={"secret": "Chosen-Robot-Secret-9"}),
            admin.delete(f"/robots/{robot['id']}"),
        ]
    assert created.status_code == 201 and [s.status_code for s in steps] == [200] * 3
    # Then each is an event on the robot, in its project
    name = robot["name"]
    assert name == f"robot${project}+{spec['name']}"
    for operation in ("create", "delete"):
        event = the_event(berth_server, operation, "robot", name)
        assert_recorded(event, ADMIN[0])
        assert event["project"] == project
    updates = events(berth_server, operation="update", resource_type="robot", resource=name)
    assert [e["operation_description"] for e in updates] == [
        "secret refreshed",
        "disable: false -> true",
    ]
    assert all(e["project"] == project for e in updates)


# --- configuration ---------------------------------------------------------------------------


def test_configuration_update_names_the_changed_keys_but_no_secret(
    berth_server: RunningBerth,
) -> None:
    # Given settings that do not affect the other tests (auth_mode stays db_auth)
    secret = f"Ldap-Secret-{uuid.uuid4().hex[:8]}"
    timeout = 7 + uuid.uuid4().int % 50
    with client(berth_server) as admin:
        # When the admin changes them, and then tries to switch auth_mode on a busy server
        changed = admin.put(
            "/configurations", json={"ldap_timeout": timeout, "ldap_search_password": secret}
        )
        refused = admin.put("/configurations", json={"auth_mode": "ldap_auth"})
    assert (changed.status_code, refused.status_code) == (200, 400)
    # Then both are recorded; the secret is named, never shown
    found = events(berth_server, operation="update", resource_type="configuration")
    switch, change = (
        found[0],
        next(e for e in found if f"-> {timeout}" in e["operation_description"]),
    )
    assert_recorded(change, ADMIN[0])
    assert "ldap_search_password changed" in change["operation_description"]
    assert secret not in change["operation_description"]
    assert_recorded(switch, ADMIN[0], success=False)
    assert switch["operation_description"].startswith("auth_mode: db_auth -> ldap_auth")


# --- webhook policies ------------------------------------------------------------------------


def test_webhook_policy_create_update_delete_are_recorded(berth_server: RunningBerth) -> None:
    # Given a project
    _, project = new_project(berth_server, public=False)
    name = unique("hook")
    policy = {
        "name": name,
        "event_types": ["PUSH_ARTIFACT"],
        "targets": [{"type": "http", "address": "http://127.0.0.1:9/hook"}],
    }
    base = f"/projects/{project}/webhook/policies"
    with client(berth_server) as admin:
        # When the admin creates a policy, disables it, and deletes it
        created = admin.post(base, json=policy)
        policy_id = created.json()["id"]
        updated = admin.put(f"{base}/{policy_id}", json={**policy, "enabled": False})
        deleted = admin.delete(f"{base}/{policy_id}")
    assert (created.status_code, updated.status_code, deleted.status_code) == (201, 200, 200)
    # Then three events name the policy, in its project
    for operation in ("create", "update", "delete"):
        event = the_event(berth_server, operation, "webhook_policy", name)
        assert_recorded(event, ADMIN[0])
        assert event["project"] == project
    update = the_event(berth_server, "update", "webhook_policy", name)
    assert update["operation_description"] == "enabled: true -> false"


# --- who may read them, and what they never hold ---------------------------------------------


def test_a_project_admin_reads_their_projects_events_only(berth_server: RunningBerth) -> None:
    # Given two projects, a Project Admin of the first, and a user with no admin role
    _, mine = new_project(berth_server, public=False)
    _, theirs = new_project(berth_server, public=False)
    _, project_admin = new_user(berth_server)
    _, plain = new_user(berth_server)
    add_member(berth_server, mine, project_admin, 1)
    add_member(berth_server, theirs, plain, 2)
    # When each reads the audit log
    seen = {e["project"] for e in events(berth_server, (project_admin, PASSWORD), project=mine)}
    hidden = events(berth_server, (project_admin, PASSWORD), project=theirs)
    with client(berth_server, (plain, PASSWORD)) as caller:
        refused = caller.get("/auditlog-exts")
    # Then the Project Admin sees their project's events and not the other's; the plain
    # user is refused
    assert seen == {mine}
    assert hidden == []
    assert refused.status_code == 403


def test_no_event_carries_a_password(berth_server: RunningBerth) -> None:
    # Given passwords sent in every way the API takes them
    first, second, wrong = "Pw-First-9a" + uuid.uuid4().hex[:6], "Pw-Second-9b", "Pw-Wrong-9c"
    name = unique("pwuser")
    with client(berth_server) as admin:
        created = admin.post(
            "/users", json={"username": name, "email": f"{name}@example.com", "password": first}
        )
        user_id = created.headers["Location"].rsplit("/", 1)[1]
        admin.put(f"/users/{user_id}/password", json={"new_password": second})
        admin.put(f"/users/{user_id}/password", json={"new_password": "short"})  # refused
    sign_in(berth_server, name, wrong)
    sign_in(berth_server, name, second)
    httpx.get(f"{berth_server.url}/v2/", auth=(name, wrong))
    # When the admin exports that user's events
    with client(berth_server) as admin:
        export = admin.get(
            "/auditlog-exts/export", params={"q": f"resource={name}", "sort": "-op_time"}
        )
    # Then they are all there, without any of the passwords
    assert export.status_code == 200
    rows = export.text.splitlines()
    assert len(rows) == 1 + 6  # header, create, 2 updates (one failed), 3 logins
    for password in (first, second, wrong, "short"):
        assert password not in export.text
