"""Projects (Harbor's ProjectReq, Project, ProjectDeletable)."""

from __future__ import annotations

from pydantic import Field

from models.values import MAX_NAME
from web.api.schemas.common import Closed, ListQuery, Query, RequestBody


class ProjectReq(RequestBody):
    """POST and PUT /projects: metadata values are strings ("true"); Berth also takes
    booleans for public, as Harbor's deprecated `public` field."""

    project_name: str | None = Field(None, max_length=MAX_NAME)
    public: bool | None = None
    metadata: dict[str, str | bool | None] | None = None
    storage_limit: int | None = None
    registry_id: int | None = None


class Project(Closed):
    project_id: int
    name: str
    owner_id: int | None
    owner_name: str | None
    creation_time: str
    update_time: str
    repo_count: int
    deleted: bool
    metadata: dict[str, str]
    current_user_role_id: int
    current_user_role_ids: list[int]


class ProjectDeletable(Closed):
    deletable: bool
    message: str


class ProjectListQuery(ListQuery):
    name: str | None = Field(None, max_length=MAX_NAME)
    public: bool | None = None
    owner: str | None = Field(None, max_length=MAX_NAME)
    with_detail: bool | None = None


class ProjectHeadQuery(Query):
    project_name: str = Field(max_length=MAX_NAME)
