"""Which registry actions a set of permissions allows, as the token service grants them."""

from __future__ import annotations

import pytest

from access.policy import Action, Identity, denial_reason, grantable
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


@pytest.mark.parametrize(
    "action, expected",
    [
        pytest.param(Action.PULL, "pull from project p needs the Limited Guest role or higher"),
        pytest.param(Action.PUSH, "push to project p needs the Developer role or higher"),
        pytest.param(Action.DELETE, "delete in project p needs the Maintainer role or higher"),
    ],
)
def test_a_refusal_names_the_least_role_that_would_do(action: Action, expected: str) -> None:
    assert denial_reason(Identity(username="u", user_id=7), "p/app", action) == expected


def test_a_robot_refusal_names_the_permission_it_lacks() -> None:
    robot = Identity(username="robot$p+ci", robot_id=3)
    assert denial_reason(robot, "p/app", Action.PUSH) == (
        "push to project p needs repository:push, which robot robot$p+ci does not hold"
    )
