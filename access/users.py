"""Users: authentication (local or directory), login throttling, the first admin."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from access.errors import AuthenticationFailed, LoginThrottled
from access.passwords import hash_password, verify_password_off_loop
from access.policy import Identity
from access.robot_spec import ROBOT_PREFIX
from access.robots import RobotService, robot_identity_by_name, usable
from models import LoginThrottle, Robot, User, fetch

ADMIN = "admin"

# A directory login: (username, password) -> the local User row, or None for bad credentials.
DirectoryLogin = Callable[[str, str], Awaitable[User | None]]


class LoginPolicy:
    """At most max_failures failed logins per user name, and per address, in window."""

    def __init__(
        self,
        max_failures: int = 5,
        max_per_address: int = 100,
        window: timedelta = timedelta(minutes=5),
    ) -> None:
        self.max_failures = max_failures
        self.max_per_address = max_per_address
        self.window = window


class UserService:
    """Authenticates callers and keeps the first admin. Built once, shared by replicas' DB."""

    def __init__(self, policy: LoginPolicy | None = None) -> None:
        self.policy = policy or LoginPolicy()
        self.directory: DirectoryLogin | None = None  # set when auth_mode is ldap_auth
        # Basic auth on every registry request must not cost an argon2 verification each:
        # remember recent successes for a short while, keyed by a hash of the credentials.
        self._recent: dict[str, tuple[float, Identity, tuple[object, ...]]] = {}
        self._verifying: dict[str, asyncio.Future[Identity]] = {}
        self.robots = RobotService()

    async def bootstrap_admin(self, password: str | None) -> str | None:
        """Create `admin` at first start; the generated password when none was given."""
        if await User.exists(username=ADMIN):
            return None
        generated = None if password else secrets.token_urlsafe(12) + "A1"
        await User.bulk_create(
            [
                User(
                    username=ADMIN,
                    password_hash=hash_password(password or generated or ""),
                    sysadmin=True,
                    realname="system admin",
                )
            ],
            ignore_conflicts=True,
        )
        return generated

    async def authenticate(self, username: str, password: str, address: str | None) -> Identity:
        """The identity of valid credentials; AuthenticationFailed or LoginThrottled."""
        if username.startswith(ROBOT_PREFIX):  # random 32-char secrets: no throttle needed
            return await self.robots.authenticate(username, password, address)
        # The throttle comes first: a locked-out name stays out for the whole lockout, even
        # with the right password that this process verified moments ago.
        await self._check_throttle(username, address)
        cache_key = hashlib.sha256(f"{username}\0{password}".encode()).hexdigest()
        hit = self._recent.get(cache_key)
        if hit and hit[0] > time.monotonic() and hit[2] == await _fingerprint(username):
            return hit[1]  # same password hash, admin flag and groups as when verified
        # Clients open several connections at once with the same credentials: verify once.
        pending = self._verifying.get(cache_key)
        if pending is not None:
            return await asyncio.shield(pending)
        task = asyncio.ensure_future(self._verify(cache_key, username, password, address))
        self._verifying[cache_key] = task
        try:
            return await asyncio.shield(task)
        finally:
            self._verifying.pop(cache_key, None)

    async def _verify(
        self, cache_key: str, username: str, password: str, address: str | None
    ) -> Identity:
        user = await self._login(username, password)
        if user is None:
            await self._record_failure(username, address)
            raise AuthenticationFailed()
        await LoginThrottle.filter(key=f"user:{username}").delete()
        identity = await identity_of(user, address)
        self._recent[cache_key] = (time.monotonic() + 30, identity, await _fingerprint(username))
        return identity

    async def refresh_binding(self, username: str) -> str | None:
        """What a refresh token of username is bound to now: a digest of the account's id
        and secret hash, so a new password or secret, or a deleted (even re-created)
        account, ends every refresh token. None for accounts whose secret Berth does not
        hold (directory users): they get no refresh token, as the directory may disable
        them at any time without Berth knowing."""
        if username.startswith(ROBOT_PREFIX):
            robot = await Robot.get_or_none(name=username)
            if robot is None or not usable(robot):
                return None
            return _binding("robot", robot.id, robot.secret_hash)
        rows = await fetch("SELECT id, password_hash FROM berth_user WHERE username = ?", username)
        if not rows or not rows[0][1]:
            return None
        return _binding("user", rows[0][0], rows[0][1])

    async def redeem_refresh(self, username: str, binding: str, address: str | None) -> Identity:
        """The identity behind a refresh token's subject and binding, when the account still
        holds the same secret; AuthenticationFailed otherwise."""
        current = await self.refresh_binding(username)
        if current is None or not hmac.compare_digest(current, binding):
            raise AuthenticationFailed("the refresh token is no longer valid; sign in again")
        identity = await identity_by_name(username, address)
        if identity is None:
            raise AuthenticationFailed("the refresh token is no longer valid; sign in again")
        return identity

    def forget(self, username: str) -> None:
        """Drop remembered logins (after a password change, a deletion, a role change)."""
        self._recent = {k: v for k, v in self._recent.items() if v[1].username != username}

    async def _login(self, username: str, password: str) -> User | None:
        user = await User.get_or_none(username=username)
        if user is not None and user.password_hash:  # local account (admin is always local)
            return user if await verify_password_off_loop(user.password_hash, password) else None
        if self.directory is not None and username != ADMIN:
            return await self.directory(username, password)
        return None

    async def _check_throttle(self, username: str, address: str | None) -> None:
        """LoginThrottled while the name or the address has used up its failures. On every
        login, remembered or not: one indexed read, usually of no row at all."""
        limits = dict(self._throttle_keys(username, address))
        marks = ",".join("?" * len(limits))
        rows = await fetch(
            f"SELECT key, failures, window_start FROM login_throttle WHERE key IN ({marks})",
            *limits,
        )
        now = datetime.now(UTC)
        for key, failures, started in rows:
            ends = _as_datetime(started) + self.policy.window
            if int(failures) >= limits[str(key)] and ends > now:  # type: ignore[call-overload]
                raise LoginThrottled(int((ends - now).total_seconds()) + 1)

    async def _record_failure(self, username: str, address: str | None) -> None:
        now = datetime.now(UTC)
        for key, _limit in self._throttle_keys(username, address):
            await LoginThrottle.bulk_create(
                [LoginThrottle(key=key, failures=0, window_start=now)], ignore_conflicts=True
            )
            row = await LoginThrottle.get(key=key)
            if row.window_start + self.policy.window <= now:
                await LoginThrottle.filter(key=key).update(failures=1, window_start=now)
            else:
                await LoginThrottle.filter(key=key).update(failures=row.failures + 1)

    def _throttle_keys(self, username: str, address: str | None) -> list[tuple[str, int]]:
        keys = [(f"user:{username}", self.policy.max_failures)]
        if address:
            keys.append((f"addr:{address}", self.policy.max_per_address))
        return keys


