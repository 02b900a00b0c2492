"""Robot accounts on a real server: /api/v2.0/robots, and robots at /v2 and /service/token."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests import factories
from tests.factories import (
    API,
    PASSWORD,
    PROJECT_ADMIN,
    access,
    admin_client,
    granted,
    new_member,
    push_image,
    robot_body,
    system_entry,
    system_robot_body,
)
from tests.support import ADMIN, RunningBerth, run_sql

# --- helpers --------------------------------------------------------------------------------


def new_project(server: RunningBerth) -> str:
    """A private project; its name."""
    return factories.new_project(server, prefix="rb")[1]


def create_robot(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    created = client.post("/robots", json=body)
    assert created.status_code == 201, created.text
    result: dict[str, Any] = created.json()
    return result


def start_push(server: RunningBerth, auth: tuple[str, str], repository: str) -> httpx.Response:
    return httpx.post(f"{server.url}/v2/{repository}/blobs/uploads/", auth=auth)


def v2_status(server: RunningBerth, auth: tuple[str, str]) -> int:
    return httpx.get(f"{server.url}/v2/", auth=auth).status_code


# --- creating robots --------------------------------------------------------------------------


def test_project_robot_is_created_with_a_secret_shown_once(berth_server: RunningBerth) -> None:
    # Given a project
    project = new_project(berth_server)
    with admin_client(berth_server) as client:
        # When the admin creates a project-level robot
        body = robot_body(project, "repository:pull", "repository:push")
        created = create_robot(client, body)
        # Then it has its full Harbor name, a secret and no expiry
        assert created["name"] == f"robot${project}+{body['name']}"
        assert len(created["secret"]) >= 32 and created["expires_at"] == -1
        assert created["creation_time"]
        # And GET shows it without the secret
        got = client.get(f"/robots/{created['id']}")
    assert got.status_code == 200
    assert "secret" not in got.json() and created["secret"] not in got.text
    assert got.json()["level"] == "project" and got.json()["disable"] is False
    assert got.json()["permissions"][0]["namespace"] == project


def test_robot_secret_works_with_basic_and_the_token_service(berth_server: RunningBerth) -> None:
    # Given a robot that may pull and push in one project
    project = new_project(berth_server)
    other = new_project(berth_server)
    with admin_client(berth_server) as client:
        robot = create_robot(client, robot_body(project, "repository:pull", "repository:push"))
    auth = (robot["name"], robot["secret"])
    # Then Basic works on /v2 and for a push in its project
    assert v2_status(berth_server, auth) == 200
    assert start_push(berth_server, auth, f"{project}/app").status_code == 202
    # And a token grants exactly the robot's actions there, and nothing in another project
    assert granted(berth_server, auth, f"repository:{project}/app:pull,push,delete") == [
        "pull",
        "push",
    ]
    assert granted(berth_server, auth, f"repository:{other}/app:pull,push") == []
    # And with that token, the robot pushes
    token = httpx.get(
        f"{berth_server.url}/service/token",
        params={"service": "berth-registry", "scope": f"repository:{project}/app:pull,push"},
        auth=auth,
    ).json()["token"]
    pushed = httpx.post(
        f"{berth_server.url}/v2/{project}/app/blobs/uploads/",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert pushed.status_code == 202


def test_pull_only_robot_cannot_push_or_touch_another_project(berth_server: RunningBerth) -> None:
    # Given a pull-only robot of one project
    project = new_project(berth_server)
    other = new_project(berth_server)
    with admin_client(berth_server) as client:
        robot = create_robot(client, robot_body(project, "repository:pull"))
    auth = (robot["name"], robot["secret"])
    # When it tries to push, in its project and in another
    own = start_push(berth_server, auth, f"{project}/app")
    foreign = start_push(berth_server, auth, f"{other}/app")
    # Then both are denied
    assert own.status_code == 403 and own.json()["errors"][0]["code"] == "DENIED"
    assert foreign.status_code in (403, 404)
    assert granted(berth_server, auth, f"repository:{project}/app:pull,push") == ["pull"]


def test_system_robot_reaches_every_project_it_names(berth_server: RunningBerth) -> None:
    # Given two projects and a system-level robot with pull everywhere, push in one
    first, second = new_project(berth_server), new_project(berth_server)
    body = {
        "name": f"sys{uuid.uuid4().hex[:6]}",
        "level": "system",
        "duration": 30,
        "permissions": [
            {"kind": "project", "namespace": "*", "access": access("repository:pull")},
            {"kind": "project", "namespace": first, "access": access("repository:push")},
        ],
    }
    with admin_client(berth_server) as client:
        robot = create_robot(client, body)
    # Then its name is robot$<name>, it expires in 30 days, and grants follow its permissions
    assert robot["name"] == f"robot${body['name']}"
    in_30_days = datetime.now(UTC) + timedelta(days=30)
    assert abs(robot["expires_at"] - in_30_days.timestamp()) < 120
    auth = (robot["name"], robot["secret"])
    assert granted(berth_server, auth, f"repository:{first}/x:pull,push") == [
        "pull",
        "push",
    ]
    assert granted(berth_server, auth, f"repository:{second}/x:pull,push") == ["pull"]


@pytest.mark.parametrize(
    "change, message",
    [
        pytest.param({"name": "Bad Name"}, "name", id="bad-name"),
        pytest.param({"level": "galaxy"}, "level", id="bad-level"),
        pytest.param({"duration": 0}, "duration", id="zero-duration"),
        pytest.param({"duration": "ten"}, "duration", id="text-duration"),
        pytest.param({"permissions": []}, "permission", id="no-permissions"),
        pytest.param({"secret": "short"}, "password", id="weak-secret"),
        pytest.param(
            {
                "permissions": [
                    {"kind": "project", "namespace": "*", "access": access("repository:pull")}
                ]
            },
            "exactly one project",
            id="project-robot-everywhere",
        ),
        pytest.param(
            {
                "permissions": [
                    {
                        "kind": "project",
                        "namespace": "nope-" + uuid.uuid4().hex,
                        "access": access("repository:pull"),
                    }
                ]
            },
            "does not exist",
            id="unknown-project",
        ),
    ],
)
def test_bad_robot_requests_get_400(
    berth_server: RunningBerth, change: dict[str, Any], message: str
) -> None:
    project = new_project(berth_server)
    with admin_client(berth_server) as client:
        response = client.post("/robots", json={**robot_body(project, "repository:pull"), **change})
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["code"] == "BAD_REQUEST" and message in error["message"]


@pytest.mark.parametrize(
    "pair",
    [
        pytest.param("repository:fly", id="unknown-action"),
        pytest.param("spaceship:pull", id="unknown-resource"),
    ],
)
def test_unknown_access_is_400(berth_server: RunningBerth, pair: str) -> None:
    project = new_project(berth_server)
    with admin_client(berth_server) as client:
        response = client.post("/robots", json=robot_body(project, pair))
    assert response.status_code == 400
    assert "unknown access" in response.json()["errors"][0]["message"]


def test_duplicate_robot_name_is_409(berth_server: RunningBerth) -> None:
    project = new_project(berth_server)
    body = robot_body(project, "repository:pull")
    with admin_client(berth_server) as client:
        create_robot(client, body)
        again = client.post("/robots", json=body)
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "CONFLICT"


# --- who may manage robots ------------------------------------------------------------------


def project_admin(server: RunningBerth, project: str) -> tuple[str, str]:
    """A new user who is Project Admin of project; (username, password)."""
    return member(server, project, PROJECT_ADMIN)


def test_project_admin_manages_robots_of_their_project_only(berth_server: RunningBerth) -> None:
    # Given a Project Admin of one project
    project, other = new_project(berth_server), new_project(berth_server)
    auth = project_admin(berth_server, project)
    with httpx.Client(base_url=berth_server.url + API, auth=auth) as client:
        # When they create a robot in their project, it works
        robot = create_robot(client, robot_body(project, "repository:pull"))
        # And they see their project's robots
        assert client.get(f"/robots/{robot['id']}").json()["name"] == robot["name"]
        # But a robot in another project, or a system robot, or listing everything is refused
        foreign = client.post("/robots", json=robot_body(other, "repository:pull"))
        system = client.post(
            "/robots", json={**robot_body(project, "repository:pull"), "level": "system"}
        )
        everything = client.get("/robots")
    assert foreign.status_code == 403
    assert system.status_code == 403
    assert everything.status_code == 403


def test_project_admin_lists_robots_with_harbor_query(berth_server: RunningBerth) -> None:
    project = new_project(berth_server)
    auth = project_admin(berth_server, project)
    with httpx.Client(base_url=berth_server.url + API, auth=auth) as client:
        robot = create_robot(client, robot_body(project, "repository:pull"))
        project_id = _project_id(berth_server, project)
        listed = client.get("/robots", params={"q": f"Level=project,ProjectID={project_id}"})
    assert listed.status_code == 200, listed.text
    assert [r["name"] for r in listed.json()] == [robot["name"]]
    assert listed.headers["X-Total-Count"] == "1"
    assert robot["secret"] not in listed.text


def _project_id(server: RunningBerth, project: str) -> int:
    with admin_client(server) as client:
        got = client.get(f"/projects/{project}")
    assert got.status_code == 200, got.text
    return int(got.json()["project_id"])


def test_anonymous_and_robots_cannot_manage_robots(berth_server: RunningBerth) -> None:
    project = new_project(berth_server)
    with admin_client(berth_server) as client:
        robot = create_robot(client, robot_body(project, "repository:pull"))
    anonymous = httpx.get(f"{berth_server.url}{API}/robots")
    as_robot = httpx.get(
        f"{berth_server.url}{API}/robots/{robot['id']}", auth=(robot["name"], robot["secret"])
    )
    assert anonymous.status_code == 401
    assert as_robot.status_code == 403


# --- lifecycle ------------------------------------------------------------------------------


def test_disabled_robot_is_refused(berth_server: RunningBerth) -> None:
    # Given a working robot
    project = new_project(berth_server)
    with admin_client(berth_server) as client:
        robot = create_robot(client, robot_body(project, "repository:pull"))
        auth = (robot["name"], robot["secret"])
        assert v2_status(berth_server, auth) == 200
        # When the admin disables it
        updated = client.put(f"/robots/{robot['id']}", json={"disable": True})
        assert updated.status_code == 200, updated.text
        # Then its secret no longer works, anywhere
        assert v2_status(berth_server, auth) == 401
        token = httpx.get(f"{berth_server.url}/service/token", auth=auth)
        assert token.status_code == 401
        assert client.get(f"/robots/{robot['id']}").json()["disable"] is True
        # And enabled again it works
        client.put(f"/robots/{robot['id']}", json={"disable": False})
    assert v2_status(berth_server, auth) == 200


def test_expired_robot_is_refused(berth_server: RunningBerth) -> None:
    # Given a robot with a duration that has passed
    project = new_project(berth_server)
    with admin_client(berth_server) as client:
        robot = create_robot(client, robot_body(project, "repository:pull", duration=1))
    auth = (robot["name"], robot["secret"])
    assert v2_status(berth_server, auth) == 200
    run_sql(
        berth_server,
        "UPDATE robot SET expires_at = ? WHERE id = ?",
        datetime.now(UTC) - timedelta(minutes=1),
        robot["id"],
    )
    # Then its secret is refused
    assert v2_status(berth_server, auth) == 401


def test_token_of_a_disabled_robot_stops_working(berth_server: RunningBerth) -> None:
    project = new_project(berth_server)
    with admin_client(berth_server) as client:
        robot = create_robot(client, robot_body(project, "repository:pull", "repository:push"))
        auth = (robot["name"], robot["secret"])
        token = httpx.get(
            f"{berth_server.url}/service/token",
            params={"service": "berth-registry", "scope": f"repository:{project}/a:push"},
            auth=auth,
        ).json()["token"]
        client.put(f"/robots/{robot['id']}", json={"disable": True})
    response = httpx.post(
        f"{berth_server.url}/v2/{project}/a/blobs/uploads/",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 401


def test_refresh_replaces_the_secret(berth_server: RunningBerth) -> None:
    # Given a robot whose secret has been used
    project = new_project(berth_server)
    with admin_client(berth_server) as client:
        robot = create_robot(client, robot_body(project, "repository:pull"))
        old = (robot["name"], robot["secret"])
        assert v2_status(berth_server, old) == 200
        # When the admin refreshes it
        refreshed = client.patch(f"/robots/{robot['id']}", json={})
        assert refreshed.status_code == 200
        fresh = refreshed.json()["secret"]
        # And then sets a chosen one
        chosen = client.patch(f"/robots/{robot['id']}", json={"secret": "Chosen-Secret-1"})
        weak = client.patch(f"/robots/{robot['id']}", json={"secret": "weak"})
    # Then the old secrets stop working and the chosen one works
    assert fresh != robot["secret"]
    assert v2_status(berth_server, old) == 401
    assert v2_status(berth_server, (robot["name"], fresh)) == 401
    assert chosen.status_code == 200 and chosen.json() == {"secret": "Chosen-Secret-1"}
    assert v2_status(berth_server, (robot["name"], "Chosen-Secret-1")) == 200
    assert weak.status_code == 400


def test_update_changes_permissions_live_but_never_name_or_level(
    berth_server: RunningBerth,
) -> None:
    project = new_project(berth_server)
    with admin_client(berth_server) as client:
        robot = create_robot(client, robot_body(project, "repository:pull"))
        auth = (robot["name"], robot["secret"])
        assert start_push(berth_server, auth, f"{project}/app").status_code == 403
        perms = [
            {
                "kind": "project",
                "namespace": project,
                "access": access("repository:pull", "repository:push"),
            }
        ]
        widened = client.put(f"/robots/{robot['id']}", json={"permissions": perms})
        assert widened.status_code == 200
        assert start_push(berth_server, auth, f"{project}/app").status_code == 202
        renamed = client.put(f"/robots/{robot['id']}", json={"name": "other"})
        relevelled = client.put(f"/robots/{robot['id']}", json={"level": "system"})
    assert renamed.status_code == 400 and relevelled.status_code == 400


def test_deleted_robot_is_gone(berth_server: RunningBerth) -> None:
    project = new_project(berth_server)
    with admin_client(berth_server) as client:
        robot = create_robot(client, robot_body(project, "repository:pull"))
        assert client.delete(f"/robots/{robot['id']}").status_code == 200
        missing = client.get(f"/robots/{robot['id']}")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "NOT_FOUND"
    assert v2_status(berth_server, (robot["name"], robot["secret"])) == 401


def test_admin_lists_robots_without_secrets(berth_server: RunningBerth) -> None:
    project = new_project(berth_server)
    with admin_client(berth_server) as client:
        robot = create_robot(client, robot_body(project, "repository:pull"))
        twin = create_robot(client, robot_body(project, "repository:pull"))
        listed = client.get("/robots", params={"q": f"name=~{project}+", "sort": "-name"})
        exact = client.get("/robots", params={"q": f"name={robot['name']}"})
        bad = client.get("/robots", params={"q": "colour=red"})
    assert listed.status_code == 200
    names = sorted([robot["name"], twin["name"]], reverse=True)
    assert [r["name"] for r in listed.json()] == names
    assert [r["id"] for r in exact.json()] == [robot["id"]]
    assert robot["secret"] not in listed.text
    assert bad.status_code == 400


# --- system-level robots (kind "system", namespace "/") --------------------------------------

# Harbor's system-level access as its clients send it, written out here (not read from
# access/roles.py), one resource at a time.
SYSTEM_PAIRS = [
    "audit-log:list",
    "catalog:read",
    "garbage-collection:create",
    "garbage-collection:list",
    "garbage-collection:stop",
    "ldap-user:create",
    "ldap-user:list",
    "member:list",
    "project:create",
    "project:list",
    "registry:*",
    "replication:create",
    "replication:list",
    "replication:read",
    "replication-policy:create",
    "replication-policy:read",
    "robot:create",
    "robot:list",
    "scan-all:create",
    "scan-all:stop",
    "system-volumes:read",
    "user:create",
    "user:list",
    "user-group:create",
    "user-group:list",
]


def stored_access(robot: dict[str, Any], kind: str, namespace: str) -> list[str]:
    """The "resource:action" pairs a robot's permissions list for one kind and namespace."""
    return sorted(
        f"{a['resource']}:{a['action']}"
        for entry in robot["permissions"]
        if entry["kind"] == kind and entry["namespace"] == namespace
        for a in entry["access"]
    )


