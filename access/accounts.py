"""User management: create, list, search, read, update and delete local accounts, change a
password, grant or revoke system admin, and what a caller may do in a scope.

Who may do each is checked by services.users with the one system-rights check
(`access.policy.holds_system`); only creation keeps its own rule here, because
self-registration lets anybody sign up. Queries arrive as whitelisted columns
(web/api/query.py parses Harbor's `q=` / `sort=`), so nothing a caller sends becomes SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from access.errors import AlreadyExists, AuthenticationFailed, Forbidden, InvalidInput, NotFound
from access.passwords import check_password_policy, hash_password, verify_password
from access.policy import Identity, held_system, holds_system, project_access
from access.users import ADMIN, UserService
from models import ConfigEntry, GroupMembership, LoginThrottle, ProjectMember, User, fetch


class InvalidAccountInput(InvalidInput):
    """A malformed `q`, an unknown sort key, a bad field value: 400."""


class UserNotFound(NotFound):
    """No user with that id: 404."""

    def __init__(self, user_id: int) -> None:
        super().__init__(f"user {user_id} not found")


class UserExists(AlreadyExists):
    """The username or email is taken: 409."""


# q= keys and sort= keys -> model columns (web/api/query.py parses both); nothing else.
QUERY_KEYS = {"username": "username", "email": "email", "realname": "realname"}
SORT_KEYS = {
    "user_id": "id",
    "username": "username",
    "email": "email",
    "realname": "realname",
    "creation_time": "created_at",
    "update_time": "updated_at",
}
MAX_FIELD = 255
CREATE_USERS = "user:create"  # the system permission that creates users
_USERNAME_FORBIDDEN = re.compile(r'[,"~#%$:\s/\\]')
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class UserQuery:
    """Filters (column -> (exact?, value)) and an ORDER BY list of model column names."""

    filters: dict[str, tuple[bool, str]] = field(default_factory=dict)
    order: tuple[str, ...] = ("id",)


@dataclass(frozen=True, slots=True)
class NewUser:
    username: str
    email: str
    password: str
    realname: str = ""
    comment: str = ""


class AccountService:
    """Local accounts. Built once at start; `users` forgets cached logins after changes."""

    def __init__(self, users: UserService, self_registration: bool = False) -> None:
        self.users = users
        self.self_registration = self_registration

    async def check_may_create(self, identity: Identity) -> None:
        """Who holds user:create (a system admin, a system robot given it) creates users;
        anybody may when self-registration is on (local auth only)."""
        mode = await ConfigEntry.get_or_none(key="auth_mode")
        if mode is not None and mode.value not in ("db_auth", None):
            raise Forbidden(f"users are managed by the directory (auth_mode {mode.value})")
        if holds_system(identity, CREATE_USERS):
            return
        entry = await ConfigEntry.get_or_none(key="self_registration")
        allowed = bool(entry.value) if entry is not None else self.self_registration
        if not allowed:
            if identity.anonymous:
                raise AuthenticationFailed("sign in first")
            raise Forbidden(
                f"this needs a system admin or the system permission {CREATE_USERS}"
                " (self-registration is off)"
            )

    async def create(self, new: NewUser) -> User:
        """A new, non-admin local user; InvalidAccountInput, PasswordPolicyViolation, UserExists."""
        _check_username(new.username)
        _check_profile(new.email, new.realname, new.comment)
        check_password_policy(new.password)
        await self._check_unique(new.username, new.email)
        try:
            return await User.create(
                username=new.username,
                email=new.email,
                realname=new.realname,
                comment=new.comment,
                password_hash=hash_password(new.password),
                sysadmin=False,
            )
        except IntegrityError:  # a concurrent create took the name or email
            raise UserExists("the username or email is already taken") from None

    async def list_users(self, query: UserQuery, offset: int, limit: int) -> tuple[list[User], int]:
        """One page of users matching query, and the total count."""
        rows = User.all()
        for column, (exact, value) in query.filters.items():
            lookup = column if exact else f"{column}__icontains"
            rows = rows.filter(**{lookup: value})
        total = await rows.count()
        return await rows.order_by(*query.order).offset(offset).limit(limit), total

    async def search(self, username: str, offset: int, limit: int) -> tuple[list[User], int]:
        """Users whose name contains username, by name."""
        rows = User.filter(username__icontains=username)
        total = await rows.count()
        return await rows.order_by("username").offset(offset).limit(limit), total

    async def get(self, user_id: int) -> User:
        user = await User.get_or_none(id=user_id)
        if user is None:
            raise UserNotFound(user_id)
        return user

    async def update_profile(self, user_id: int, profile: dict[str, Any]) -> User:
        """Change email, realname and comment only; every other field is ignored."""
        user = await self.get(user_id)
        email = str(profile["email"]) if "email" in profile else user.email
        realname = str(profile.get("realname", user.realname))
        comment = str(profile.get("comment", user.comment))
        _check_profile(email, realname, comment)
        if (
            email is not None
            and email != user.email
            and await User.filter(email=email).exclude(id=user_id).exists()
        ):
            raise UserExists(f"the email {email!r} is already taken")
        user.email, user.realname, user.comment = email, realname, comment
        try:
            await user.save(update_fields=["email", "realname", "comment", "updated_at"])
        except IntegrityError:
            raise UserExists(f"the email {email!r} is already taken") from None
        return user

    async def delete(self, user_id: int) -> None:
        """Delete a user and their project and group memberships; the admin stays."""
        user = await self.get(user_id)
        if user.username == ADMIN:
            raise Forbidden("the admin account cannot be deleted")
        async with in_transaction():
            await ProjectMember.filter(entity_type="u", entity_id=user_id).delete()
            await GroupMembership.filter(user_id=user_id).delete()
            await User.filter(id=user_id).delete()
        self.users.forget(user.username)

    async def change_password(self, user_id: int, new: str, old: str | None = None) -> None:
        """Set a local user's password; with old (the user themself), only if it is right.
        Who may is the caller's business (services.users)."""
        user = await self.get(user_id)
        if not user.password_hash:
            raise Forbidden("this user signs in through the directory; change it there")
        if old is not None and not verify_password(user.password_hash, old):
            raise Forbidden("the old password is incorrect")
        if verify_password(user.password_hash, new):
            raise InvalidAccountInput("the new password must differ from the old one")
        check_password_policy(new)
        await User.filter(id=user_id).update(password_hash=hash_password(new))
        self.users.forget(user.username)

    async def reset_password(self, username: str, password: str) -> None:
        """Set a local user's password without the old one and lift their login throttle
        (the recovery of a lost password); one UPDATE, so every server process sees it."""
        user = await User.get_or_none(username=username)
        if user is None or not user.password_hash:
            raise NotFound(f"there is no local user {username!r}")
        check_password_policy(password)
        now = datetime.now(UTC)
        await User.filter(id=user.id).update(password_hash=hash_password(password), updated_at=now)
        await LoginThrottle.filter(key=f"user:{username}").delete()
        self.users.forget(username)

    async def set_sysadmin(self, user_id: int, flag: bool) -> None:
        """Grant or revoke system admin; the admin account keeps it."""
        user = await self.get(user_id)
        if user.username == ADMIN and not flag:
            raise Forbidden("the admin account stays a system admin")
        await User.filter(id=user_id).update(sysadmin=flag)
        self.users.forget(user.username)

    async def _check_unique(self, username: str, email: str) -> None:
        if await User.exists(username=username):
            raise UserExists(f"the username {username!r} is already taken")
        if await User.exists(email=email):
            raise UserExists(f"the email {email!r} is already taken")


