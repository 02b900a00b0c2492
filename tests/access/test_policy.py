"""Which registry actions a set of permissions allows, as the token service grants them."""

from __future__ import annotations

import pytest

from access.policy import grantable
from access.roles import ALL_PERMISSIONS, PERMISSIONS, PUBLIC_PERMISSIONS, Role


@pytest.mark.parametrize(
    "role, expected",
    [
        pytest.param(Role.LIMITED_GUEST, {"pull"}, id="limited-guest"),
        pytest.param(Role.GUEST, {"pull"}, id="guest"),
        pytest.param(Role.DEVELOPER, {"pull", "push"}, id="developer"),
        pytest.param(Role.MAINTAINER, {"pull", "push", "delete", "*"}, id="maintainer"),
        pytest.param(Role.PROJECT_ADMIN, {"pull", "push", "delete", "*"}, id="project-admin"),
    ],
)
def test_star_grants_every_action_of_the_role(role: Role, expected: set[str]) -> None:
    assert grantable({"*"}, PERMISSIONS[role]) == expected


def test_star_for_everyone_on_a_public_project_is_pull() -> None:
    assert grantable({"*"}, PUBLIC_PERMISSIONS) == {"pull"}


def test_star_for_the_system_admin_is_everything() -> None:
    assert grantable({"*"}, ALL_PERMISSIONS) == {"pull", "push", "delete", "*"}


def test_named_actions_are_granted_no_wider_than_asked() -> None:
    assert grantable({"pull"}, ALL_PERMISSIONS) == {"pull"}
    assert grantable({"pull", "push"}, PERMISSIONS[Role.GUEST]) == {"pull"}
    assert grantable({"fly", "pull"}, PERMISSIONS[Role.DEVELOPER]) == {"pull"}
    assert grantable(set(), ALL_PERMISSIONS) == set()
