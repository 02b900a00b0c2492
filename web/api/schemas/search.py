"""/search and /statistics (Harbor's Search, SearchRepository, Statistic)."""

from __future__ import annotations

from pydantic import Field

from web.api.schemas.common import Closed, Query
from web.api.schemas.projects import Project


class SearchQuery(Query):
    q: str = Field(max_length=255, description="A part of a project or repository name")


class SearchRepository(Closed):
    project_id: int
    project_name: str
    project_public: bool
    repository_name: str
    pull_count: int
    artifact_count: int


class Search(Closed):
    project: list[Project]
    repository: list[SearchRepository]


class Statistic(Closed):
    private_project_count: int
    private_repo_count: int
    public_project_count: int
    public_repo_count: int
    total_project_count: int
    total_repo_count: int
    total_storage_consumption: int
