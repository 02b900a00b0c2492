"""Labels (Harbor's Label) and the body of addLabel."""

from __future__ import annotations

from pydantic import Field

from models.values import MAX_NAME
from web.api.schemas.common import Closed, ListQuery, RequestBody


class Label(Closed):
    id: int
    name: str
    description: str
    color: str
    scope: str
    project_id: int
    creation_time: str | None
    update_time: str | None


class LabelReq(RequestBody):
    name: str | None = None
    description: str | None = None
    color: str | None = None
    scope: str | None = None
    project_id: int | None = None


class LabelRef(RequestBody):
    """addLabel's body: the label, by id."""

    id: int | None = None


class LabelQuery(ListQuery):
    name: str | None = Field(None, max_length=MAX_NAME, description="Part of the name")
    scope: str | None = Field(None, description="g (global, the default) or p (project)")
    project_id: int | None = Field(None, ge=0, description="The project, for scope p")