def test_system_robot_with_system_permissions_is_created_and_kept(
    berth_server: RunningBerth,
) -> None:
    # When the admin creates a system robot with Harbor's system-level permissions
    with admin_client(berth_server) as client:
        created = create_robot(client, system_robot_body(system_entry(*SYSTEM_PAIRS)))
        got = client.get(f"/robots/{created['id']}")
        listed = client.get("/robots", params={"q": "Level=system", "page_size": 100})
    # Then it is robot$<name>, and reads back with every permission it was given
    assert created["name"].startswith("robot$sys") and "+" not in created["name"]
    assert got.status_code == 200, got.text
    robot = got.json()
    assert robot["level"] == "system"
    assert stored_access(robot, "system", "/") == sorted(SYSTEM_PAIRS)
    assert created["id"] in [r["id"] for r in listed.json()]


def test_system_robot_carries_system_and_project_permissions_for_several_projects(
    berth_server: RunningBerth,
) -> None:
    # Given two projects and a third it is not given
    first, second, third = (new_project(berth_server) for _ in range(3))
    body = system_robot_body(
        system_entry("replication:create", "project:create"),
        {"kind": "project", "namespace": first, "access": access("repository:*")},
        {"kind": "project", "namespace": second, "access": access("repository:pull")},
    )
    with admin_client(berth_server) as client:
        robot = create_robot(client, body)
        stored = client.get(f"/robots/{robot['id']}").json()
    auth = (robot["name"], robot["secret"])
    # Then its permissions are kept, and the token service grants by project
    assert stored_access(stored, "system", "/") == ["project:create", "replication:create"]
    assert stored_access(stored, "project", first) == ["repository:*"]
    assert granted(berth_server, auth, f"repository:{first}/x:*") == [
        "*",
        "delete",
        "pull",
        "push",
    ]
    assert granted(berth_server, auth, f"repository:{second}/x:pull,push") == ["pull"]
    assert granted(berth_server, auth, f"repository:{third}/x:pull") == []
    assert start_push(berth_server, auth, f"{first}/app").status_code == 202


