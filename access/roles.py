"""Harbor's project roles and the one permission table used by the token service, the REST
API and the dashboard alike."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Role(IntEnum):
    PROJECT_ADMIN = 1
    DEVELOPER = 2
    GUEST = 3
    MAINTAINER = 4
    LIMITED_GUEST = 5

    @property
    def harbor_name(self) -> str:
        return _HARBOR_NAMES[self]

    @property
    def title(self) -> str:
        """The name people read: "Project Admin", "Limited Guest"."""
        return self.name.replace("_", " ").title()


_HARBOR_NAMES = {
    Role.PROJECT_ADMIN: "projectAdmin",
    Role.DEVELOPER: "developer",
    Role.GUEST: "guest",
    Role.MAINTAINER: "maintainer",
    Role.LIMITED_GUEST: "limitedGuest",
}


class Permission(StrEnum):
    """A resource and an action on it, spelled as Harbor's permissions API spells them."""

    PROJECT_READ = "project:read"
    PROJECT_UPDATE = "project:update"
    PROJECT_DELETE = "project:delete"
    REPOSITORY_LIST = "repository:list"
    REPOSITORY_PULL = "repository:pull"
    REPOSITORY_PUSH = "repository:push"
    REPOSITORY_DELETE = "repository:delete"
    ARTIFACT_DELETE = "artifact:delete"
    TAG_CREATE = "tag:create"
    TAG_DELETE = "tag:delete"
    MEMBER_LIST = "member:list"
    MEMBER_CREATE = "member:create"
    MEMBER_UPDATE = "member:update"
    MEMBER_DELETE = "member:delete"
    ROBOT_LIST = "robot:list"
    ROBOT_CREATE = "robot:create"
    ROBOT_DELETE = "robot:delete"
    WEBHOOK_LIST = "webhook:list"
    WEBHOOK_CREATE = "webhook:create"
    WEBHOOK_UPDATE = "webhook:update"
    WEBHOOK_DELETE = "webhook:delete"
    LOG_LIST = "log:list"
    REPOSITORY_UPDATE = "repository:update"  # its description
    METADATA_LIST = "metadata:list"  # Harbor grants it to no role: system admins only
    METADATA_READ = "metadata:read"
    METADATA_CREATE = "metadata:create"
    METADATA_UPDATE = "metadata:update"
    METADATA_DELETE = "metadata:delete"
    TAG_RETENTION_CREATE = "tag-retention:create"
    TAG_RETENTION_READ = "tag-retention:read"
    TAG_RETENTION_UPDATE = "tag-retention:update"
    TAG_RETENTION_DELETE = "tag-retention:delete"
    TAG_RETENTION_LIST = "tag-retention:list"
    TAG_RETENTION_OPERATE = "tag-retention:operate"
    LABEL_READ = "label:read"
    LABEL_LIST = "label:list"
    LABEL_CREATE = "label:create"
    LABEL_UPDATE = "label:update"
    LABEL_DELETE = "label:delete"
    ARTIFACT_LABEL_CREATE = "artifact-label:create"
    ARTIFACT_LABEL_DELETE = "artifact-label:delete"
    IMMUTABLE_TAG_LIST = "immutable-tag:list"
    IMMUTABLE_TAG_CREATE = "immutable-tag:create"
    IMMUTABLE_TAG_UPDATE = "immutable-tag:update"
    IMMUTABLE_TAG_DELETE = "immutable-tag:delete"


P = Permission
_LIMITED_GUEST = frozenset({P.PROJECT_READ, P.REPOSITORY_LIST, P.REPOSITORY_PULL})
_GUEST = _LIMITED_GUEST | {P.MEMBER_LIST}
_GUEST |= {P.LABEL_READ, P.LABEL_LIST}
_DEVELOPER = _GUEST | {P.REPOSITORY_PUSH, P.TAG_CREATE, P.REPOSITORY_UPDATE}
# Harbor gives developers (and so maintainers and project admins) all of tag retention
_DEVELOPER |= {p for p in P if p.value.startswith("tag-retention:")}
_DEVELOPER |= {P.ARTIFACT_LABEL_CREATE, P.ARTIFACT_LABEL_DELETE}
_MAINTAINER = _DEVELOPER | {
    P.REPOSITORY_DELETE,
    P.ARTIFACT_DELETE,
    P.TAG_DELETE,
    P.WEBHOOK_LIST,
    P.METADATA_READ,
}
_MAINTAINER |= {P.LABEL_CREATE, P.LABEL_UPDATE, P.LABEL_DELETE}
_MAINTAINER |= {
    P.IMMUTABLE_TAG_LIST,
    P.IMMUTABLE_TAG_CREATE,
    P.IMMUTABLE_TAG_UPDATE,
    P.IMMUTABLE_TAG_DELETE,
}
_PROJECT_ADMIN = _MAINTAINER | {
    P.PROJECT_UPDATE,
    P.PROJECT_DELETE,
    P.MEMBER_CREATE,
    P.MEMBER_UPDATE,
    P.MEMBER_DELETE,
    P.ROBOT_LIST,
    P.ROBOT_CREATE,
    P.ROBOT_DELETE,
    P.WEBHOOK_CREATE,
    P.WEBHOOK_UPDATE,
    P.WEBHOOK_DELETE,
    P.LOG_LIST,
    P.METADATA_CREATE,
    P.METADATA_UPDATE,
    P.METADATA_DELETE,
}

