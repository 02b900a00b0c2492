"""Who may do what: every role, anonymous, a signed-in outsider and the system admin, against
every action, in a public and a private project — each cell one test on a real server.

Registry actions go the way a client goes: a token from /service/token with Basic
credentials, then /v2 with that Bearer token. REST actions use Basic credentials.
The expectations are written out here, not read from access/roles.py, so a change to the
permission table has to change this table too.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.factories import PASSWORD, add_member, claims_of, new_project, new_user, push_image
from tests.support import ADMIN, RunningBerth

ROLES = {"projectAdmin": 1, "developer": 2, "guest": 3, "maintainer": 4, "limitedGuest": 5}
ACTORS = ["admin", *ROLES, "outsider", "anonymous"]
MEMBERS = {"admin", *ROLES}
# action -> who may do it in a project they belong to (the admin: everywhere)
ALLOWED = {
    "pull": {"admin", "projectAdmin", "maintainer", "developer", "guest", "limitedGuest"},
    "push": {"admin", "projectAdmin", "maintainer", "developer"},
    "delete": {"admin", "projectAdmin", "maintainer"},
    "list-members": {"admin", "projectAdmin", "maintainer", "developer", "guest"},
    "add-member": {"admin", "projectAdmin"},
    "read-logs": {"admin", "projectAdmin"},
    "edit-project": {"admin", "projectAdmin"},
    "delete-project": {"admin", "projectAdmin"},
}
# and what anybody may do in a public project
PUBLIC = {"pull"}
REGISTRY_ACTIONS = ("pull", "push", "delete")


def allowed(actor: str, action: str, visibility: str) -> bool:
    return actor in ALLOWED[action] or (visibility == "public" and action in PUBLIC)


def cells() -> list[Any]:
    return [
        pytest.param(actor, visibility, action, id=f"{actor}-{visibility}-{action}")
        for visibility in ("public", "private")
        for actor in ACTORS
        for action in ALLOWED
    ]


@dataclass
class World:
    """Users of each role in a public and a private project, each holding app:v1."""

    users: dict[str, str]  # actor -> username
    projects: dict[str, tuple[int, str]]  # visibility -> (id, name)


_worlds: dict[str, World] = {}


@pytest.fixture
def world(berth_server: RunningBerth) -> World:
    if berth_server.url not in _worlds:
        users = {"admin": ADMIN[0]}
        users.update({actor: new_user(berth_server, "mx")[1] for actor in [*ROLES, "outsider"]})
        projects = {}
        for visibility in ("public", "private"):
            projects[visibility] = new_project(berth_server, visibility == "public", "mx")
            push_image(berth_server, f"{projects[visibility][1]}/app", "v1")
            for role, role_id in ROLES.items():
                add_member(berth_server, projects[visibility][1], users[role], role_id)
        _worlds[berth_server.url] = World(users, projects)
    return _worlds[berth_server.url]


def credentials(world: World, actor: str) -> tuple[str, str] | None:
    if actor == "anonymous":
        return None
    return ADMIN if actor == "admin" else (world.users[actor], PASSWORD)


# --- the registry: tokens and /v2 ----------------------------------------------------------


def registry_token(server: RunningBerth, auth: Any, repository: str) -> tuple[str, set[str]]:
    """A token for pull,push,delete on repository, and the actions it grants."""
    scope = f"repository:{repository}:pull,push,delete"
    response = httpx.get(
        f"{server.url}/service/token",
        params={"service": "berth-registry", "scope": scope},
        auth=auth,
    )
    assert response.status_code == 200, response.text
    token = response.json()["token"]
    claims = claims_of(token)
    granted = {a for e in claims.get("access", []) if e["name"] == repository for a in e["actions"]}
    return token, granted


def try_registry(server: RunningBerth, token: str, repository: str, action: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=headers) as client:
        if action == "pull":
            accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
            return client.get(f"/v2/{repository}/manifests/v1", headers=accept).status_code
        if action == "push":
            blob = uuid.uuid4().bytes
            digest = "sha256:" + hashlib.sha256(blob).hexdigest()
            url = f"/v2/{repository}/blobs/uploads/?digest={digest}"
            return client.post(url, content=blob).status_code
        tag = f"d{uuid.uuid4().hex[:8]}"
        push_image(server, repository, tag)
        return client.delete(f"/v2/{repository}/manifests/{tag}").status_code


# --- the REST API ----------------------------------------------------------------------------


def try_rest(server: RunningBerth, world: World, actor: str, action: str, visibility: str) -> int:
    project_id, project = world.projects[visibility]
    with httpx.Client(base_url=server.url + "/api/v2.0", auth=credentials(world, actor)) as client:
        if action == "list-members":
            return client.get(f"/projects/{project}/members").status_code
        if action == "add-member":
            group = {"ldap_group_dn": f"cn=g{uuid.uuid4().hex[:8]},dc=example,dc=com"}
            body = {"role_id": 3, "member_group": group}
            return client.post(f"/projects/{project}/members", json=body).status_code
        if action == "edit-project":
            body = {"metadata": {"public": "true" if visibility == "public" else "false"}}
            return client.put(f"/projects/{project_id}", json=body).status_code
        # delete-project: a project of its own, so the shared ones stay
        doomed_id, doomed = new_project(server, visibility == "public", "mxdel")
        if actor in ROLES:
            add_member(server, doomed, world.users[actor], ROLES[actor])
        return client.delete(f"/projects/{doomed_id}").status_code


def reads_logs(server: RunningBerth, world: World, actor: str, visibility: str) -> bool:
    """Whether Harbor's permissions API grants log:list in the project."""
    project_id, _ = world.projects[visibility]
    with httpx.Client(base_url=server.url + "/api/v2.0", auth=credentials(world, actor)) as client:
        response = client.get(
            "/users/current/permissions",
            params={"scope": f"/project/{project_id}", "relative": "true"},
        )
    assert response.status_code == 200, response.text
    return {"resource": "log", "action": "list"} in response.json()


