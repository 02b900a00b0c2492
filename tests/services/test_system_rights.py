"""System-level rights in the user and configuration services: a system robot holds the
system permissions it was given (services.rights.require_system), a system admin holds them
all, and what only an admin may do no robot permission opens."""

from __future__ import annotations

import pytest

from access import config
from access.accounts import AccountService
from access.errors import Forbidden
from access.policy import Identity
from access.users import UserService
from core import audit
from models import User
from services import configuration, users
from tests.services.support import GivenCall, a_user, events_of


def a_system_robot(*system: str) -> Identity:
    """The caller a stored system robot resolves to."""
    return Identity(username="robot$ops", robot_id=4_242, system_permissions=frozenset(system))


async def test_a_robot_with_user_delete_deletes_a_user_and_one_without_is_refused(
    database: str,
) -> None:
    accounts = AccountService(UserService())
    leaver = await a_user("leaver")
    assert leaver.user_id is not None
    with pytest.raises(Forbidden, match="user:delete"):
        await users.delete(GivenCall(a_system_robot("user:list")), accounts, leaver.user_id)
    assert await User.exists(id=leaver.user_id)
    await users.delete(GivenCall(a_system_robot("user:delete")), accounts, leaver.user_id)
    assert not await User.exists(id=leaver.user_id)
    results = [(e.operation, e.resource, e.success) for e in await events_of(audit.USER)]
    assert results == [("delete", "leaver", False), ("delete", "leaver", True)]


async def test_no_robot_permission_makes_a_user_an_admin(database: str) -> None:
    # Given a user, and a robot holding every user permission
    accounts = AccountService(UserService())
    user = await a_user("hopeful")
    assert user.user_id is not None
    robot = a_system_robot(*(f"user:{a}" for a in ("create", "read", "update", "delete", "list")))
    # When it makes them a system admin
    with pytest.raises(Forbidden, match="only a system admin"):
        await users.set_sysadmin(GivenCall(robot, {"sysadmin_flag": True}), accounts, user.user_id)
    # Then they are not one, and the attempt is recorded
    assert not (await User.get(id=user.user_id)).sysadmin
    (event,) = await events_of(audit.USER)
    assert (event.username, event.success) == ("robot$ops", False)


async def test_a_robot_with_user_update_changes_a_profile(database: str) -> None:
    accounts = AccountService(UserService())
    user = await a_user("renamed")
    assert user.user_id is not None
    call = GivenCall(a_system_robot("user:update"), {"realname": "Re Named"})
    await users.update_profile(call, accounts, user.user_id)
    assert (await User.get(id=user.user_id)).realname == "Re Named"


async def test_configuration_update_needs_its_system_permission(database: str) -> None:
    reader = GivenCall(a_system_robot("configuration:read"), {"ldap_timeout": 11})
    with pytest.raises(Forbidden, match="configuration:update"):
        await configuration.update(reader)
    writer = GivenCall(a_system_robot("configuration:update"), {"ldap_timeout": 11})
    await configuration.update(writer)
    assert (await config.current())["ldap_timeout"] == 11
    results = [e.success for e in await events_of(audit.CONFIGURATION)]
    assert results == [False, True]
