"""Harbor's quota API: GET /quotas (reference=project, reference_id, sort, paging),
GET and PUT /quotas/{id} (the storage limit; PUT by system admins only)."""

from __future__ import annotations

from typing import Any

from quart import Response

import services.quotas
from core import quotas
from web.api import api
from web.api.calls import api_call
from web.api.common import current_identity, json_response, paged_response, paging
from web.api.openapi import operation
from web.api.query import parse_sort, tortoise_order
from web.api.schemas.quotas import Quota, QuotaQuery, QuotaUpdateReq
from web.params import api_time, arg

_SORT_COLUMNS = {
    "hard.storage": "hard",
    "used.storage": "used",
    "creation_time": "created_at",
    "update_time": "updated_at",
    "id": "id",
}


@api.get("/quotas")
@operation("listQuotas", "quota", query=QuotaQuery, responses={200: list[Quota]})
async def list_quotas() -> Response:
    services.quotas.require(await current_identity(), services.quotas.LIST)
    pages = paging()
    order = tortoise_order(parse_sort(arg("sort"), _SORT_COLUMNS), _SORT_COLUMNS)
    reference, reference_id = arg("reference", "project"), arg("reference_id", "")
    if reference not in ("", "project") or (reference_id and not _is_id(reference_id)):
        return paged_response([], 0, pages)  # no quota has that reference
    project_id = int(reference_id) if reference_id else None
    rows, total = await quotas.list_quotas(project_id, order, pages.offset, pages.page_size)
    return paged_response([quota_json(q) for q in rows], total, pages)


@api.get("/quotas/<int:quota_id>")
@operation("getQuota", "quota", responses={200: Quota})
async def get_quota(quota_id: int) -> Response:
    services.quotas.require(await current_identity(), services.quotas.READ)
    return json_response(quota_json(await quotas.get_quota(quota_id)))


@api.put("/quotas/<int:quota_id>")
@operation("updateQuota", "quota", body=QuotaUpdateReq, responses={200: None})
async def update_quota(quota_id: int) -> Response:
    await services.quotas.update(await api_call(), quota_id)
    return Response("", status=200)


def quota_json(quota: quotas.QuotaInfo) -> dict[str, Any]:
    """Harbor's Quota: the project it limits, its hard limit and usage (-1: unlimited)."""
    return {
        "id": quota.id,
        "ref": {"id": quota.project_id, "name": quota.project_name, "owner_name": quota.owner_name},
        "hard": {quotas.STORAGE: quota.hard},
        "used": {quotas.STORAGE: quota.used},
        "creation_time": api_time(quota.created_at),
        "update_time": api_time(quota.updated_at),
    }


def _is_id(text: str) -> bool:
    return text.isdigit() and len(text) < 10
