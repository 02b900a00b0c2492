"""Local users: create, change a profile, a password or the admin flag, delete."""

from __future__ import annotations

from typing import Any

from access.accounts import AccountService, NewUser
from access.errors import InvalidInput
from core import audit, events
from models import User
from services.attempts import Call, attempt, requested
from services.rights import ADMIN_ONLY, require_self_or_system, require_system


async def create(call: Call, accounts: AccountService) -> int:
    """A new, non-admin local user (UserCreationReq); its id."""
    event = audit.Event(audit.CREATE, audit.USER, await requested(call, "username"))
    async with attempt(call, event) as op:
        await accounts.check_may_create(op.caller)
        body = await op.body()
        new = NewUser(
            username=text(body, "username", required=True),
            email=text(body, "email", required=True),
            password=text(body, "password", required=True),
            realname=text(body, "realname"),
            comment=text(body, "comment"),
        )  # sysadmin_flag is not part of UserCreationReq: a new user is never an admin
        user = await accounts.create(new)
        await events.emit(op.tx, event)
    return int(user.id)


async def update_profile(call: Call, accounts: AccountService, user_id: int) -> None:
    """Change email, realname and comment (the user themself, or who holds user:update)."""
    event = audit.Event(audit.UPDATE, audit.USER, (await _target(user_id))[0])
    async with attempt(call, event) as op:
        require_self_or_system(op.caller, user_id, "user:update")
        body = await op.body()
        fields = ("email", "realname", "comment")
        profile: dict[str, Any] = {k: text(body, k) for k in fields if k in body}
        before = await accounts.get(user_id)
        await accounts.update_profile(user_id, profile)
        # which fields changed, not to what: the log is read more widely than the profile
        old: dict[str, Any] = {k: getattr(before, k) for k in profile}
        event.description = audit.changes(old, profile, hidden=profile.keys())
        await events.emit(op.tx, event)


async def change_password(call: Call, accounts: AccountService, user_id: int) -> None:
    """The user themself with the old password; without it, who holds user:update — for a
    system admin's password a system admin only: whoever sets it can sign in as them."""
    name, is_admin = await _target(user_id)
    event = audit.Event(audit.UPDATE, audit.USER, name, description="password change")
    async with attempt(call, event) as op:
        by_self = op.caller.user_id is not None and op.caller.user_id == user_id
        if not by_self:
            require_system(op.caller, ADMIN_ONLY if is_admin else "user:update")
        body = await op.body()
        old = body.get("old_password")
        new = text(body, "new_password", required=True)
        if old is not None and not isinstance(old, str):
            raise InvalidInput("old_password must be a string")
        await accounts.change_password(user_id, new, (old or "") if by_self else None)
        await events.emit(op.tx, event)


async def reset_password(accounts: AccountService, username: str, password: str) -> None:
    """Set a local user's password and lift their login throttle, with its audit event in
    the same transaction (`berth admin reset-password`, on the server's database). No
    rights check: whoever runs it holds the database already. The event's actor is the one
    the entry point named (`audit.begin_request` and `audit.identify`)."""
    event = audit.Event(
        audit.UPDATE, audit.USER, username, description="password reset from the command line"
    )
    async with events.recorded(event) as tx:
        await accounts.reset_password(username, password)
        await events.emit(tx, event)


async def set_sysadmin(call: Call, accounts: AccountService, user_id: int) -> None:
    """Grant or revoke system admin: system admins only, never a robot's system permission
    (one that may change users would otherwise make itself an admin through a user)."""
    name, was_admin = await _target(user_id)
    event = audit.Event(audit.UPDATE, audit.USER, name)
    async with attempt(call, event) as op:
        require_system(op.caller, ADMIN_ONLY)
        flag = (await op.body()).get("sysadmin_flag")
        if not isinstance(flag, bool):
            raise InvalidInput("sysadmin_flag must be true or false")
        event.description = audit.changes({"sysadmin_flag": was_admin}, {"sysadmin_flag": flag})
        await accounts.set_sysadmin(user_id, flag)
        await events.emit(op.tx, event)


async def delete(call: Call, accounts: AccountService, user_id: int) -> None:
    """Delete a user with their memberships (who holds user:delete; never `admin`)."""
    event = audit.Event(audit.DELETE, audit.USER, (await _target(user_id))[0])
    async with attempt(call, event) as op:
        require_system(op.caller, "user:delete")
        await accounts.delete(user_id)
        await events.emit(op.tx, event)


def text(body: dict[str, Any], name: str, required: bool = False) -> str:
    """A string field of a request body; InvalidInput when it is not one (or empty)."""
    value = body.get(name, "")
    if not isinstance(value, str) or (required and not value):
        raise InvalidInput(f"{name} must be a{' non-empty' if required else ''} string")
    return value


async def _target(user_id: int) -> tuple[str, bool | None]:
    """The name of the user a path names and whether they are a system admin, for the
    event; read before the rights check, so that a refused attempt names its target."""
    rows = await User.filter(id=user_id).values_list("username", "sysadmin")
    if not rows:
        return f"user id {user_id}", None
    return str(rows[0][0]), bool(rows[0][1])
