"""What several resources' models share: the base classes, Harbor's Errors, list queries."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from models.values import MAX_NAME

MAX_QUERY = 1024  # as web.params.MAX_QUERY (q=, the few long query values)


class Closed(BaseModel):
    """A response body: exactly these fields (additionalProperties: false); a field without a
    default is always present, one with a default may be left out."""

    model_config = ConfigDict(extra="forbid")


class RequestBody(BaseModel):
    """A request body: fields not declared are ignored (Harbor's clients send whole objects
    back), declared ones are checked strictly (a string is no integer)."""

    model_config = ConfigDict(extra="ignore", strict=True)


class Query(BaseModel):
    """Query parameters of an operation: each field is one parameter (documented only; the
    handler parses them with web.params)."""

    model_config = ConfigDict(extra="ignore")


class Error(Closed):
    code: str
    message: str
    detail: Any = None


class Errors(Closed):
    """Harbor's error body: {"errors": [{"code", "message"}]} (Berth adds `detail`)."""

    errors: list[Error]


class PageQuery(Query):
    """Harbor's paging: `page` from 1, `page_size` 1..100."""

    page: int = Field(1, ge=1, le=10_000_000, description="The page number, from 1")
    page_size: int = Field(10, ge=1, le=100, description="The size of a page")


class ListQuery(PageQuery):
    """Paging plus Harbor's `q` (k=v,k2=~v2 filters) and `sort` (`name,-creation_time`)."""

    q: str | None = Field(None, max_length=MAX_QUERY, description="Filters: key=value,...")
    sort: str | None = Field(None, max_length=MAX_NAME, description="Sort keys, -key descending")


class Empty(Closed):
    """{}: Harbor's answer of some changes."""
