"""Whether a caller may act: on a project (the one check every project service makes), or
system-wide (`require_system`, the one check of a system-level permission).

A project the caller may not see is reported missing (404), as if it did not exist; a
right the caller lacks is 401 for nobody, 403 for anybody else.
"""

from __future__ import annotations

from dataclasses import dataclass

from access.errors import AuthenticationFailed, Forbidden, NotFound
from access.policy import (
    ADMIN_ONLY,
    Identity,
    ProjectAccess,
    admin_of_some_project,
    holds_system,
    project_access,
)
from access.roles import Permission
from core import projects
from core.projects import ProjectInfo


class ProjectUnknown(NotFound):
    """No such project, or one the caller may not see: 404."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"project {ref} not found")


@dataclass(frozen=True, slots=True)
class ProjectRef:
    """A project as a path names it: by name, or by numeric id."""

    text: str
    by_name: bool


@dataclass(frozen=True, slots=True)
class ProjectScope:
    """A project the caller may see, and what the caller may do there."""

    identity: Identity
    project: ProjectInfo
    permissions: frozenset[Permission]


async def project_scope(
    identity: Identity, ref: ProjectRef, permission: Permission
) -> ProjectScope:
    """The project ref names, if identity holds permission there."""
    project = await projects.find_project(ref.text, ref.by_name)
    access = await project_access(identity, project.name) if project else None
    if project is None or access is None or Permission.PROJECT_READ not in access.permissions:
        raise ProjectUnknown(ref.text)
    require(identity, access, project.name, permission)
    return ProjectScope(identity, project, access.permissions)


def require(
    identity: Identity, access: ProjectAccess | None, project: str, permission: Permission
) -> ProjectAccess:
    """access, when it holds permission: 404 for a project the caller may not see, 401 / 403
    for a right the caller lacks."""
    if access is None or Permission.PROJECT_READ not in access.permissions:
        raise ProjectUnknown(project)
    if permission not in access.permissions:
        if identity.anonymous:
            raise AuthenticationFailed("sign in first")
        raise Forbidden(f"the role does not allow {permission.value} in project {project}")
    return access


async def project_target(ref: ProjectRef) -> tuple[str, int | None]:
    """The name and id of the project ref names, for the event of a change to it; read
    before the rights check, so that a refused attempt is filed under its project."""
    found = await projects.project_key(ref.text, ref.by_name)
    return found if found is not None else (ref.text, None)


def require_system(identity: Identity, permission: str) -> None:
    """Nothing, when identity holds the system-level permission ("user:list"; ADMIN_ONLY for
    what only a system admin may do); 401 for nobody, 403 for anybody else."""
    if holds_system(identity, permission):
        return
    if identity.anonymous:
        raise AuthenticationFailed("sign in first")
    if permission == ADMIN_ONLY:
        raise Forbidden("only a system admin may do this")
    raise Forbidden(f"this needs a system admin or the system permission {permission}")


def require_self_or_system(identity: Identity, user_id: int, permission: str) -> None:
    """The user themself, or a holder of the system-level permission; 401 / 403 otherwise."""
    if identity.user_id is not None and identity.user_id == user_id:
        return
    require_system(identity, permission)


async def permissions_view(identity: Identity) -> bool:
    """Who may read Harbor's permission list: a system admin, with the system permissions
    (True), or a project admin, without them (False); 401 for nobody, 403 for anybody else."""
    if holds_system(identity, ADMIN_ONLY):
        return True
    if identity.anonymous:
        raise AuthenticationFailed("sign in first")
    if await admin_of_some_project(identity):
        return False
    raise Forbidden("only system admins and project admins may read the permissions")
