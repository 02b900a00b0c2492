"""Robot bodies as Harbor's clients send them: system-level and project-level permissions."""

from __future__ import annotations

from typing import Any

import pytest

from access.policy import Identity, holds_system
from access.robot_spec import RobotInvalid, enforced, expanded, parse_spec
from access.robots import identity_of_robot
from access.roles import SYSTEM_ACCESS, Permission
from models import Robot


def body(*entries: dict[str, Any], level: str = "system") -> dict[str, Any]:
    return {"name": "replicator", "level": level, "permissions": list(entries)}


def entry(kind: str, namespace: str, *pairs: str) -> dict[str, Any]:
    access = [{"resource": p.split(":")[0], "action": p.split(":")[1]} for p in pairs]
    return {"kind": kind, "namespace": namespace, "access": access}


def test_a_system_robot_keeps_system_and_project_entries() -> None:
    spec = parse_spec(
        body(
            entry("system", "/", "replication:create", "registry:*"),
            entry("project", "*", "repository:pull"),
            entry("project", "web", "repository:*", "artifact:read"),
        )
    )
    assert spec.system == {"replication:create", "registry:*"}
    assert spec.grants["*"] == {Permission.REPOSITORY_PULL}
    # Harbor's artifact:read is kept but grants nothing Berth has; repository:* is all of it
    assert spec.grants["web"] == {p for p in Permission if p.value.startswith("repository:")}
    assert spec.permissions_json()[0] == {
        "kind": "system",
        "namespace": "/",
        "access": [
            {"resource": "registry", "action": "*"},
            {"resource": "replication", "action": "create"},
        ],
    }
    assert {"resource": "artifact", "action": "read"} in spec.permissions_json()[2]["access"]


def test_a_star_action_is_every_action_of_its_resource() -> None:
    assert expanded(frozenset({"registry:*"}), SYSTEM_ACCESS) == {
        "registry:create",
        "registry:read",
        "registry:update",
        "registry:delete",
        "registry:list",
    }
    assert enforced(frozenset({"member:*"})) == {
        Permission.MEMBER_LIST,
        Permission.MEMBER_CREATE,
        Permission.MEMBER_UPDATE,
        Permission.MEMBER_DELETE,
    }


@pytest.mark.parametrize(
    "request_body",
    [
        pytest.param(body(entry("system", "/", "project:create"), level="project"), id="project"),
        pytest.param(body(entry("system", "/", "repository:pull")), id="project-access"),
        pytest.param(body(entry("project", "web", "replication:create")), id="system-access"),
        pytest.param(body(entry("system", "*", "project:create")), id="namespace"),
    ],
)
def test_access_out_of_its_level_is_refused(request_body: dict[str, Any]) -> None:
    with pytest.raises(RobotInvalid):
        parse_spec(request_body)


def stored_robot(level: str, *entries: dict[str, Any]) -> Robot:
    return Robot(name="robot$replicator", level=level, permissions=list(entries), secret_hash="-")


def test_a_stored_system_robot_holds_its_system_access_on_its_identity() -> None:
    robot = stored_robot(
        "system",
        entry("system", "/", "registry:*", "replication:create"),
        entry("project", "*", "repository:pull"),
    )
    identity = identity_of_robot(robot, "127.0.0.1")
    assert holds_system(identity, "replication:create")
    assert holds_system(identity, "registry:delete")
    assert not holds_system(identity, "project:create")
    assert identity.robot_permissions == {"*": {Permission.REPOSITORY_PULL}}


def test_only_system_level_robots_and_admins_hold_system_access() -> None:
    # a project robot's row never grants system access, even if one were written into it
    robot = stored_robot("project", entry("system", "/", "project:create"))
    assert not holds_system(identity_of_robot(robot, None), "project:create")
    assert holds_system(Identity(username="admin", user_id=1, sysadmin=True), "project:create")
    assert not holds_system(Identity(username="dev", user_id=2), "project:create")
