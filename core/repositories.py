"""Repositories as the REST API shows them (Harbor's Repository): pages of them, one of
them, its description; and the counts /search and /statistics give.

Every page is cut in the database (an indexed ORDER BY ... LIMIT on repository), and what
is told of each repository on it (its artifacts, pulls, last push) is read for that page's
ids only, in one grouped query each: the cost of a page does not grow with the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from tortoise.functions import Count, Max
from tortoise.queryset import QuerySet, ValuesQuery

from models import Manifest, Project, ProjectMember, Repository, RepositoryDetail, fetch
from models.errors import InvalidInput, NotFound

MAX_DESCRIPTION = 10_000


@dataclass(frozen=True, slots=True)
class RepositoryInfo:
    id: int
    project_id: int
    name: str
    description: str
    artifact_count: int
    pull_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Listing:
    """Which repositories a page is cut from: of projects (None: every project), matching
    Tortoise filters, in order."""

    project_ids: set[int] | None
    filters: dict[str, Any]
    order: list[str]


async def list_repositories(
    listing: Listing, offset: int, limit: int
) -> tuple[list[RepositoryInfo], int]:
    """A page of repositories, newest first unless listing.order says otherwise; the total."""
    total = await _matching(listing).count()
    rows = await page_query(listing, offset, limit)
    return await _describe(rows), total


def page_query(listing: Listing, offset: int, limit: int) -> ValuesQuery[Literal[False]]:
    """The one query that cuts a page (an index walk, no sort, for the default order)."""
    order = listing.order or ["-created_at"]
    return _matching(listing).order_by(*order, "-id").offset(offset).limit(limit).values(*_FIELDS)


def _matching(listing: Listing) -> QuerySet[Repository]:
    query = Repository.filter(**listing.filters)
    if listing.project_ids is not None:
        query = query.filter(project_id__in=sorted(listing.project_ids))
    return query


async def get_repository(name: str) -> RepositoryInfo:
    """The repository by its full name; NotFound when there is none."""
    rows = await Repository.filter(name=name).values(*_FIELDS)
    if not rows:
        raise NotFound(f"repository {name} not found")
    return (await _describe(rows))[0]


async def set_description(repository_id: int, description: str) -> str:
    """Set the description (in the caller's transaction); the one it had before."""
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(f"description: at most {MAX_DESCRIPTION} characters")
    now = datetime.now(UTC)
    found = await RepositoryDetail.filter(repository_id=repository_id).values_list(
        "description", flat=True
    )
    if found:
        await RepositoryDetail.filter(repository_id=repository_id).update(
            description=description, updated_at=now
        )
        return str(found[0])
    await RepositoryDetail.create(
        repository_id=repository_id, description=description, updated_at=now
    )
    return ""


_FIELDS = ("id", "project_id", "name", "created_at")


async def _describe(rows: list[dict[str, Any]]) -> list[RepositoryInfo]:
    """The page's repositories with their counts and last change, in two grouped reads."""
    ids = [int(r["id"]) for r in rows]
    if not ids:
        return []
    pushes = {
        int(repo_id): (int(count), latest)
        for repo_id, count, latest in await Manifest.filter(repository_id__in=ids)
        .annotate(n=Count("id"), latest=Max("created_at"))
        .group_by("repository_id")
        .values_list("repository_id", "n", "latest")
    }
    details = {
        int(repo_id): (str(description), int(pulls), changed)
        for repo_id, description, pulls, changed in await RepositoryDetail.filter(
            repository_id__in=ids
        ).values_list("repository_id", "description", "pull_count", "updated_at")
    }
    out = []
    for row in rows:
        repo_id = int(row["id"])
        count, pushed = pushes.get(repo_id, (0, None))
        description, pulls, changed = details.get(repo_id, ("", 0, None))
        times = [t for t in (row["created_at"], pushed, changed) if t is not None]
        out.append(
            RepositoryInfo(
                id=repo_id,
                project_id=int(row["project_id"]),
                name=str(row["name"]),
                description=description,
                artifact_count=count,
                pull_count=pulls,
                created_at=row["created_at"],
                updated_at=max(times, key=_utc),
            )
        )
    return out


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


# --- /search and /statistics ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Statistics:
    private_project_count: int
    private_repo_count: int
    public_project_count: int
    public_repo_count: int
    total_project_count: int
    total_repo_count: int
    total_storage_consumption: int


_STORED = "SELECT SUM(size) FROM blob WHERE status = 'none'"


async def statistics(project_ids: set[int] | None, with_storage: bool) -> Statistics:
    """Counts of the projects (None: all) and their repositories, by visibility; the bytes
    stored (every live blob once) only with_storage (Harbor tells them to admins only)."""
    projects = Project.all() if project_ids is None else Project.filter(id__in=sorted(project_ids))
    by_public = dict(
        await projects.annotate(n=Count("id")).group_by("public").values_list("public", "n")
    )
    repos = Repository.all()
    if project_ids is not None:
        repos = repos.filter(project_id__in=sorted(project_ids))
    public_repos = await repos.filter(project__public=True).count()
    all_repos = await repos.count()
    storage = 0
    if with_storage:
        storage = int((await fetch(_STORED))[0][0] or 0)  # type: ignore[call-overload]
    public, private = int(by_public.get(True, 0)), int(by_public.get(False, 0))
    return Statistics(
        private_project_count=private,
        private_repo_count=all_repos - public_repos,
        public_project_count=public,
        public_repo_count=public_repos,
        total_project_count=public + private,
        total_repo_count=all_repos,
        total_storage_consumption=storage,
    )


@dataclass(frozen=True, slots=True)
class ProjectSummary:
    repo_count: int
    members_by_role: dict[int, int]  # role id -> members (users and groups) holding it


async def project_summary(project_id: int) -> ProjectSummary:
    """The project's repository count and its members by role."""
    roles = (
        await ProjectMember.filter(project_id=project_id)
        .annotate(n=Count("id"))
        .group_by("role")
        .values_list("role", "n")
    )
    return ProjectSummary(
        repo_count=await Repository.filter(project_id=project_id).count(),
        members_by_role={int(role): int(n) for role, n in roles},
    )


MAX_FOUND = 100  # /search answers at most this many of each kind


@dataclass(frozen=True, slots=True)
class FoundRepository:
    project_id: int
    project_name: str
    project_public: bool
    repository_name: str
    pull_count: int
    artifact_count: int


async def search_repositories(project_ids: set[int] | None, text: str) -> list[FoundRepository]:
    """Repositories of the projects (None: all) whose names hold text, by name."""
    query = Repository.filter(name__icontains=text)
    if project_ids is not None:
        query = query.filter(project_id__in=sorted(project_ids))
    rows = await query.order_by("name").limit(MAX_FOUND).values(*_FIELDS)
    found = await _describe(rows)
    ids = sorted({r.project_id for r in found})
    projects = {
        int(i): (str(n), bool(p))
        for i, n, p in await Project.filter(id__in=ids).values_list("id", "name", "public")
    }
    return [
        FoundRepository(
            r.project_id,
            projects.get(r.project_id, ("", False))[0],
            projects.get(r.project_id, ("", False))[1],
            r.name,
            r.pull_count,
            r.artifact_count,
        )
        for r in found
    ]
