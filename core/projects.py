"""Projects: the first path component of every repository name."""

from __future__ import annotations

import contextlib

from tortoise.exceptions import IntegrityError

from core.errors import NameUnknown
from models import Project, Repository

DEFAULT_PROJECT = "library"


async def ensure_default_project() -> None:
    """The public project `library` exists from the first start (safe when replicas race)."""
    with contextlib.suppress(IntegrityError):  # another replica created it a moment ago
        await Project.get_or_create(name=DEFAULT_PROJECT, defaults={"public": True})


async def create_project(name: str, public: bool = False) -> Project:
    project, _ = await Project.get_or_create(name=name, defaults={"public": public})
    return project


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
    repo, _ = await Repository.get_or_create(name=name, defaults={"project": project})
    return repo


async def existing_repository(name: str) -> Repository:
    repo = await Repository.get_or_none(name=name)
    if repo is None:
        raise NameUnknown(name)
    return repo