# --- the matrix ------------------------------------------------------------------------------


@pytest.mark.parametrize(("actor", "visibility", "action"), cells())
def test_matrix(
    berth_server: RunningBerth, world: World, actor: str, visibility: str, action: str
) -> None:
    # Given an actor and a project they are a member of (unless outsider or anonymous)
    may = allowed(actor, action, visibility)
    if action in REGISTRY_ACTIONS:
        repository = f"{world.projects[visibility][1]}/app"
        # When they get a token for every action and try this one on /v2
        token, granted = registry_token(berth_server, credentials(world, actor), repository)
        status = try_registry(berth_server, token, repository, action)
        # Then the token grants exactly what the role allows, and /v2 agrees
        assert (action in granted) == may
        denied = 401 if actor == "anonymous" else 403
        assert status == ({"pull": 200, "push": 201, "delete": 202}[action] if may else denied)
    elif action == "read-logs":
        # When they ask which permissions they hold in the project; Then log:list iff allowed
        assert reads_logs(berth_server, world, actor, visibility) == may
    else:
        # When they call the REST API
        status = try_rest(berth_server, world, actor, action, visibility)
        # Then allowed is 200/201; a hidden project is 404; else 401 anonymous, 403 signed-in
        hidden = visibility == "private" and actor not in MEMBERS
        refused = 404 if hidden else 401 if actor == "anonymous" else 403
        assert status == ({"add-member": 201}.get(action, 200) if may else refused)


def test_the_matrix_covers_every_role() -> None:
    # The roles named here are every role Berth knows, by Harbor's names
    from access.roles import Role

    assert {r.harbor_name: int(r) for r in Role} == ROLES
    assert len(cells()) == len(ACTORS) * len(ALLOWED) * 2 == 128
