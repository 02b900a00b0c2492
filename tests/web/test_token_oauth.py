"""POST /service/token: the token spec's OAuth2 form, as containerd and BuildKit send it.

Passwords and refresh tokens, refresh tokens bound to the account's secret, and the 400 / 401
answers of Distribution's token server for what the service cannot take.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import claims_of
from tests.support import ADMIN, RunningBerth, running_berth

PASSWORD = "Oauth-Form-Pass-1"
SERVICE = "berth-registry"


def api(server: RunningBerth, method: str, path: str, body: Any = None) -> httpx.Response:
    response = httpx.request(
        method, f"{server.url}/api/v2.0{path}", json=body, auth=ADMIN, timeout=30
    )
    assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
    return response


def new_user(server: RunningBerth) -> tuple[str, int]:
    """A user who is a Developer of a new private project; (username, user id)."""
    name = f"oauth{uuid.uuid4().hex[:8]}"
    api(
        server, "POST", "/users", {"username": name, "email": f"{name}@x.org", "password": PASSWORD}
    )
    found = api(server, "GET", f"/users/search?username={name}").json()
    return name, int(found[0]["user_id"])


def private_project(server: RunningBerth, member: str) -> str:
    project = f"oauth{uuid.uuid4().hex[:8]}"
    api(server, "POST", "/projects", {"project_name": project, "metadata": {"public": "false"}})
    body = {"role_id": 2, "member_user": {"username": member}}
    api(server, "POST", f"/projects/{project}/members", body)
    return project


def password_form(username: str, password: str = PASSWORD, **extra: Any) -> dict[str, Any]:
    return {
        "grant_type": "password",
        "username": username,
        "password": password,
        "service": SERVICE,
        "client_id": "berth-tests",
        **extra,
    }


def refresh_form(refresh: str, **extra: Any) -> dict[str, Any]:
    return {
        "grant_type": "refresh_token",
        "refresh_token": refresh,
        "service": SERVICE,
        "client_id": "berth-tests",
        **extra,
    }


def post_token(server: RunningBerth, form: Any) -> httpx.Response:
    return httpx.post(f"{server.url}/service/token", data=form)


def refresh_token_of(server: RunningBerth, username: str, password: str = PASSWORD) -> str:
    answer = post_token(server, password_form(username, password, access_type="offline"))
    assert answer.status_code == 200, answer.text
    return str(answer.json()["refresh_token"])


# --- passwords ------------------------------------------------------------------------------


def test_a_password_grant_answers_a_token_for_the_scopes_allowed(
    berth_server: RunningBerth,
) -> None:
    # Given a Developer of a private project
    user, _ = new_user(berth_server)
    project = private_project(berth_server, user)
    # When they post the form with a repeated scope, one of them a space-separated list
    form = password_form(user)
    form["scope"] = [
        f"repository:{project}/a:pull,push",
        f"repository:{project}/b:pull repository:{project}/c:delete,pull",
    ]
    answer = post_token(berth_server, form)
    # Then the token grants each scope as far as the role allows, and the answer says so
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["access_token"] == body["token"] and body["expires_in"] == 1800
    assert body["issued_at"].endswith("Z") and "refresh_token" not in body
    claims = claims_of(body["access_token"])
    assert claims["sub"] == user
    assert {e["name"]: e["actions"] for e in claims["access"]} == {
        f"{project}/a": ["pull", "push"],
        f"{project}/b": ["pull"],
        f"{project}/c": ["pull"],
    }
    assert body["scope"].split() == [
        f"repository:{project}/a:pull,push",
        f"repository:{project}/b:pull",
        f"repository:{project}/c:pull",
    ]


def test_the_posted_token_works_at_the_registry(berth_server: RunningBerth) -> None:
    user, _ = new_user(berth_server)
    project = private_project(berth_server, user)
    form = password_form(user, scope=f"repository:{project}/app:pull,push")
    token = post_token(berth_server, form).json()["access_token"]
    started = httpx.post(
        f"{berth_server.url}/v2/{project}/app/blobs/uploads/",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert started.status_code == 202, started.text


def test_a_wrong_password_is_401_and_a_failed_login(berth_server: RunningBerth) -> None:
    # Given a user
    user, _ = new_user(berth_server)
    # When the form carries a wrong password
    answer = post_token(berth_server, password_form(user, "Not-The-Pass-1"))
    # Then it is refused, and the audit log holds a failed login under that name
    assert answer.status_code == 401, answer.text
    assert failed_logins(berth_server, user) == 1


def failed_logins(server: RunningBerth, username: str) -> int:
    """How many failed logins of username the audit API shows (written after the answer)."""
    deadline = time.monotonic() + 10
    while True:
        found = api(
            server, "GET", f"/auditlog-exts?q=operation=login,resource={username}&page_size=100"
        ).json()
        failed = [e for e in found if e["operation_result"] is False]
        if failed or time.monotonic() > deadline:
            return len(failed)
        time.sleep(0.1)


def test_wrong_passwords_are_throttled_like_any_login(tmp_path: Path) -> None:
    with running_berth(tmp_path) as server:
        statuses = [
            post_token(server, password_form("admin", f"wrong-{i}")).status_code for i in range(6)
        ]
        locked = post_token(server, password_form(*ADMIN))
    assert statuses == [401] * 5 + [429]
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0


# --- refresh tokens -------------------------------------------------------------------------


def test_offline_access_gives_a_refresh_token_that_gets_tokens(berth_server: RunningBerth) -> None:
    # Given a Developer's refresh token
    user, _ = new_user(berth_server)
    project = private_project(berth_server, user)
    refresh = refresh_token_of(berth_server, user)
    # When they exchange it for a token for a scope
    answer = post_token(berth_server, refresh_form(refresh, scope=f"repository:{project}/x:*"))
    # Then the token is theirs with their role's actions, and the same refresh token returns
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["refresh_token"] == refresh
    claims = claims_of(body["access_token"])
    assert claims["sub"] == user
    assert claims["access"] == [
        {"type": "repository", "name": f"{project}/x", "actions": ["pull", "push"]}
    ]


def test_a_refresh_token_is_not_an_access_token_nor_the_reverse(
    berth_server: RunningBerth,
) -> None:
    user, _ = new_user(berth_server)
    refresh = refresh_token_of(berth_server, user)
    access = post_token(berth_server, password_form(user)).json()["access_token"]
    as_bearer = httpx.get(f"{berth_server.url}/v2/", headers={"Authorization": f"Bearer {refresh}"})
    as_refresh = post_token(berth_server, refresh_form(access))
    forged = post_token(berth_server, refresh_form("not.a.token"))
    assert as_bearer.status_code == 401
    assert as_refresh.status_code == 401
    assert forged.status_code == 401


def test_a_new_password_ends_every_refresh_token(berth_server: RunningBerth) -> None:
    user, user_id = new_user(berth_server)
    refresh = refresh_token_of(berth_server, user)
    change = {"old_password": PASSWORD, "new_password": "Oauth-Form-Pass-2"}
    api(berth_server, "PUT", f"/users/{user_id}/password", change)
    answer = post_token(berth_server, refresh_form(refresh))
    assert answer.status_code == 401, answer.text
    assert failed_logins(berth_server, user) == 1


def test_a_deleted_user_refresh_token_is_refused_even_if_the_name_returns(
    berth_server: RunningBerth,
) -> None:
    # Given a user's refresh token, and the user deleted and created again with the same
    # name and password
    user, user_id = new_user(berth_server)
    refresh = refresh_token_of(berth_server, user)
    api(berth_server, "DELETE", f"/users/{user_id}")
    assert post_token(berth_server, refresh_form(refresh)).status_code == 401
    api(
        berth_server,
        "POST",
        "/users",
        {"username": user, "email": f"{user}@x.org", "password": PASSWORD},
    )
    # Then the old refresh token still does not hold
    assert post_token(berth_server, refresh_form(refresh)).status_code == 401


def test_a_robot_refresh_token_ends_with_its_secret(berth_server: RunningBerth) -> None:
    # Given a project robot and its refresh token
    user, _ = new_user(berth_server)
    project = private_project(berth_server, user)
    body = {
        "name": f"bot{uuid.uuid4().hex[:6]}",
        "level": "project",
        "duration": -1,
        "permissions": [
            {
                "kind": "project",
                "namespace": project,
                "access": [{"resource": "repository", "action": "pull"}],
            }
        ],
    }
    robot = api(berth_server, "POST", "/robots", body).json()
    refresh = refresh_token_of(berth_server, robot["name"], robot["secret"])
    scope = f"repository:{project}/x:pull,push"
    works = post_token(berth_server, refresh_form(refresh, scope=scope))
    assert works.status_code == 200, works.text
    assert works.json()["scope"] == f"repository:{project}/x:pull"
    # When its secret is refreshed, the refresh token stops
    api(berth_server, "PATCH", f"/robots/{robot['id']}", {})
    assert post_token(berth_server, refresh_form(refresh)).status_code == 401


# --- forms it cannot take -------------------------------------------------------------------


def without(form: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in form.items() if k != key}


@pytest.mark.parametrize(
    "form, message",
    [
        pytest.param(without(password_form("u"), "grant_type"), "grant_type", id="no-grant"),
        pytest.param(without(password_form("u"), "client_id"), "client_id", id="no-client-id"),
        pytest.param(without(password_form("u"), "service"), "service", id="no-service"),
        pytest.param(without(password_form("u"), "username"), "username", id="no-username"),
        pytest.param(password_form("u", ""), "password", id="empty-password"),
        pytest.param(password_form("u", grant_type="authorization_code"), "grant_type", id="code"),
        pytest.param(password_form("u", access_type="forever"), "access_type", id="access-type"),
        pytest.param(without(refresh_form("x"), "refresh_token"), "refresh_token", id="no-rt"),
        pytest.param({**password_form("u"), "username": ["a", "b"]}, "more than once", id="twice"),
        pytest.param(password_form("u\0x"), "NUL", id="nul"),
    ],
)
def test_a_form_it_cannot_take_is_400(
    berth_server: RunningBerth, form: dict[str, Any], message: str
) -> None:
    answer = post_token(berth_server, form)
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "content, content_type",
    [
        pytest.param(b'{"grant_type": "password"}', "application/json", id="json"),
        pytest.param(b"grant_type=%ff%fe", "application/x-www-form-urlencoded", id="not-utf8"),
        pytest.param(b"a=" + b"x" * 70_000, "application/x-www-form-urlencoded", id="too-large"),
    ],
)
def test_a_body_that_is_no_form_is_400(
    berth_server: RunningBerth, content: bytes, content_type: str
) -> None:
    answer = httpx.post(
        f"{berth_server.url}/service/token",
        content=content,
        headers={"Content-Type": content_type},
    )
    assert answer.status_code == 400, answer.text
