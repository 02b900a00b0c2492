"""Quotas (Harbor's Quota, QuotaRefObject, QuotaUpdateReq)."""

from __future__ import annotations

from pydantic import Field

from models.values import MAX_NAME
from web.api.schemas.common import Closed, PageQuery, RequestBody


class QuotaRef(Closed):
    """The project a quota limits."""

    id: int
    name: str
    owner_name: str


class Quota(Closed):
    """hard and used name one resource, storage, in bytes (hard -1: unlimited)."""

    id: int
    ref: QuotaRef
    hard: dict[str, int]
    used: dict[str, int]
    creation_time: str
    update_time: str


class QuotaUpdateReq(RequestBody):
    hard: dict[str, int] | None = None


class QuotaQuery(PageQuery):
    reference: str | None = Field(None, max_length=MAX_NAME, description="project")
    reference_id: str | None = Field(None, max_length=MAX_NAME, description="The project's id")
    sort: str | None = Field(
        None,
        max_length=MAX_NAME,
        description="hard.storage, used.storage, creation_time, update_time, id; -key descending",
    )
