"""Projects: the first path component of every repository name."""

from __future__ import annotations

from core.errors import NameUnknown
from models import Project, Repository

DEFAULT_PROJECT = "library"


async def ensure_default_project() -> None:
    """The public project `library` exists from the first start (safe when replicas race)."""
    await Project.bulk_create([Project(name=DEFAULT_PROJECT, public=True)], ignore_conflicts=True)


async def create_project(name: str, public: bool = False) -> Project:
    await Project.bulk_create([Project(name=name, public=public)], ignore_conflicts=True)
    return await Project.get(name=name)


async def project_for_push(repository: str, project_name: str) -> Project:
    """The project a push goes into; raises NameUnknown when it does not exist."""
    project = await Project.get_or_none(name=project_name)
    if project is None:
        raise NameUnknown(repository, f"project {project_name!r} does not exist")
    return project


async def repository_for_push(name: str, project_name: str) -> Repository:
    """The repository row, created at the first push into an existing project."""
    repo = await Repository.get_or_none(name=name)
    if repo is not None:
        return repo
    project = await project_for_push(name, project_name)
    # Insert-or-ignore, then read: a write first never meets SQLite's stale-snapshot upgrade
    # error when replicas create the same repository at once.
    await Repository.bulk_create([Repository(name=name, project=project)], ignore_conflicts=True)
    return await Repository.get(name=name)


async def existing_repository(name: str) -> Repository:
    repo = await Repository.get_or_none(name=name)
    if repo is None:
        raise NameUnknown(name)
    return repo
