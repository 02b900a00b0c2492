"""Robot accounts: a generated secret (shown once, stored as an argon2 hash) and a list of
Harbor permission entries, system-wide or for one project.

A robot authenticates with its full name (`robot$<name>` or `robot$<project>+<name>`) and
its secret. Every authentication reads the robot's row, so disabling, deleting, expiring
or refreshing a robot takes effect on the next request in every replica.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from access.errors import (
    AlreadyExists,
    AuthenticationFailed,
    Forbidden,
    InvalidInput,
    NotFound,
    PasswordPolicyViolation,
)
from access.passwords import check_password_policy, hash_password, verify_password_off_loop
from access.policy import Identity, project_access
from access.roles import ALL_PERMISSIONS, Permission
from models import Project, Robot

ROBOT_PREFIX = "robot$"
SYSTEM, PROJECT = "system", "project"
ANY_PROJECT = "*"
_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_MAX_CACHED = 10_000
_KNOWN = frozenset(p.value for p in Permission)


class RobotInvalid(InvalidInput):
    """A request the robot API cannot accept: 400."""


class RobotNotFound(NotFound):
    """No robot with that id: 404."""

    def __init__(self, robot_id: int) -> None:
        super().__init__(f"robot {robot_id} not found")


class RobotExists(AlreadyExists):
    """A robot of that full name exists already: 409."""

    def __init__(self, name: str) -> None:
        super().__init__(f"robot {name} already exists")


@dataclass(frozen=True, slots=True)
class RobotSpec:
    """A validated RobotCreate (or the editable part of a Robot for PUT)."""

    name: str
    level: str
    description: str = ""
    duration: int = -1
    disable: bool = False
    secret: str | None = None
    # namespace (project name or "*") -> permissions granted there
    grants: dict[str, frozenset[Permission]] = field(default_factory=dict)

    @property
    def project(self) -> str | None:
        return next(iter(self.grants)) if self.level == PROJECT else None

    @property
    def full_name(self) -> str:
        if self.level == PROJECT:
            return f"{ROBOT_PREFIX}{self.project}+{self.name}"
        return f"{ROBOT_PREFIX}{self.name}"

    def permissions_json(self) -> list[dict[str, Any]]:
        """The grants in Harbor's RobotPermission shape, sorted for stable output."""
        return [
            {
                "kind": "project",
                "namespace": namespace,
                "access": [
                    {"resource": p.value.split(":")[0], "action": p.value.split(":")[1]}
                    for p in sorted(perms)
                ],
            }
            for namespace, perms in sorted(self.grants.items())
        ]


@dataclass(frozen=True, slots=True)
class RobotFilter:
    level: str | None = None
    project_id: int | None = None
    name_contains: str | None = None
    name: str | None = None  # exact full name
    order: tuple[str, ...] = ("id",)  # Robot fields, "-" first for descending


@dataclass(frozen=True, slots=True)
class CreatedRobot:
    robot: Robot
    secret: str


def parse_spec(body: dict[str, Any]) -> RobotSpec:
    """A RobotSpec from a RobotCreate body; RobotInvalid naming the first problem."""
    name = body.get("name")
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > 200:
        raise RobotInvalid("name must be lower-case letters and digits, separated by . _ or -")
    level = body.get("level", SYSTEM)
    if level not in (SYSTEM, PROJECT):
        raise RobotInvalid("level must be 'system' or 'project'")
    return RobotSpec(
        name=name,
        level=level,
        description=_text(body, "description"),
        duration=_duration(body.get("duration", -1)),
        disable=_flag(body, "disable"),
        secret=checked_secret(body.get("secret")),
        grants=_grants(body.get("permissions"), level),
    )


def parse_update(body: dict[str, Any], robot: Robot) -> RobotSpec:
    """The spec of a PUT body (a Robot); fields left out keep their stored values."""
    if body.get("name") not in (None, robot.name, short_name(robot)):
        raise RobotInvalid("the name of a robot cannot change")
    if body.get("level", robot.level) != robot.level:
        raise RobotInvalid("the level of a robot cannot change")
    return RobotSpec(
        name=short_name(robot),
        level=robot.level,
        description=_text({"description": robot.description, **body}, "description"),
        duration=_duration(body.get("duration", robot.duration)),
        disable=_flag({"disable": robot.disabled, **body}, "disable"),
        grants=_grants(body.get("permissions", robot.permissions), robot.level),
    )


def short_name(robot: Robot) -> str:
    """The name without `robot$` and, for a project robot, without `<project>+`."""
    rest = robot.name.removeprefix(ROBOT_PREFIX)
    return rest.split("+", 1)[1] if robot.level == PROJECT and "+" in rest else rest


def _duration(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value == 0 or value < -1:
        raise RobotInvalid("duration must be a number of days, or -1 for never")
    return value


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key) or ""
    if not isinstance(value, str) or len(value) > 1024:
        raise RobotInvalid(f"{key} must be a string of at most 1024 characters")
    return value


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise RobotInvalid(f"{key} must be true or false")
    return value