# role -> what it may do in its project. System admins may do everything everywhere.
PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.LIMITED_GUEST: _LIMITED_GUEST,
    Role.GUEST: frozenset(_GUEST),
    Role.DEVELOPER: frozenset(_DEVELOPER),
    Role.MAINTAINER: frozenset(_MAINTAINER),
    Role.PROJECT_ADMIN: frozenset(_PROJECT_ADMIN),
}
ALL_PERMISSIONS = frozenset(Permission)
# Anyone, signed in or not, on a public project.
PUBLIC_PERMISSIONS = _LIMITED_GUEST

# The distribution API's actions, as token scopes name them, and what each needs.
REGISTRY_ACTIONS: dict[str, Permission] = {
    "pull": P.REPOSITORY_PULL,
    "push": P.REPOSITORY_PUSH,
    "delete": P.REPOSITORY_DELETE,
}


# From least to most privileged: a denied caller is told the first role that would do.
ROLES_BY_PRIVILEGE = (
    Role.LIMITED_GUEST,
    Role.GUEST,
    Role.DEVELOPER,
    Role.MAINTAINER,
    Role.PROJECT_ADMIN,
)


def least_role(permission: Permission) -> Role | None:
    """The least privileged role that holds permission; None when only admins do."""
    return next((r for r in ROLES_BY_PRIVILEGE if permission in PERMISSIONS[r]), None)


def _actions(*names: str) -> frozenset[str]:
    return frozenset(names)


_CRUDL = _actions("create", "read", "update", "delete", "list")

# Harbor's system-level permissions (robot permissions of kind "system", namespace "/"):
# resource -> actions. Berth stores them on system robots; the operations they open (project
# creation, replication, GC, scans...) check them as those operations arrive.
SYSTEM_ACCESS: dict[str, frozenset[str]] = {
    "audit-log": _actions("list"),
    "catalog": _actions("read"),
    "configuration": _actions("read", "update"),
    "export-cve": _actions("create", "read"),
    "garbage-collection": _CRUDL | {"stop"},
    "jobservice-monitor": _actions("list", "stop"),
    "label": _CRUDL,
    "ldap-user": _actions("create", "list"),
    "member": _CRUDL,
    "preheat-instance": _CRUDL,
    "project": _CRUDL,
    "purge-audit": _actions("create", "read", "update", "list", "stop"),
    "quota": _actions("read", "list"),
    "registry": _CRUDL,
    "replication": _CRUDL,
    "replication-adapter": _actions("list"),
    "replication-policy": _CRUDL,
    "robot": _CRUDL,
    "scan-all": _CRUDL | {"stop"},
    "scanner": _CRUDL,
    "security-hub": _actions("read", "list"),
    "system-volumes": _actions("read"),
    "user": _CRUDL,
    "user-group": _CRUDL,
}

# Harbor's project-level permissions that Berth has no operation for yet: accepted and kept
# on a robot (Harbor's clients send them), granting nothing until the operation exists.
_HARBOR_PROJECT_ACCESS: dict[str, frozenset[str]] = {
    "accessory": _actions("list"),
    "artifact": _actions("read", "create", "list", "delete"),
    "artifact-addition": _actions("read"),
    "artifact-label": _actions("create", "delete"),
    "immutable-tag": _actions("create", "delete", "list", "update"),
    "label": _CRUDL,
    "log": _actions("list"),
    "metadata": _CRUDL,
    "notification-policy": _CRUDL,
    "preheat-policy": _CRUDL,
    "project": _actions("read", "update", "delete"),
    "quota": _actions("read"),
    "repository": _actions("read", "update", "delete", "list", "pull", "push"),
    "scan": _actions("create", "read", "stop"),
    "scanner": _actions("create", "read"),
    "tag": _actions("create", "list", "delete"),
    "tag-retention": _CRUDL,
}


def _project_access() -> dict[str, frozenset[str]]:
    merged = {resource: set(actions) for resource, actions in _HARBOR_PROJECT_ACCESS.items()}
    for permission in Permission:
        resource, action = permission.value.split(":")
        merged.setdefault(resource, set()).add(action)
    return {resource: frozenset(actions) for resource, actions in merged.items()}


# Every project-level resource -> actions a robot may carry (kind "project").
PROJECT_ACCESS = _project_access()


def permissions_of(roles: set[Role]) -> frozenset[Permission]:
    granted: set[Permission] = set()
    for role in roles:
        granted |= PERMISSIONS[role]
    return frozenset(granted)
