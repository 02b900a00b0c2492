"""Robot accounts: a generated secret (shown once, stored as an argon2 hash) and a list of
Harbor permission entries, system-wide or for one project.

A robot authenticates with its full name (`robot$<name>` or `robot$<project>+<name>`) and
its secret. Every authentication reads the robot's row, so disabling, deleting, expiring
or refreshing a robot takes effect on the next request in every replica.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from access.errors import AlreadyExists, AuthenticationFailed, Forbidden, NotFound
from access.passwords import hash_password, verify_password_off_loop
from access.policy import (
    Identity,
    held_in_every_project,
    holds_system,
    project_access,
    project_ids_with,
)
from access.robot_spec import (
    ANY_PROJECT,
    PROJECT,
    SYSTEM,
    RobotInvalid,
    RobotSpec,
    checked_secret,
    expanded,
    grants_of,
    parse_update,
    system_of,
)
from access.roles import SYSTEM_ACCESS, Permission
from models import Project, Robot

_MAX_CACHED = 10_000
CREATE_ROBOTS = "robot:create"  # the system permission to create robots of either level
# The project permission a robot change needs -> the system permission that allows it on any
# robot (GET reads with robot:list, PUT and PATCH change with robot:create in a project).
_SYSTEM_TWIN = {
    Permission.ROBOT_LIST: "robot:read",
    Permission.ROBOT_CREATE: "robot:update",
    Permission.ROBOT_DELETE: "robot:delete",
}


class RobotNotFound(NotFound):
    """No robot with that id: 404."""

    def __init__(self, robot_id: int) -> None:
        super().__init__(f"robot {robot_id} not found")


class RobotExists(AlreadyExists):
    """A robot of that full name exists already: 409."""

    def __init__(self, name: str) -> None:
        super().__init__(f"robot {name} already exists")


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


def identity_of_robot(robot: Robot, address: str | None) -> Identity:
    return Identity(
        username=robot.name,
        robot_id=robot.id,
        robot_permissions=grants_of(robot),
        system_permissions=system_of(robot),
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


async def robot_target(robot_id: int) -> tuple[str, str, int | None]:
    """The name of the robot with that id, with its project's name and id ("" and None for a
    system robot), for the event of a change to it; read before the rights check, so that
    a refused attempt names its target."""
    robot = await Robot.get_or_none(id=robot_id)
    if robot is None:
        return f"robot id {robot_id}", "", None
    if robot.project_id is None:
        return robot.name, "", None
    names = await Project.filter(id=robot.project_id).values_list("name", flat=True)
    return robot.name, str(names[0]) if names else "", robot.project_id


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

    async def check_may_create(self, caller: Identity) -> None:
        """Forbidden, before the body is read, for a caller who may create no robot at all: a
        refusal must not depend on whether the request was well made. A robot needs the
        system permission robot:create; a user, the Project Admin role somewhere."""
        if caller.anonymous:
            raise AuthenticationFailed("sign in first")
        if holds_system(caller, CREATE_ROBOTS):
            return
        if caller.robot_id is not None:
            raise _robot_refused(caller, CREATE_ROBOTS)
        if not await project_ids_with(caller, Permission.ROBOT_CREATE):
            raise Forbidden("creating a robot needs the Project Admin role in its project")

    def check_may_create_level(self, caller: Identity, level: Any) -> None:
        """Forbidden, before the rest of the body is checked, for a system-level robot asked
        by a caller without the system permission robot:create (a missing level means
        system, as in Harbor)."""
        if level != PROJECT and not holds_system(caller, CREATE_ROBOTS):
            raise Forbidden("only a system admin may create system-level robots")

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
        """A page of robots and the total; Forbidden outside the caller's project unless it
        holds the system permission robot:list."""
        if not holds_system(caller, "robot:list"):
            if caller.robot_id is not None:
                raise _robot_refused(caller, "robot:list")
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
        await self._check_grants(caller, spec, "robot:update")
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
        # its new secret is the robot's rights: only for a caller who holds them all
        await self._check_covers(caller, grants_of(robot), system_of(robot))
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

    async def _check_grants(
        self, caller: Identity, spec: RobotSpec, right: str = CREATE_ROBOTS
    ) -> int | None:
        """The robot's project id; Forbidden when the caller cannot grant what it asks.
        Without the system permission `right` (robot:create, robot:update), a caller needs
        the Project Admin role in each project named; nobody grants what they do not hold."""
        if spec.level == SYSTEM and not holds_system(caller, right):
            raise Forbidden("only a system admin may give a system-level robot its rights")
        project_id = None
        for namespace in spec.grants:
            if namespace == ANY_PROJECT:
                continue
            project = await Project.get_or_none(name=namespace)
            if project is None:
                raise RobotInvalid(f"project {namespace!r} does not exist")
            project_id = project.id
            if not holds_system(caller, right):
                await self._require(caller, project.id, Permission.ROBOT_CREATE)
        await self._check_covers(caller, spec.grants, expanded(spec.system, SYSTEM_ACCESS))
        return project_id if spec.level == PROJECT else None

    async def _check_covers(
        self, caller: Identity, grants: dict[str, frozenset[Permission]], system: frozenset[str]
    ) -> None:
        """Forbidden unless caller holds every permission given: no robot, however made,
        holds more than whoever made it (or refreshed its secret)."""
        missing = sorted(p for p in system if not holds_system(caller, p))
        for namespace, wanted in grants.items():
            held = held_in_every_project(caller)
            if namespace != ANY_PROJECT:
                access = await project_access(caller, namespace)
                held = access.permissions if access is not None else held
            missing += sorted(f"{p.value} in {namespace}" for p in wanted - held)
        if missing:
            raise Forbidden(f"cannot grant what you do not hold: {', '.join(missing)}")

    async def _check_manage(self, caller: Identity, robot: Robot, need: Permission) -> None:
        """Whoever holds the system permission of need (robot:read, robot:update,
        robot:delete) manages any robot; a user, the robots of projects they administer."""
        if caller.anonymous:
            raise AuthenticationFailed("sign in first")
        system = _SYSTEM_TWIN[need]
        if holds_system(caller, system):
            return
        if caller.robot_id is not None:
            raise _robot_refused(caller, system)
        if robot.level != PROJECT or robot.project_id is None:
            raise Forbidden("only a system admin may manage system-level robots")
        await self._require(caller, robot.project_id, need)

    async def _require(
        self, caller: Identity, project_id: int, need: Permission
    ) -> frozenset[Permission]:
        """What caller holds in the project, when it includes need; Forbidden otherwise."""
        project = await Project.get_or_none(id=project_id)
        access = None if project is None else await project_access(caller, project.name)
        if access is None or need not in access.permissions:
            raise Forbidden(f"the role does not allow {need.value} here")
        return access.permissions


def _robot_refused(caller: Identity, permission: str) -> Forbidden:
    return Forbidden(
        f"robot {caller.username} may not do this: it needs the system permission {permission}"
    )
