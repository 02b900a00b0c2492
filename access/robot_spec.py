"""What a robot is asked to be: Harbor's RobotCreate (and Robot for PUT) read and checked, and
what a stored robot's permission entries grant.

A permission entry is `{kind, namespace, access: [{resource, action, effect}]}`. Kind
"project" names a project (or "*" for every project) and carries project-level access;
kind "system" (namespace "/", system-level robots only) carries Harbor's system-level
access. An action "*" stands for every action of its resource.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from access.errors import InvalidInput, PasswordPolicyViolation
from access.passwords import check_password_policy
from access.roles import PROJECT_ACCESS, SYSTEM_ACCESS, Permission
from models import Robot

ROBOT_PREFIX = "robot$"
SYSTEM, PROJECT = "system", "project"
ANY_PROJECT = "*"
SYSTEM_NAMESPACE = "/"
_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_KNOWN = frozenset(p.value for p in Permission)


class RobotInvalid(InvalidInput):
    """A request the robot API cannot accept: 400."""


@dataclass(frozen=True, slots=True)
class RobotSpec:
    """A validated RobotCreate (or the editable part of a Robot for PUT)."""

    name: str
    level: str
    description: str = ""
    duration: int = -1
    disable: bool = False
    secret: str | None = None
    # namespace (project name or "*") -> "resource:action" entries granted there, as asked
    projects: dict[str, frozenset[str]] = field(default_factory=dict)
    # system-level "resource:action" entries, as asked (system robots only)
    system: frozenset[str] = frozenset()

    @property
    def project(self) -> str | None:
        return next(iter(self.projects)) if self.level == PROJECT else None

    @property
    def grants(self) -> dict[str, frozenset[Permission]]:
        """What the robot may do in each namespace, in the permissions Berth enforces."""
        return {ns: enforced(entries) for ns, entries in self.projects.items()}

    @property
    def full_name(self) -> str:
        if self.level == PROJECT:
            return f"{ROBOT_PREFIX}{self.project}+{self.name}"
        return f"{ROBOT_PREFIX}{self.name}"

    def permissions_json(self) -> list[dict[str, Any]]:
        """The entries in Harbor's RobotPermission shape, sorted for stable output."""
        entries = [_entry(PROJECT, ns, access) for ns, access in sorted(self.projects.items())]
        if self.system:
            entries.insert(0, _entry(SYSTEM, SYSTEM_NAMESPACE, self.system))
        return entries


def _entry(kind: str, namespace: str, access: frozenset[str]) -> dict[str, Any]:
    pairs = (item.split(":", 1) for item in sorted(access))
    return {
        "kind": kind,
        "namespace": namespace,
        "access": [{"resource": resource, "action": action} for resource, action in pairs],
    }


def parse_spec(body: dict[str, Any]) -> RobotSpec:
    """A RobotSpec from a RobotCreate body; RobotInvalid naming the first problem."""
    name = body.get("name")
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > 200:
        raise RobotInvalid("name must be lower-case letters and digits, separated by . _ or -")
    level = body.get("level", SYSTEM)
    if level not in (SYSTEM, PROJECT):
        raise RobotInvalid("level must be 'system' or 'project'")
    projects, system = _entries(body.get("permissions"), level)
    return RobotSpec(
        name=name,
        level=level,
        description=_text(body, "description"),
        duration=_duration(body.get("duration", -1)),
        disable=_flag(body, "disable"),
        secret=checked_secret(body.get("secret")),
        projects=projects,
        system=system,
    )


