"""The token flow of /v2 as Docker walks it: challenge, token, access by role."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from pathlib import Path

import httpx
import pytest

from tests.factories import claims_of
from tests.support import ADMIN, RunningBerth, running_berth, running_berth_with

LAYER = b"some layer bytes"
DIGEST = "sha256:" + hashlib.sha256(LAYER).hexdigest()
# A server of one process, so the login it remembers is the one the next request meets.
ONE_PROCESS = {"BERTH_WORKERS": "1"}


def token_for(server: RunningBerth, scope: str, auth: tuple[str, str] | None = None) -> str:
    response = httpx.get(
        f"{server.url}/service/token",
        params={"service": "berth-registry", "scope": scope},
        auth=auth,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token"] == body["access_token"] and body["expires_in"] == 1800
    return str(body["token"])


def test_anonymous_version_check_is_challenged_with_the_token_realm(
    berth_server: RunningBerth,
) -> None:
    response = httpx.get(f"{berth_server.url}/v2/")
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith(f'Bearer realm="{berth_server.url}/service/token"')
    assert 'service="berth-registry"' in challenge
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_anonymous_token_grants_pull_on_public_library_but_never_push(
    berth_server: RunningBerth,
) -> None:
    # Given an admin pushed a blob into library
    pushed = httpx.post(
        f"{berth_server.url}/v2/library/authflow/blobs/uploads/",
        params={"digest": DIGEST},
        content=LAYER,
        auth=ADMIN,
    )
    assert pushed.status_code == 201
    # When an anonymous client asks for pull and push
    token = token_for(berth_server, "repository:library/authflow:pull,push")
    # Then the token holds pull only, and works for pull but not push
    access = claims_of(token)["access"]
    assert access == [{"type": "repository", "name": "library/authflow", "actions": ["pull"]}]
    bearer = {"Authorization": f"Bearer {token}"}
    got = httpx.get(f"{berth_server.url}/v2/library/authflow/blobs/{DIGEST}", headers=bearer)
    assert got.status_code == 200 and got.content == LAYER
    push = httpx.post(f"{berth_server.url}/v2/library/authflow/blobs/uploads/", headers=bearer)
    assert push.status_code == 401
    assert 'scope="repository:library/authflow:pull,push"' in push.headers["WWW-Authenticate"]


def test_a_token_without_an_action_the_role_allows_is_sent_back_for_a_new_one(
    berth_server: RunningBerth,
) -> None:
    token = token_for(berth_server, "repository:library/scoped:pull", ADMIN)
    response = httpx.post(
        f"{berth_server.url}/v2/library/scoped/blobs/uploads/",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 401
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    fresh = token_for(berth_server, "repository:library/scoped:pull,push", ADMIN)
    assert claims_of(fresh)["access"][0]["actions"] == ["pull", "push"]


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("Bearer not.a.token", id="garbage-bearer"),
        pytest.param("Basic " + base64.b64encode(b"admin:wrong").decode(), id="wrong-password"),
        pytest.param("Basic !!!", id="malformed-basic"),
    ],
)
def test_bad_credentials_get_401_in_the_registry_envelope(
    berth_server: RunningBerth, header: str
) -> None:
    response = httpx.get(
        f"{berth_server.url}/v2/library/x/tags/list", headers={"Authorization": header}
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert re.match(r'Bearer realm="[^"]+/service/token"', response.headers["WWW-Authenticate"])


def test_the_token_service_refuses_wrong_credentials(berth_server: RunningBerth) -> None:
    response = httpx.get(
        f"{berth_server.url}/service/token",
        params={"service": "berth-registry"},
        auth=("admin", "nope"),
    )
    assert response.status_code == 401


def test_repeated_failed_logins_are_throttled_per_user(tmp_path: Path) -> None:
    with running_berth(tmp_path) as server:
        statuses = [
            httpx.get(f"{server.url}/service/token", auth=("admin", f"wrong-{i}")).status_code
            for i in range(6)
        ]
        assert statuses[:5] == [401] * 5
        assert statuses[5] == 429
        # Even the right password waits out the window: that is what throttling means.
        locked = httpx.get(f"{server.url}/service/token", auth=ADMIN)
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_a_locked_out_user_stays_out_even_right_after_a_good_login(
    tmp_path: Path, database: str
) -> None:
    with running_berth_with(database, tmp_path, ONE_PROCESS) as server:
        # Given admin signed in a moment ago, so the server remembers that login
        assert httpx.get(f"{server.url}/v2/", auth=ADMIN).status_code == 200
        # When five wrong passwords lock the name out
        wrong = [
            httpx.get(f"{server.url}/v2/", auth=("admin", f"wrong-{i}")).status_code
            for i in range(5)
        ]
        # Then the right password is refused too, on /v2 and at the token service
        registry = httpx.get(f"{server.url}/v2/", auth=ADMIN)
        service = httpx.get(f"{server.url}/service/token", auth=ADMIN)
    assert wrong == [401] * 5
    assert registry.status_code == 429, registry.text
    assert service.status_code == 429 and int(service.headers["Retry-After"]) > 0


# --- the `*` action: every action the caller may use ------------------------------------------

MEMBER_PASSWORD = "Star-Scope-Pass-1"


def api_post(server: RunningBerth, path: str, body: dict[str, object]) -> None:
    response = httpx.post(f"{server.url}/api/v2.0{path}", json=body, auth=ADMIN, timeout=30)
    assert response.status_code == 201, f"POST {path}: {response.status_code} {response.text}"


def member_of(server: RunningBerth, project: str, role_id: int) -> tuple[str, str]:
    """A new user holding role_id in project; (username, password)."""
    name = f"star{uuid.uuid4().hex[:8]}"
    api_post(
        server,
        "/users",
        {"username": name, "email": f"{name}@example.com", "password": MEMBER_PASSWORD},
    )
    body = {"role_id": role_id, "member_user": {"username": name}}
    api_post(server, f"/projects/{project}/members", body)
    return name, MEMBER_PASSWORD


@pytest.mark.parametrize(
    "role_id, expected",
    [
        pytest.param(5, ["pull"], id="limited-guest"),
        pytest.param(3, ["pull"], id="guest"),
        pytest.param(2, ["pull", "push"], id="developer"),
        pytest.param(4, ["*", "delete", "pull", "push"], id="maintainer"),
        pytest.param(1, ["*", "delete", "pull", "push"], id="project-admin"),
    ],
)
def test_a_star_scope_grants_every_action_the_role_allows(
    berth_server: RunningBerth, role_id: int, expected: list[str]
) -> None:
    # Given a member of a private project
    project = f"star{uuid.uuid4().hex[:8]}"
    api_post(berth_server, "/projects", {"project_name": project, "metadata": {"public": "false"}})
    auth = member_of(berth_server, project, role_id)
    # When they ask for every action on a repository
    token = token_for(berth_server, f"repository:{project}/app:*", auth)
    # Then they get each action their role allows, and `*` only with all three
    assert claims_of(token)["access"] == [
        {"type": "repository", "name": f"{project}/app", "actions": expected}
    ]


def test_a_star_scope_works_at_the_registry(berth_server: RunningBerth) -> None:
    # Given a Developer's token for `*` on a private project's repository
    project = f"star{uuid.uuid4().hex[:8]}"
    api_post(berth_server, "/projects", {"project_name": project, "metadata": {"public": "false"}})
    token = token_for(
        berth_server, f"repository:{project}/app:*", member_of(berth_server, project, 2)
    )
    # When it pushes a blob, then reads it back
    bearer = {"Authorization": f"Bearer {token}"}
    pushed = httpx.post(
        f"{berth_server.url}/v2/{project}/app/blobs/uploads/",
        params={"digest": DIGEST},
        content=LAYER,
        headers=bearer,
    )
    got = httpx.get(f"{berth_server.url}/v2/{project}/app/blobs/{DIGEST}", headers=bearer)
    # Then both work
    assert pushed.status_code == 201, pushed.text
    assert got.status_code == 200 and got.content == LAYER


def test_anonymous_star_scope_on_a_public_project_is_pull_only(berth_server: RunningBerth) -> None:
    token = token_for(berth_server, "repository:library/anything:*")
    assert claims_of(token)["access"][0]["actions"] == ["pull"]


def test_the_system_admin_star_scope_holds_everything(berth_server: RunningBerth) -> None:
    token = token_for(berth_server, "repository:library/anything:*", ADMIN)
    assert claims_of(token)["access"][0]["actions"] == ["*", "delete", "pull", "push"]