def test_system_robot_with_every_project_pulls_from_any(berth_server: RunningBerth) -> None:
    project = new_project(berth_server)
    body = system_robot_body(
        system_entry("replication:create"),
        {"kind": "project", "namespace": "*", "access": access("repository:pull")},
    )
    with admin_client(berth_server) as client:
        robot = create_robot(client, body)
    auth = (robot["name"], robot["secret"])
    assert granted(berth_server, auth, f"repository:{project}/x:pull,push") == ["pull"]


def test_system_robot_permissions_are_updated_and_it_is_deleted(
    berth_server: RunningBerth,
) -> None:
    with admin_client(berth_server) as client:
        robot = create_robot(client, system_robot_body(system_entry("replication:create")))
        changed = client.put(
            f"/robots/{robot['id']}",
            json={"permissions": [system_entry("registry:read", "registry:list")]},
        )
        after = client.get(f"/robots/{robot['id']}").json()
        deleted = client.delete(f"/robots/{robot['id']}")
        gone = client.get(f"/robots/{robot['id']}")
    assert changed.status_code == 200, changed.text
    assert stored_access(after, "system", "/") == ["registry:list", "registry:read"]
    assert deleted.status_code == 200 and gone.status_code == 404
    assert v2_status(berth_server, (robot["name"], robot["secret"])) == 401


