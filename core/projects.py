"""Projects: the first path component of every repository name."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from core import quotas
from core.errors import NameUnknown
from core.names import MAX_NAME_LENGTH
from models import (
    Project,
    ProjectMember,
    ProjectMetadata,
    Repository,
    RetentionExecution,
    RetentionPolicy,
    RetentionTask,
    Schedule,
    User,
    fetch,
)
from models.errors import AlreadyExists, InvalidInput, PreconditionFailed

DEFAULT_PROJECT = "library"


async def ensure_default_project() -> None:
    """The public project `library` exists from the first start (safe when replicas race)."""
    await Project.bulk_create([Project(name=DEFAULT_PROJECT, public=True)], ignore_conflicts=True)


async def create_project(name: str, public: bool = False) -> Project:
    await Project.bulk_create([Project(name=name, public=public)], ignore_conflicts=True)
    project = await Project.get(name=name)
    await quotas.create_quota(project.id, quotas.UNLIMITED)
    return project


async def project_for_push(repository: str, project_name: str) -> int:
    """Id of the project a push goes into; raises NameUnknown when it does not exist."""
    rows = await fetch("SELECT id FROM project WHERE name = ?", project_name)
    if not rows:
        raise NameUnknown(repository, f"project {project_name!r} does not exist")
    return int(rows[0][0])  # type: ignore[call-overload]


async def repository_for_push(name: str, project_name: str) -> int:
    """Id of the repository, created at the first push into an existing project."""
    rows = await fetch("SELECT id FROM repository WHERE name = ?", name)
    if rows:
        return int(rows[0][0])  # type: ignore[call-overload]
    project_id = await project_for_push(name, project_name)
    # Insert-or-ignore, then read: a write first never meets SQLite's stale-snapshot upgrade
    # error when replicas create the same repository at once.
    await Repository.bulk_create(
        [Repository(name=name, project_id=project_id)], ignore_conflicts=True
    )
    return (await Repository.get(name=name)).id


async def existing_repository(name: str) -> int:
    """Id of a repository that exists; raises NameUnknown."""
    rows = await fetch("SELECT id FROM repository WHERE name = ?", name)
    if not rows:
        raise NameUnknown(name)
    return int(rows[0][0])  # type: ignore[call-overload]


# --- The projects API: list, read, create, update, delete -------------------------------

_PROJECT_NAME_RE = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$")  # one name component


class ProjectNameInvalid(InvalidInput):
    """A project name outside the repository-name component grammar or 1..255 characters."""


class ProjectNameTaken(AlreadyExists):
    """Another project already has this name."""


class ProjectNotEmpty(PreconditionFailed):
    """The project still holds repositories, so it cannot be deleted."""


@dataclass(frozen=True, slots=True)
class ProjectInfo:
    id: int
    name: str
    public: bool
    owner_id: int | None
    owner_name: str
    created_at: datetime
    updated_at: datetime
    repo_count: int
    metadata: dict[str, str]  # the settings beyond public (core.project_settings)


def validate_project_name(name: str) -> str:
    if not 1 <= len(name) <= MAX_NAME_LENGTH or not _PROJECT_NAME_RE.match(name):
        raise ProjectNameInvalid(
            f"invalid project name {name[:64]!r}: 1..{MAX_NAME_LENGTH} characters matching"
            " [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*"
        )
    return name


async def find_project(ref: str, by_name: bool) -> ProjectInfo | None:
    """A project by name (by_name) or by numeric id; None when there is none."""
    if by_name:
        query = Project.filter(name=ref)
    elif ref.isascii() and ref.isdigit() and len(ref) < 12:
        query = Project.filter(id=int(ref))
    else:
        return None
    rows = await _describe(await query)
    return rows[0] if rows else None


async def project_key(ref: str, by_name: bool) -> tuple[str, int] | None:
    """The name and id of a project by name (by_name) or numeric id, in one indexed read."""
    if by_name:
        rows = await fetch("SELECT name, id FROM project WHERE name = ?", ref)
    elif ref.isascii() and ref.isdigit() and len(ref) < 12:  # longer digit strings name no project
        rows = await fetch("SELECT name, id FROM project WHERE id = ?", int(ref))
    else:
        rows = []
    return (str(rows[0][0]), int(rows[0][1])) if rows else None  # type: ignore[call-overload]


async def project_name_exists(name: str) -> bool:
    return bool(await fetch("SELECT 1 FROM project WHERE name = ?", name))


async def list_projects(
    visible: set[int] | None,
    filters: dict[str, Any],
    order: list[str],
    offset: int,
    limit: int,
) -> tuple[list[ProjectInfo], int]:
    """A page of projects among visible ids (None: all) matching Tortoise filters; and the
    total count. `owner` in filters is an owner's username."""
    query = Project.filter(**{k: v for k, v in filters.items() if k != "owner"})
    if "owner" in filters:
        owners = await User.filter(username=filters["owner"]).values_list("id", flat=True)
        query = query.filter(owner_id__in=list(owners))
    if visible is not None:
        query = query.filter(id__in=list(visible))
    total = await query.count()
    rows = await query.order_by(*(order or ["name"])).offset(offset).limit(limit)
    return await _describe(rows), total


