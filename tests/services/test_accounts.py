"""User, member and configuration services: each change is one event saying what changed;
a refused one is a failed event and no change."""

from __future__ import annotations

import pytest

from access import config
from access.accounts import AccountService, UserExists
from access.config import ConfigInvalid
from access.users import UserService
from core import audit
from models import AuditEvent, ProjectMember, User
from services import configuration, members, projects, users
from services.rights import ProjectRef
from tests.services.support import GivenCall, a_user, events_of

PASSWORD = "Services-Test-Passw0rd"


async def test_a_taken_username_is_a_failed_create_and_no_second_user(database: str) -> None:
    # Given a user, and an admin
    accounts = AccountService(UserService())
    admin = GivenCall(await a_user("root", sysadmin=True))
    await a_user("taken")
    body = {"username": "taken", "email": "other@example.com", "password": PASSWORD}
    # When the admin creates another user of that name
    with pytest.raises(UserExists):
        await users.create(GivenCall(admin.identity, body), accounts)
    # Then there is still one, and the refusal is recorded under the name
    assert await User.filter(username="taken").count() == 1
    (event,) = await events_of(audit.USER)
    assert (event.operation, event.resource, event.success) == ("create", "taken", False)
    assert "already taken" in event.description


async def test_a_refused_auth_mode_switch_keeps_the_mode_and_says_what_was_asked(
    database: str,
) -> None:
    # Given a database with a user besides admin
    admin = GivenCall(await a_user("root", sysadmin=True), {"auth_mode": "ldap_auth"})
    # When the admin switches to LDAP
    with pytest.raises(ConfigInvalid):
        await configuration.update(admin)
    # Then the mode stays, and the failed event names the change it refused
    assert (await config.current())["auth_mode"] == config.DB_AUTH
    (event,) = await events_of(audit.CONFIGURATION)
    assert event.success is False
    assert event.description.startswith("auth_mode: db_auth -> ldap_auth: auth_mode cannot")


async def test_member_add_update_remove_are_one_event_each(database: str) -> None:
    # Given a project and a user
    admin = await a_user("root", sysadmin=True)
    await projects.create(GivenCall(admin, {"project_name": "team"}))
    await a_user("bob")
    ref = ProjectRef("team", True)
    # When the admin adds them as developer, makes them guest, and removes them
    body = {"role_id": 2, "member_user": {"username": "bob"}}
    member_id = await members.add(GivenCall(admin, body), ref)
    await members.update(GivenCall(admin, {"role_id": 3}), ref, member_id)
    await members.remove(GivenCall(admin), ref, member_id)
    # Then they are no member, and three events say what happened to whom
    assert await ProjectMember.filter(id=member_id).count() == 0
    found = await AuditEvent.filter(resource_type=audit.MEMBER).order_by("id")
    assert [(e.operation, e.resource, e.description, e.project) for e in found] == [
        ("create", "user bob", "role: developer", "team"),
        ("update", "user bob", "role: developer -> guest", "team"),
        ("delete", "user bob", "role: guest", "team"),
    ]