@pytest.mark.parametrize(
    "body, message",
    [
        pytest.param(
            system_robot_body(system_entry("replication:fly")), "unknown access", id="action"
        ),
        pytest.param(
            system_robot_body(system_entry("spaceship:create")), "unknown access", id="resource"
        ),
        pytest.param(
            system_robot_body({**system_entry("project:create"), "namespace": "p"}),
            "namespace '/'",
            id="namespace",
        ),
        pytest.param(
            system_robot_body(system_entry("project:create"), system_entry("user:list")),
            "one entry",
            id="twice",
        ),
        pytest.param(
            system_robot_body({**system_entry("project:create"), "kind": "galaxy"}),
            "kind",
            id="kind",
        ),
    ],
)
def test_bad_system_permissions_are_400(
    berth_server: RunningBerth, body: dict[str, Any], message: str
) -> None:
    with admin_client(berth_server) as client:
        response = client.post("/robots", json=body)
    assert response.status_code == 400, response.text
    assert message in response.json()["errors"][0]["message"]


def test_a_project_robot_cannot_hold_system_permissions(berth_server: RunningBerth) -> None:
    project = new_project(berth_server)
    body = robot_body(project, "repository:pull")
    body["permissions"].append(system_entry("project:create"))
    with admin_client(berth_server) as client:
        response = client.post("/robots", json=body)
    assert response.status_code == 400, response.text
    assert "system-level robot" in response.json()["errors"][0]["message"]