async def create_owned_project(
    name: str,
    public: bool,
    owner_id: int | None,
    owner_role: int | None,
    storage_limit: int = quotas.UNLIMITED,
) -> int:
    """Create a project whose owner is its member with owner_role (none without one), and
    its quota (storage_limit bytes, -1 unlimited), in one transaction."""
    validate_project_name(name)
    try:
        async with in_transaction() as tx:
            project = await Project.create(name=name, public=public, owner_id=owner_id)
            await quotas.create_quota(project.id, storage_limit, tx)
            if owner_id is not None and owner_role is not None:
                await ProjectMember.create(
                    project_id=project.id, entity_type="u", entity_id=owner_id, role=owner_role
                )
    except IntegrityError:
        raise ProjectNameTaken(f"the project {name!r} already exists") from None
    return project.id


async def set_public(project_id: int, public: bool) -> None:
    await Project.filter(id=project_id).update(public=public, updated_at=datetime.now(UTC))


async def deletable(project_id: int) -> tuple[bool, str]:
    """Whether the project may be deleted now, and why not."""
    count = await Repository.filter(project_id=project_id).count()
    if count:
        return False, f"the project contains {count} repositories; delete them first"
    return True, ""


async def delete_project(project_id: int) -> None:
    """Delete an empty project and its memberships; ProjectNotEmpty while it holds repositories."""
    ok, message = await deletable(project_id)
    if not ok:
        raise ProjectNotEmpty(message)
    try:
        async with in_transaction():
            await Project.filter(id=project_id).delete()
            await ProjectMember.filter(project_id=project_id).delete()
            await ProjectMetadata.filter(project_id=project_id).delete()
            await quotas.delete_quota(project_id)
            await _delete_retention(project_id)
    except IntegrityError:  # a push created a repository in between
        raise ProjectNotEmpty("the project contains repositories; delete them first") from None


async def _delete_retention(project_id: int) -> None:
    """The project's tag retention policy goes with it: its schedule, runs and tasks."""
    ids = list(await RetentionPolicy.filter(project_id=project_id).values_list("id", flat=True))
    runs = list(await RetentionExecution.filter(policy_id__in=ids).values_list("id", flat=True))
    await RetentionTask.filter(execution_id__in=runs).delete()
    await RetentionExecution.filter(policy_id__in=ids).delete()
    await Schedule.filter(name__in=[f"retention-{i}" for i in ids]).delete()
    await RetentionPolicy.filter(project_id=project_id).delete()


async def _describe(projects: list[Project]) -> list[ProjectInfo]:
    """Projects with their owners' names and repository counts, in three queries."""
    if not projects:
        return []
    ids = [p.id for p in projects]
    owner_ids = [p.owner_id for p in projects if p.owner_id is not None]
    counts = dict(
        await Repository.filter(project_id__in=ids)
        .annotate(n=Count("id"))
        .group_by("project_id")
        .values_list("project_id", "n")
    )
    owners = dict(await User.filter(id__in=owner_ids).values_list("id", "username"))
    metadata: dict[int, dict[str, str]] = {}
    settings = ProjectMetadata.filter(project_id__in=ids).values_list("project_id", "name", "value")
    for project_id, name, value in await settings:
        metadata.setdefault(int(project_id), {})[str(name)] = str(value)
    return [
        ProjectInfo(
            id=p.id,
            name=p.name,
            public=p.public,
            owner_id=p.owner_id,
            owner_name=str(owners.get(p.owner_id, "")),
            created_at=p.created_at,
            updated_at=p.updated_at,
            repo_count=int(counts.get(p.id, 0)),
            metadata=metadata.get(p.id, {}),
        )
        for p in projects
    ]
