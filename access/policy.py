"""Who may do what: the caller's identity and the permissions it holds in a project.

Every check reads the project's public flag and the caller's memberships at the time of the
request, so a switch to private or a removed member takes effect on the next request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from access.roles import (
    ALL_PERMISSIONS,
    PUBLIC_PERMISSIONS,
    REGISTRY_ACTIONS,
    SYSTEM_ACCESS,
    Permission,
    Role,
    least_role,
    permissions_of,
)
from models import fetch


class Action(StrEnum):
    """Actions of the distribution API, as token scopes name them."""

    PULL = "pull"
    PUSH = "push"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Identity:
    """The caller of a request. No username: anonymous."""

    username: str | None = None
    user_id: int | None = None
    sysadmin: bool = False
    group_ids: tuple[int, ...] = ()
    robot_id: int | None = None
    # robots: project name (or "*") -> what the robot may do there
    robot_permissions: dict[str, frozenset[Permission]] = field(default_factory=dict)
    # system robots: Harbor's system-level permissions, "resource:action" ("project:create")
    system_permissions: frozenset[str] = frozenset()
    address: str | None = None

    @property
    def anonymous(self) -> bool:
        return self.username is None


ANONYMOUS = Identity()


@dataclass(frozen=True, slots=True)
class ProjectAccess:
    project_id: int
    public: bool
    permissions: frozenset[Permission]


async def project_access(identity: Identity, project: str) -> ProjectAccess | None:
    """What identity may do in project; None when the project does not exist."""
    rows = await fetch("SELECT id, public FROM project WHERE name = ?", project)
    if not rows:
        return None
    project_id, public = int(rows[0][0]), bool(rows[0][1])  # type: ignore[call-overload]
    everywhere = held_in_every_project(identity)
    if everywhere == ALL_PERMISSIONS:
        return ProjectAccess(project_id, public, ALL_PERMISSIONS)
    granted = set(everywhere) | (PUBLIC_PERMISSIONS if public else set())
    if identity.robot_id is not None:
        granted |= identity.robot_permissions.get(project, frozenset())
    elif identity.user_id is not None:
        granted |= permissions_of(await member_roles(identity, project_id))
    return ProjectAccess(project_id, public, frozenset(granted))


async def member_roles(identity: Identity, project_id: int) -> set[Role]:
    """The roles identity holds in a project, directly or through its groups."""
    groups = identity.group_ids
    marks = ",".join("?" * len(groups)) or "NULL"
    rows = await fetch(
        "SELECT role FROM project_member WHERE project_id = ? AND ("
        f"(entity_type = 'u' AND entity_id = ?) OR (entity_type = 'g' AND entity_id IN ({marks})))",
        project_id,
        identity.user_id,
        *groups,
    )
    return {Role(int(row[0])) for row in rows}  # type: ignore[call-overload]


async def allowed_actions(identity: Identity, repository: str, wanted: set[str]) -> set[str]:
    """The subset of wanted registry actions ("pull", "push", "delete", "*") allowed."""
    access = await project_access(identity, repository.split("/", 1)[0])
    if access is None:
        # No such project: a system admin goes on to get the registry's own NAME_UNKNOWN;
        # anybody else learns nothing about which projects exist.
        return grantable(wanted, ALL_PERMISSIONS) if holds_system(identity, ADMIN_ONLY) else set()
    return grantable(wanted, access.permissions)


def grantable(wanted: set[str], permissions: frozenset[Permission]) -> set[str]:
    """The registry actions of wanted that permissions allow. `*` asks for every action the
    caller may use (as Harbor answers it); `*` itself is granted only with all three."""
    allowed = {a for a, needs in REGISTRY_ACTIONS.items() if needs in permissions}
    if "*" in wanted:
        return allowed | {"*"} if len(allowed) == len(REGISTRY_ACTIONS) else allowed
    return allowed & wanted


async def check_repository(identity: Identity, repository: str, action: Action) -> bool:
    """True when identity may perform action on repository now."""
    return bool(await allowed_actions(identity, repository, {action.value}))


# How a refusal names what was tried, by action.
_ATTEMPTS = {Action.PULL: "pull from", Action.PUSH: "push to", Action.DELETE: "delete in"}


def denial_reason(identity: Identity, repository: str, action: Action) -> str:
    """Why identity may not perform action on repository, from the permission table: what
    would be enough. The same words whether or not the project exists."""
    project = repository.split("/", 1)[0]
    attempt = f"{_ATTEMPTS[action]} project {project}"
    needed = REGISTRY_ACTIONS[action.value]
    if identity.robot_id is not None:
        return f"{attempt} needs {needed.value}, which robot {identity.username} does not hold"
    role = least_role(needed)
    if role is None:
        return f"{attempt} needs a system admin"
    return f"{attempt} needs the {role.title} role or higher"


# A name no system robot can be given (it is no entry of SYSTEM_ACCESS): what only a system
# admin may do, such as making another user one.
ADMIN_ONLY = "system-admin:only"

# System-level permissions that hold their project-level twin in every project: reading any
# project, reading the audit log of all of them.
SYSTEM_WIDE: dict[str, Permission] = {
    "project:read": Permission.PROJECT_READ,
    "audit-log:list": Permission.LOG_LIST,
}


def holds_system(identity: Identity, permission: str) -> bool:
    """True when identity holds a system-level permission ("replication:create",
    "project:create", "user:list"): a system admin holds them all, a system robot those it
    was given. The one check of every system-level right; services.rights raises with it."""
    return identity.sysadmin or permission in identity.system_permissions


def held_system(identity: Identity) -> frozenset[str]:
    """Every system-level permission identity holds, "resource:action" (all of Harbor's for
    a system admin): what `/users/current/permissions` lists for the system scope."""
    return frozenset(
        f"{resource}:{action}"
        for resource, actions in SYSTEM_ACCESS.items()
        for action in actions
        if holds_system(identity, f"{resource}:{action}")
    )


def held_in_every_project(identity: Identity) -> frozenset[Permission]:
    """What identity may do in every project, whatever its memberships: everything for a
    system admin, a robot's `*` entry, and the project twins of its system permissions."""
    if holds_system(identity, ADMIN_ONLY):
        return ALL_PERMISSIONS
    held = set(identity.robot_permissions.get("*", frozenset()))
    held |= {twin for name, twin in SYSTEM_WIDE.items() if holds_system(identity, name)}
    return frozenset(held)