# --- the right is checked before the body ------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(json.dumps(system_robot_body(system_entry("project:create"))), id="system"),
        pytest.param(json.dumps({"level": "project", "name": "Bad Name"}), id="bad-body"),
        pytest.param("{not json", id="not-json"),
    ],
)
def test_a_robot_asking_for_any_robot_is_403(berth_server: RunningBerth, content: str) -> None:
    # Given a project robot allowed to create robots in its project, if robots could
    project = new_project(berth_server)
    with admin_client(berth_server) as client:
        robot = create_robot(client, robot_body(project, "robot:create", "repository:pull"))
    # When it asks for a robot, well-formed or not
    response = post_robot(berth_server, content, (robot["name"], robot["secret"]))
    # Then the answer is that it may not, not what is wrong with the body
    assert response.status_code == 403, response.text


def test_a_user_who_administers_no_project_is_403_whatever_the_body(
    berth_server: RunningBerth,
) -> None:
    # Given a Developer of a project (who may create no robot anywhere)
    project = new_project(berth_server)
    developer = member(berth_server, project, role_id=2)
    bodies = [
        json.dumps(system_robot_body(system_entry("project:create"))),
        json.dumps(robot_body(project, "repository:pull")),
        json.dumps({"level": "project", "name": "Bad Name", "permissions": "x"}),
        "{not json",
    ]
    # When they ask for robots, well-formed or not
    answers = [post_robot(berth_server, body, developer) for body in bodies]
    # Then every answer is the refusal
    assert [a.status_code for a in answers] == [403] * 4, [a.text for a in answers]