def _binding(kind: str, account_id: object, secret_hash: object) -> str:
    return hashlib.sha256(f"{kind}\0{account_id}\0{secret_hash}".encode()).hexdigest()


def _as_datetime(value: object) -> datetime:
    """A timestamp as the database returns it: a datetime (PostgreSQL) or ISO text (SQLite)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def _fingerprint(username: str) -> tuple[object, ...]:
    """What a remembered login depends on, read in one indexed query on every use: a changed
    password, admin flag or group list, or a deleted user, is seen by every replica at once."""
    rows = await fetch(
        "SELECT u.password_hash, u.sysadmin, u.updated_at, (SELECT COUNT(*) FROM"
        " group_membership g WHERE g.user_id = u.id) FROM berth_user u WHERE u.username = ?",
        username,
    )
    return tuple(rows[0]) if rows else ()


async def identity_of(user: User, address: str | None) -> Identity:
    groups = await fetch("SELECT group_id FROM group_membership WHERE user_id = ?", user.id)
    return Identity(
        username=user.username,
        user_id=user.id,
        sysadmin=user.sysadmin,
        group_ids=tuple(int(g[0]) for g in groups),  # type: ignore[call-overload]
        address=address,
    )


async def identity_by_name(username: str, address: str | None) -> Identity | None:
    """The identity behind a token's subject, read now (so revocations apply at once)."""
    if username.startswith(ROBOT_PREFIX):
        return await robot_identity_by_name(username, address)
    rows = await fetch("SELECT id, sysadmin FROM berth_user WHERE username = ?", username)
    if not rows:
        return None
    user_id, sysadmin = int(rows[0][0]), bool(rows[0][1])  # type: ignore[call-overload]
    groups = await fetch("SELECT group_id FROM group_membership WHERE user_id = ?", user_id)
    return Identity(
        username=username,
        user_id=user_id,
        sysadmin=sysadmin,
        group_ids=tuple(int(g[0]) for g in groups),  # type: ignore[call-overload]
        address=address,
    )