def parse_update(body: dict[str, Any], robot: Robot) -> RobotSpec:
    """The spec of a PUT body (a Robot); fields left out keep their stored values."""
    if body.get("name") not in (None, robot.name, short_name(robot)):
        raise RobotInvalid("the name of a robot cannot change")
    if body.get("level", robot.level) != robot.level:
        raise RobotInvalid("the level of a robot cannot change")
    projects, system = _entries(body.get("permissions", robot.permissions), robot.level)
    return RobotSpec(
        name=short_name(robot),
        level=robot.level,
        description=_text({"description": robot.description, **body}, "description"),
        duration=_duration(body.get("duration", robot.duration)),
        disable=_flag({"disable": robot.disabled, **body}, "disable"),
        projects=projects,
        system=system,
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


def _entries(entries: Any, level: str) -> tuple[dict[str, frozenset[str]], frozenset[str]]:
    """(project namespace -> access, system access) of a permissions list."""
    if not isinstance(entries, list) or not entries:
        raise RobotInvalid("permissions must list at least one permission")
    projects: dict[str, frozenset[str]] = {}
    system: frozenset[str] | None = None
    for entry in entries:
        kind = entry.get("kind") if isinstance(entry, dict) else None
        if kind == SYSTEM:
            if level != SYSTEM:
                raise RobotInvalid("only a system-level robot has permissions of kind 'system'")
            if entry.get("namespace", SYSTEM_NAMESPACE) != SYSTEM_NAMESPACE or system is not None:
                raise RobotInvalid("system permissions are one entry with namespace '/'")
            system = _access(entry.get("access"), "the system", SYSTEM_ACCESS)
        elif kind == PROJECT:
            namespace = _namespace(entry, projects)
            projects[namespace] = _access(entry.get("access"), repr(namespace), PROJECT_ACCESS)
        else:
            raise RobotInvalid("each permission needs kind 'project' or 'system'")
    if level == PROJECT and (len(projects) != 1 or ANY_PROJECT in projects):
        raise RobotInvalid("a project-level robot has permissions in exactly one project")
    return projects, system or frozenset()


def _namespace(entry: dict[str, Any], seen: dict[str, frozenset[str]]) -> str:
    namespace = entry.get("namespace")
    if not isinstance(namespace, str) or not namespace:
        raise RobotInvalid("each permission needs a namespace: a project name or '*'")
    if namespace in seen:
        raise RobotInvalid(f"namespace {namespace!r} is listed twice")
    return namespace


def _access(items: Any, where: str, allowed: dict[str, frozenset[str]]) -> frozenset[str]:
    """The "resource:action" entries of an access list, each one allowed at that level."""
    if not isinstance(items, list) or not items:
        raise RobotInvalid(f"permission for {where} needs at least one access entry")
    granted = set()
    for item in items:
        if not isinstance(item, dict) or item.get("effect", "allow") != "allow":
            raise RobotInvalid("each access entry is {resource, action}; effect may only be allow")
        resource, action = item.get("resource"), item.get("action")
        actions = allowed.get(resource) if isinstance(resource, str) else None
        if actions is None or not (action == "*" or action in actions):
            raise RobotInvalid(
                f"unknown access for {where}: resource {resource!r}, action {action!r}"
            )
        granted.add(f"{resource}:{action}")
    return frozenset(granted)


def expanded(entries: frozenset[str], allowed: dict[str, frozenset[str]]) -> frozenset[str]:
    """The entries with each `resource:*` spelled out as every action of the resource."""
    out: set[str] = set()
    for item in entries:
        resource, _, action = item.partition(":")
        names = allowed.get(resource, frozenset()) if action == "*" else {action}
        out |= {f"{resource}:{name}" for name in names}
    return frozenset(out)


def enforced(entries: frozenset[str]) -> frozenset[Permission]:
    """The project-level entries Berth has an operation for, as Permissions."""
    return frozenset(Permission(p) for p in expanded(entries, PROJECT_ACCESS) if p in _KNOWN)


def stored_entries(robot: Robot) -> tuple[dict[str, frozenset[str]], frozenset[str]]:
    """(project namespace -> access, system access) as a robot's row holds them (they were
    checked on save; anything unreadable is skipped, never trusted)."""
    projects: dict[str, frozenset[str]] = {}
    system: set[str] = set()
    stored: object = robot.permissions
    for entry in stored if isinstance(stored, list) else []:
        if not isinstance(entry, dict):
            continue
        listed = entry.get("access")
        items = listed if isinstance(listed, list) else []
        access = frozenset(
            f"{i.get('resource')}:{i.get('action')}" for i in items if isinstance(i, dict)
        )
        if entry.get("kind") == SYSTEM:
            system |= expanded(access, SYSTEM_ACCESS)
        elif entry.get("kind") == PROJECT:
            projects[str(entry.get("namespace"))] = access
    return projects, frozenset(system)


def grants_of(robot: Robot) -> dict[str, frozenset[Permission]]:
    """What a stored robot may do: namespace -> permissions."""
    return {ns: enforced(access) for ns, access in stored_entries(robot)[0].items()}


def system_of(robot: Robot) -> frozenset[str]:
    """A stored robot's system-level permissions, "resource:action", `*` spelled out."""
    return stored_entries(robot)[1] if robot.level == SYSTEM else frozenset()