def test_a_project_admin_asking_for_a_system_robot_is_403_whatever_the_body(
    berth_server: RunningBerth,
) -> None:
    owner = project_admin(berth_server, new_project(berth_server))
    bodies = [
        json.dumps(system_robot_body(system_entry("project:create"))),
        json.dumps({"name": "Bad Name", "permissions": "x"}),  # no level: system, as in Harbor
        json.dumps({"level": "system", "name": "ok", "permissions": [{"kind": "galaxy"}]}),
    ]
    answers = [post_robot(berth_server, body, owner) for body in bodies]
    assert [a.status_code for a in answers] == [403] * 3, [a.text for a in answers]


def post_robot(server: RunningBerth, content: str, auth: tuple[str, str]) -> httpx.Response:
    return httpx.post(
        f"{server.url}{API}/robots",
        content=content,
        headers={"Content-Type": "application/json"},
        auth=auth,
    )


def member(server: RunningBerth, project: str, role_id: int) -> tuple[str, str]:
    """A new user holding role_id in project; (username, password)."""
    return new_member(server, project, role_id), PASSWORD


# --- what a system robot's system permissions open --------------------------------------------


def a_system_robot(server: RunningBerth, *pairs: str, **projects: list[str]) -> tuple[str, str]:
    """A system robot holding the system-level pairs (and project access by project name),
    made by the admin; its Basic credentials."""
    entries = [system_entry(*pairs)] if pairs else []
    entries += [
        {"kind": "project", "namespace": ns, "access": access(*granted)}
        for ns, granted in projects.items()
    ]
    with admin_client(server) as client:
        robot = create_robot(client, system_robot_body(*entries))
    return robot["name"], robot["secret"]