async def visible_project_ids(identity: Identity, listing: str = "catalog:read") -> set[int] | None:
    """Projects whose repositories (or, with listing "project:list", which projects) identity
    may list; None for all of them (whoever holds the system permission `listing`)."""
    if holds_system(identity, listing):
        return None
    rows = await fetch("SELECT id FROM project WHERE public = ?", True)
    visible = {int(r[0]) for r in rows}  # type: ignore[call-overload]
    if identity.robot_id is not None:
        if "*" in identity.robot_permissions:
            return None
        names = list(identity.robot_permissions)
        marks = ",".join("?" * len(names)) or "NULL"
        rows = await fetch(f"SELECT id FROM project WHERE name IN ({marks})", *names)
    elif identity.user_id is not None:
        marks = ",".join("?" * len(identity.group_ids)) or "NULL"
        rows = await fetch(
            "SELECT project_id FROM project_member WHERE (entity_type = 'u' AND entity_id = ?)"
            f" OR (entity_type = 'g' AND entity_id IN ({marks}))",
            identity.user_id,
            *identity.group_ids,
        )
    else:
        rows = []
    return visible | {int(r[0]) for r in rows}  # type: ignore[call-overload]


async def pull_projects(identity: Identity) -> tuple[set[int] | None, bool]:
    """Where identity may pull from now: the projects it holds repository:pull in (None:
    every project), and whether every public project counts too."""
    held = await project_ids_with(identity, Permission.REPOSITORY_PULL)
    return held, Permission.REPOSITORY_PULL in PUBLIC_PERMISSIONS


async def project_ids_with(identity: Identity, permission: Permission) -> set[int] | None:
    """Projects in which identity holds permission through a role or a robot grant; None for
    all of them (a system admin, or a robot granted it in every project)."""
    if permission in held_in_every_project(identity):
        return None
    if identity.robot_id is not None:
        names = [n for n, granted in identity.robot_permissions.items() if permission in granted]
        marks = ",".join("?" * len(names)) or "NULL"
        rows = await fetch(f"SELECT id FROM project WHERE name IN ({marks})", *names)
        return {int(r[0]) for r in rows}  # type: ignore[call-overload]
    if identity.user_id is None:
        return set()
    marks = ",".join("?" * len(identity.group_ids)) or "NULL"
    rows = await fetch(
        "SELECT project_id, role FROM project_member WHERE (entity_type = 'u' AND entity_id = ?)"
        f" OR (entity_type = 'g' AND entity_id IN ({marks}))",
        identity.user_id,
        *identity.group_ids,
    )
    return {
        int(project_id)  # type: ignore[call-overload]
        for project_id, role in rows
        if permission in permissions_of({Role(int(role))})  # type: ignore[call-overload]
    }


async def admin_of_some_project(identity: Identity) -> bool:
    """Whether a user is Project Admin of at least one project, directly or by a group."""
    if identity.user_id is None or identity.robot_id is not None:
        return False
    marks = ",".join("?" * len(identity.group_ids)) or "NULL"
    rows = await fetch(
        "SELECT 1 FROM project_member WHERE role = ? AND ((entity_type = 'u' AND entity_id = ?)"
        f" OR (entity_type = 'g' AND entity_id IN ({marks}))) LIMIT 1",
        int(Role.PROJECT_ADMIN),
        identity.user_id,
        *identity.group_ids,
    )
    return bool(rows)
