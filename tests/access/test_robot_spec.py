"""Robot bodies as Harbor's clients send them: system-level and project-level permissions."""

from __future__ import annotations

from typing import Any

import pytest

from access.robot_spec import RobotInvalid, enforced, expanded, parse_spec
from access.roles import SYSTEM_ACCESS, Permission


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