def as_robot(server: RunningBerth, auth: tuple[str, str]) -> httpx.Client:
    return httpx.Client(base_url=server.url + API, auth=auth, timeout=30)


def test_a_system_robot_with_project_create_creates_a_project(berth_server: RunningBerth) -> None:
    # Given a system robot holding project:create, and one holding only replication:create
    creator = a_system_robot(berth_server, "project:create")
    other = a_system_robot(berth_server, "replication:create")
    name, refused_name = f"ci{uuid.uuid4().hex[:8]}", f"ci{uuid.uuid4().hex[:8]}"
    # When each asks for a project with its robot credentials
    with as_robot(berth_server, creator) as client:
        made = client.post("/projects", json={"project_name": name})
    with as_robot(berth_server, other) as client:
        refused = client.post("/projects", json={"project_name": refused_name})
    # Then the first is created, owned by admin as in Harbor, with no member; the second is 403
    assert made.status_code == 201, made.text
    assert refused.status_code == 403, refused.text
    assert "project:create" in refused.json()["errors"][0]["message"]
    with admin_client(berth_server) as client:
        project = client.get(f"/projects/{name}")
        members = client.get(f"/projects/{name}/members")
        missing = client.get(f"/projects/{refused_name}")
        logged = client.get("/auditlog-exts", params={"q": f"resource={name},operation=create"})
    assert project.status_code == 200 and project.json()["owner_name"] == ADMIN[0]
    assert members.status_code == 200 and members.json() == []
    assert missing.status_code == 404
    assert [e["username"] for e in logged.json()] == [creator[0]]


def test_a_project_robot_cannot_create_projects(berth_server: RunningBerth) -> None:
    project = new_project(berth_server)
    with admin_client(berth_server) as client:
        robot = create_robot(client, robot_body(project, "repository:push", "repository:pull"))
    with as_robot(berth_server, (robot["name"], robot["secret"])) as client:
        refused = client.post("/projects", json={"project_name": f"ci{uuid.uuid4().hex[:8]}"})
    assert refused.status_code == 403, refused.text


def test_project_list_and_read_open_every_project(berth_server: RunningBerth) -> None:
    # Given a private project, a robot with project:list and project:read, and one without
    project = new_project(berth_server)
    reader = a_system_robot(berth_server, "project:list", "project:read")
    other = a_system_robot(berth_server, "replication:create")
    with as_robot(berth_server, reader) as client:
        listed = client.get("/projects", params={"name": project})
        got = client.get(f"/projects/{project}")
    with as_robot(berth_server, other) as client:
        unlisted = client.get("/projects", params={"name": project})
        hidden = client.get(f"/projects/{project}")
    assert [p["name"] for p in listed.json()] == [project]
    assert got.status_code == 200 and got.json()["name"] == project
    assert unlisted.status_code == 200 and unlisted.json() == []
    assert hidden.status_code == 404


def test_audit_log_list_reads_the_whole_audit_log(berth_server: RunningBerth) -> None:
    # Given a change in a project the robots have no access to
    project = new_project(berth_server)
    auditor = a_system_robot(berth_server, "audit-log:list")
    other = a_system_robot(berth_server, "project:list")
    # When a robot with audit-log:list reads the log, and one without
    with as_robot(berth_server, auditor) as client:
        read = client.get("/auditlog-exts", params={"q": f"resource={project}"})
    with as_robot(berth_server, other) as client:
        refused = client.get("/auditlog-exts")
    # Then the first sees the project's creation; the second is refused
    assert read.status_code == 200, read.text
    assert [(e["operation"], e["resource_type"]) for e in read.json()] == [("create", "project")]
    assert refused.status_code == 403


