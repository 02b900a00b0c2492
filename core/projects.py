"""Projects: the first path component of every repository name."""

from __future__ import annotations

from core.errors import NameUnknown
from models import Project, Repository, fetch

DEFAULT_PROJECT = "library"


async def ensure_default_project() -> None:
    """The public project `library` exists from the first start (safe when replicas race)."""
    await Project.bulk_create([Project(name=DEFAULT_PROJECT, public=True)], ignore_conflicts=True)


async def create_project(name: str, public: bool = False) -> Project:
    await Project.bulk_create([Project(name=name, public=public)], ignore_conflicts=True)
    return await Project.get(name=name)


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