def _check_username(username: str) -> None:
    if not username or len(username) > MAX_FIELD:
        raise InvalidAccountInput(f"username must be 1 to {MAX_FIELD} characters")
    if _USERNAME_FORBIDDEN.search(username):
        raise InvalidAccountInput('username must not contain spaces or any of , " ~ # % $ : / \\')


def _check_profile(email: str | None, realname: str, comment: str) -> None:
    """email None: an account made without one (the first admin), left as it is."""
    if email is not None and (not _EMAIL.match(email) or len(email) > MAX_FIELD):
        raise InvalidAccountInput(f"email {email!r} is not a valid address")
    for name, value in (("realname", realname), ("comment", comment)):
        if len(value) > MAX_FIELD:
            raise InvalidAccountInput(f"{name} must be at most {MAX_FIELD} characters")


_SCOPE = re.compile(r"^/project/(\d+)$")


async def permissions_in(identity: Identity, scope: str | None) -> frozenset[str]:
    """What identity may do in scope ("/project/{id}"); without a scope (or "/", "/system"),
    the system-level permissions it holds ("user:create", "replication:create"...)."""
    if not scope or scope in ("/", "/system"):
        return held_system(identity)
    match = _SCOPE.match(scope)
    if match is None:
        raise InvalidAccountInput(f"malformed scope {scope!r}: expected /project/{{id}}")
    rows = await fetch("SELECT name FROM project WHERE id = ?", int(match.group(1)))
    if not rows:
        return frozenset()  # say nothing about which projects exist
    access = await project_access(identity, str(rows[0][0]))
    return access.permissions if access is not None else frozenset()