def test_user_list_and_read_open_the_user_api(berth_server: RunningBerth) -> None:
    lister = a_system_robot(berth_server, "user:list", "user:read")
    other = a_system_robot(berth_server, "project:create")
    with as_robot(berth_server, lister) as client:
        listed = client.get("/users", params={"q": f"username={ADMIN[0]}"})
        admin_id = listed.json()[0]["user_id"]
        got = client.get(f"/users/{admin_id}")
    with as_robot(berth_server, other) as client:
        refused = [client.get("/users").status_code, client.get(f"/users/{admin_id}").status_code]
    assert listed.status_code == 200 and got.json()["username"] == ADMIN[0]
    assert "password" not in got.text
    assert refused == [403, 403]


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(json.dumps(system_robot_body(system_entry("project:create"))), id="system"),
        pytest.param(json.dumps({"level": "project", "name": "Bad Name"}), id="bad-body"),
        pytest.param("{not json", id="not-json"),
    ],
)
def test_a_system_robot_without_robot_create_is_403_whatever_the_body(
    berth_server: RunningBerth, content: str
) -> None:
    robot = a_system_robot(berth_server, "project:create", "robot:list")
    response = post_robot(berth_server, content, robot)
    assert response.status_code == 403, response.text
    assert "robot:create" in response.json()["errors"][0]["message"]


def test_a_system_robot_with_robot_rights_manages_robots_within_its_own(
    berth_server: RunningBerth,
) -> None:
    # Given a system robot that may create, list and delete robots, and pull in one project
    project = new_project(berth_server)
    rights = ("robot:create", "robot:list", "robot:read", "robot:delete", "replication:create")
    manager = a_system_robot(berth_server, *rights, **{project: ["repository:pull"]})
    with as_robot(berth_server, manager) as client:
        # When it creates a pull robot of the project and a replication robot
        puller = create_robot(client, robot_body(project, "repository:pull"))
        replicator = create_robot(client, system_robot_body(system_entry("replication:create")))
        # But asks for push, or for a system permission it lacks
        push = client.post(
            "/robots", json=robot_body(project, "repository:pull", "repository:push")
        )
        users = client.post("/robots", json=system_robot_body(system_entry("user:list")))
        listed = client.get("/robots", params={"q": "Level=system", "page_size": 100})
        deleted = client.delete(f"/robots/{replicator['id']}")
    # Then what it holds it grants, what it lacks it cannot
    assert granted(berth_server, (puller["name"], puller["secret"]), f"repository:{project}/x:pull")
    assert (push.status_code, users.status_code) == (403, 403)
    assert "do not hold" in push.json()["errors"][0]["message"]
    assert replicator["id"] in [r["id"] for r in listed.json()]
    assert deleted.status_code == 200
    assert v2_status(berth_server, (replicator["name"], replicator["secret"])) == 401


def test_configuration_read_opens_the_settings(berth_server: RunningBerth) -> None:
    reader = a_system_robot(berth_server, "configuration:read")
    with as_robot(berth_server, reader) as client:
        got = client.get("/configurations")
        changed = client.put("/configurations", json={"ldap_timeout": 9})
    assert got.status_code == 200 and "auth_mode" in got.json()
    assert changed.status_code == 403


def test_catalog_read_lists_every_repository(berth_server: RunningBerth) -> None:
    # Given an image in a private project
    project = new_project(berth_server)
    push_image(berth_server, f"{project}/app", "v1")
    reader = a_system_robot(berth_server, "catalog:read")
    other = a_system_robot(berth_server, "project:list")

    def catalog(auth: tuple[str, str]) -> list[str]:
        got = httpx.get(f"{berth_server.url}/v2/_catalog", params={"n": 1000}, auth=auth)
        assert got.status_code == 200, got.text
        return list(got.json()["repositories"])

    # Then a robot with catalog:read finds it in the catalog, and one without does not
    assert f"{project}/app" in catalog(reader)
    assert f"{project}/app" not in catalog(other)
