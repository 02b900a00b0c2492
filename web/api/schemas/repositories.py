"""Repositories, an artifact's tags and additions, copies and icons (Harbor's Repository,
Tag, Icon)."""

from __future__ import annotations

from pydantic import Field

from core.repositories import MAX_DESCRIPTION
from models.values import MAX_NAME
from web.api.schemas.common import Closed, ListQuery, Query, RequestBody


class Repository(Closed):
    id: int
    project_id: int
    name: str
    description: str
    artifact_count: int
    pull_count: int
    creation_time: str | None
    update_time: str | None


class RepositoryUpdate(RequestBody):
    description: str | None = Field(None, max_length=MAX_DESCRIPTION)


class CopyQuery(Query):
    from_: str = Field(
        alias="from", max_length=MAX_NAME, description="project/repository@digest or :tag"
    )


class TagListQuery(ListQuery):
    with_signature: bool | None = None
    with_immutable_status: bool | None = None


class TagItem(Closed):
    id: int
    repository_id: int
    artifact_id: int
    name: str
    push_time: str | None
    pull_time: str | None
    immutable: bool
    signed: bool


class Icon(Closed):
    content_type: str
    content: str = Field(description="the icon's bytes, base64")