def checked_secret(value: Any) -> str | None:
    """A chosen secret that meets the password policy; None for none; RobotInvalid."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise RobotInvalid("secret must be a string")
    try:
        check_password_policy(value)
    except PasswordPolicyViolation as exc:
        raise RobotInvalid(exc.message) from None
    return value


def _grants(entries: Any, level: str) -> dict[str, frozenset[Permission]]:
    if not isinstance(entries, list) or not entries:
        raise RobotInvalid("permissions must list at least one permission")
    grants: dict[str, frozenset[Permission]] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("kind") != "project":
            raise RobotInvalid("each permission needs kind 'project'")
        namespace = entry.get("namespace")
        if not isinstance(namespace, str) or not namespace:
            raise RobotInvalid("each permission needs a namespace: a project name or '*'")
        if namespace in grants:
            raise RobotInvalid(f"namespace {namespace!r} is listed twice")
        grants[namespace] = _access(entry.get("access"), namespace)
    if level == PROJECT and (len(grants) != 1 or ANY_PROJECT in grants):
        raise RobotInvalid("a project-level robot has permissions in exactly one project")
    return grants


def _access(items: Any, namespace: str) -> frozenset[Permission]:
    if not isinstance(items, list) or not items:
        raise RobotInvalid(f"permission for {namespace!r} needs at least one access entry")
    granted = set()
    for item in items:
        if not isinstance(item, dict) or item.get("effect", "allow") != "allow":
            raise RobotInvalid("each access entry is {resource, action}; effect may only be allow")
        resource, action = item.get("resource"), item.get("action")
        try:
            granted.add(Permission(f"{resource}:{action}"))
        except ValueError:
            raise RobotInvalid(
                f"unknown access: resource {resource!r}, action {action!r}"
            ) from None
    return frozenset(granted)


def grants_of(robot: Robot) -> dict[str, frozenset[Permission]]:
    """What a stored robot may do: namespace -> permissions (entries were checked on save)."""
    grants: dict[str, frozenset[Permission]] = {}
    for entry in robot.permissions:
        access = entry.get("access")
        items = access if isinstance(access, list) else []
        perms = {f"{i.get('resource')}:{i.get('action')}" for i in items if isinstance(i, dict)}
        grants[str(entry.get("namespace"))] = frozenset(Permission(p) for p in perms if p in _KNOWN)
    return grants


def identity_of_robot(robot: Robot, address: str | None) -> Identity:
    return Identity(
        username=robot.name,
        robot_id=robot.id,
        robot_permissions=grants_of(robot),
        address=address,
    )


def expired(robot: Robot, now: datetime | None = None) -> bool:
    if robot.expires_at is None:
        return False
    expires = robot.expires_at
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return expires <= (now or datetime.now(UTC))


def usable(robot: Robot | None) -> bool:
    return robot is not None and not robot.disabled and not expired(robot)


async def robot_identity_by_name(name: str, address: str | None) -> Identity | None:
    """The identity of a usable robot (a token's subject); None when gone, off or expired."""
    robot = await Robot.get_or_none(name=name)
    return identity_of_robot(robot, address) if robot is not None and usable(robot) else None


def _expiry(created: datetime, duration: int) -> datetime | None:
    return None if duration == -1 else created + timedelta(days=duration)


def new_secret() -> str:
    """32 random characters; the letters and digit make it pass the password policy too."""
    return secrets.token_urlsafe(24) + "aA1"


class RobotService:
    """Creates, changes and authenticates robots. Built once per process."""

    def __init__(self) -> None:
        # sha256(name, secret) -> the secret hash it verified against: a repeat login with
        # the same secret skips argon2 while the stored hash is unchanged.
        self._verified: dict[str, str] = {}

    async def authenticate(self, name: str, secret: str, address: str | None) -> Identity:
        """The identity of a robot's valid secret; AuthenticationFailed otherwise."""
        robot = await Robot.get_or_none(name=name)
        if robot is None or not usable(robot):
            raise AuthenticationFailed()
        key = hashlib.sha256(f"{name}\0{secret}".encode()).hexdigest()
        if self._verified.get(key) != robot.secret_hash:
            if not await verify_password_off_loop(robot.secret_hash, secret):
                raise AuthenticationFailed()
            if len(self._verified) >= _MAX_CACHED:
                self._verified.clear()
            self._verified[key] = robot.secret_hash
        return identity_of_robot(robot, address)

    async def create(self, caller: Identity, spec: RobotSpec) -> CreatedRobot:
        """A new robot and its secret; Forbidden beyond the caller's rights, RobotExists."""
        project_id = await self._check_grants(caller, spec)
        secret = spec.secret or new_secret()
        now = datetime.now(UTC)
        robot = Robot(
            name=spec.full_name,
            description=spec.description,
            secret_hash=hash_password(secret),
            level=spec.level,
            project_id=project_id,
            disabled=spec.disable,
            duration=spec.duration,
            expires_at=_expiry(now, spec.duration),
            permissions=spec.permissions_json(),
        )
        await Robot.bulk_create([robot], ignore_conflicts=True)
        stored = await Robot.get(name=spec.full_name)
        if stored.secret_hash != robot.secret_hash:
            raise RobotExists(spec.full_name)
        return CreatedRobot(stored, secret)

    async def get(self, caller: Identity, robot_id: int, need: Permission) -> Robot:
        """The robot, when caller holds `need` over it; RobotNotFound or Forbidden."""
        robot = await Robot.get_or_none(id=robot_id)
        if robot is None:
            raise RobotNotFound(robot_id)
        await self._check_manage(caller, robot, need)
        return robot

    async def list(
        self, caller: Identity, where: RobotFilter, offset: int, limit: int
    ) -> tuple[list[Robot], int]:
        """A page of robots and the total; Forbidden for a non-admin outside their project."""
        if caller.robot_id is not None:
            raise Forbidden("robots cannot manage robots")
        if not caller.sysadmin:
            if where.level != PROJECT or where.project_id is None:
                raise Forbidden("only a system admin may list robots across projects")
            await self._require(caller, where.project_id, Permission.ROBOT_LIST)
        query = Robot.all()
        if where.level is not None:
            query = query.filter(level=where.level)
        if where.project_id is not None:
            query = query.filter(project_id=where.project_id)
        if where.name_contains:
            query = query.filter(name__icontains=where.name_contains)
        if where.name is not None:
            query = query.filter(name=where.name)
        total = await query.count()
        return await query.order_by(*where.order, "id").offset(offset).limit(limit), total

    async def update(self, caller: Identity, robot_id: int, body: dict[str, Any]) -> Robot:
        """Change description, disable, duration and permissions; name and level stay."""
        robot = await self.get(caller, robot_id, Permission.ROBOT_CREATE)
        spec = parse_update(body, robot)
        if spec.full_name != robot.name:
            raise RobotInvalid("a project-level robot cannot move to another project")
        await self._check_grants(caller, spec)
        robot.description = spec.description
        robot.disabled = spec.disable
        if spec.duration != robot.duration:
            robot.duration = spec.duration
            robot.expires_at = _expiry(robot.created_at, spec.duration)
        robot.permissions = spec.permissions_json()
        await robot.save()
        return robot

    async def refresh_secret(self, caller: Identity, robot_id: int, secret: Any) -> str:
        """Replace the secret (the given one, or a new random one); the old stops at once."""
        robot = await self.get(caller, robot_id, Permission.ROBOT_CREATE)
        fresh = checked_secret(secret) or new_secret()
        robot.secret_hash = hash_password(fresh)
        await robot.save(update_fields=["secret_hash", "updated_at"])
        return fresh

    async def delete(self, caller: Identity, robot_id: int) -> None:
        robot = await self.get(caller, robot_id, Permission.ROBOT_DELETE)
        await robot.delete()

    async def delete_project_robots(self, project_id: int) -> int:
        """Remove a deleted project's robots (else a new project of that name would inherit
        them); how many. Safe to repeat."""
        return await Robot.filter(level=PROJECT, project_id=project_id).delete()

    async def _check_grants(self, caller: Identity, spec: RobotSpec) -> int | None:
        """The robot's project id; Forbidden when the caller cannot grant what it asks."""
        if caller.robot_id is not None:
            raise Forbidden("robots cannot manage robots")
        if spec.level == SYSTEM and not caller.sysadmin:
            raise Forbidden("only a system admin may create system-level robots")
        project_id = None
        for namespace, wanted in spec.grants.items():
            if namespace == ANY_PROJECT:
                continue
            project = await Project.get_or_none(name=namespace)
            if project is None:
                raise RobotInvalid(f"project {namespace!r} does not exist")
            project_id = project.id
            held = await self._require(caller, project.id, Permission.ROBOT_CREATE)
            if not wanted <= held:
                extra = ", ".join(sorted(wanted - held))
                raise Forbidden(f"cannot grant what you do not hold in {namespace}: {extra}")
        return project_id if spec.level == PROJECT else None

    async def _check_manage(self, caller: Identity, robot: Robot, need: Permission) -> None:
        if caller.robot_id is not None:
            raise Forbidden("robots cannot manage robots")
        if caller.sysadmin:
            return
        if robot.level != PROJECT or robot.project_id is None:
            raise Forbidden("only a system admin may manage system-level robots")
        await self._require(caller, robot.project_id, need)

    async def _require(
        self, caller: Identity, project_id: int, need: Permission
    ) -> frozenset[Permission]:
        """What caller holds in the project, when it includes need; Forbidden otherwise."""
        if caller.sysadmin:
            return ALL_PERMISSIONS
        project = await Project.get_or_none(id=project_id)
        access = None if project is None else await project_access(caller, project.name)
        if access is None or need not in access.permissions:
            raise Forbidden(f"the role does not allow {need.value} here")
        return access.permissions
