"""Cookie sign-in: POST /c/login, the CSRF token, GET /c/log_out (on the session's real server),
and login throttling (in-process, a Berth per test)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.factories import API, PASSWORD, AppApi, admin_client, message, new_user
from tests.support import InProcessBerth, RunningBerth

CSRF = "X-Harbor-CSRF-Token"


@contextmanager
def signed_in(server: RunningBerth, name: str, password: str = PASSWORD) -> Iterator[httpx.Client]:
    """A client holding a session cookie, as a browser would."""
    with httpx.Client(base_url=server.url) as client:
        response = client.post("/c/login", data={"principal": name, "password": password})
        assert response.status_code == 200, response.text
        yield client


def test_login_sets_a_safe_cookie_and_hands_out_a_csrf_token(berth_server: RunningBerth) -> None:
    # Given a user
    _, name = new_user(berth_server)
    # When they sign in with the form
    response = httpx.post(
        f"{berth_server.url}/c/login", data={"principal": name, "password": PASSWORD}
    )
    # Then
    assert response.status_code == 200
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("sid=") and "httponly" in cookie and "samesite=lax" in cookie
    assert len(response.headers[CSRF]) >= 32
    assert PASSWORD not in response.text


@pytest.mark.parametrize(
    ("form", "status"),
    [
        pytest.param({"password": "Wrong-Passw0rd"}, 401, id="wrong-password"),
        pytest.param({"password": ""}, 400, id="no-password"),
    ],
)
def test_bad_login_is_refused(
    berth_server: RunningBerth, form: dict[str, str], status: int
) -> None:
    _, name = new_user(berth_server)
    response = httpx.post(f"{berth_server.url}/c/login", data={"principal": name, **form})
    assert response.status_code == status
    assert "set-cookie" not in response.headers


def test_session_reads_the_api_and_gets_the_token_back(berth_server: RunningBerth) -> None:
    _, name = new_user(berth_server)
    with signed_in(berth_server, name) as browser:
        me = browser.get(f"{API}/users/current")
    assert me.status_code == 200 and me.json()["username"] == name
    assert me.headers[CSRF]


@pytest.mark.parametrize(
    "token",
    [pytest.param(None, id="missing"), pytest.param("0" * 64, id="wrong")],
)
def test_unsafe_methods_need_the_csrf_token(berth_server: RunningBerth, token: str | None) -> None:
    # Given a signed-in browser
    user_id, name = new_user(berth_server)
    with signed_in(berth_server, name) as browser:
        headers = {CSRF: token} if token else {}
        # When it changes something without the right token
        refused = browser.put(f"{API}/users/{user_id}", json={"realname": "X"}, headers=headers)
        # Then it is refused, and with the token the server gave it works
        given = browser.get(f"{API}/users/current").headers[CSRF]
        allowed = browser.put(
            f"{API}/users/{user_id}", json={"realname": "X"}, headers={CSRF: given}
        )
    assert refused.status_code == 403 and "CSRF" in message(refused)
    assert allowed.status_code == 200


def test_login_token_works_for_the_first_change(berth_server: RunningBerth) -> None:
    user_id, name = new_user(berth_server)
    with httpx.Client(base_url=berth_server.url) as browser:
        login = browser.post("/c/login", data={"principal": name, "password": PASSWORD})
        changed = browser.put(
            f"{API}/users/{user_id}", json={"comment": "c"}, headers={CSRF: login.headers[CSRF]}
        )
    assert changed.status_code == 200


def test_log_out_ends_the_session(berth_server: RunningBerth) -> None:
    _, name = new_user(berth_server)
    with signed_in(berth_server, name) as browser:
        out = browser.get("/c/log_out")
        after = browser.get(f"{API}/users/current")
    assert out.status_code == 200
    assert after.status_code == 401


def test_password_change_ends_other_sessions(berth_server: RunningBerth) -> None:
    # Given a user signed in with a cookie
    user_id, name = new_user(berth_server)
    with signed_in(berth_server, name) as browser:
        # When the admin resets their password
        with admin_client(berth_server) as admin:
            reset = admin.put(f"/users/{user_id}/password", json={"new_password": "Reset-Passw0rd"})
        # Then the old session is no longer signed in
        assert reset.status_code == 200
        assert browser.get(f"{API}/users/current").status_code == 401


def test_forged_cookie_is_anonymous(berth_server: RunningBerth) -> None:
    with httpx.Client(base_url=berth_server.url, cookies={"sid": "1.forged.sig"}) as browser:
        assert browser.get(f"{API}/users/current").status_code == 401


async def test_repeated_failures_are_throttled(in_process: InProcessBerth) -> None:
    # Given five failed logins for one name (in a Berth of its own: throttling nobody else)
    name = f"t{uuid.uuid4().hex[:8]}"
    anonymous = AppApi(in_process, None)
    for _ in range(5):
        failed = await anonymous.post("/c/login", form={"principal": name, "password": "x"})
        assert failed.status_code == 401
    # When trying once more
    response = await anonymous.post("/c/login", form={"principal": name, "password": "x"})
    # Then
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
