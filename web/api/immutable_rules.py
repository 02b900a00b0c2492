"""Tag immutability rules: /api/v2.0/projects/{project_name_or_id}/immutabletagrules
(Harbor's ListImmuRules, CreateImmuRule, UpdateImmuRule, DeleteImmuRule)."""

from __future__ import annotations

from typing import Any

from quart import Response, request

import services.immutability
from access.roles import Permission
from core import immutability
from models import ImmutableRule
from web.api import api
from web.api.calls import api_call, project_ref
from web.api.common import created, paged_response, paging
from web.api.openapi import operation
from web.api.projects import project_scope
from web.api.query import (
    KeyParsers,
    as_bool,
    as_row_id,
    parse_query,
    parse_sort,
    tortoise_filters,
    tortoise_order,
)
from web.api.schemas.common import ListQuery
from web.api.schemas.immutability import ImmutableRule as RuleShape
from web.api.schemas.immutability import ImmutableRuleReq

BASE = "/projects/<ref>/immutabletagrules"
QUERY_KEYS: KeyParsers = {"disabled": as_bool, "priority": as_row_id}
SORT_KEYS = ("id", "priority", "disabled")


@api.route(BASE, methods=["GET"])
@operation("ListImmuRules", "immutable", query=ListQuery, responses={200: list[RuleShape]})
async def list_rules(ref: str) -> Response:
    scope = await project_scope(ref, Permission.IMMUTABLE_TAG_LIST)
    filters = tortoise_filters(parse_query(request.args.get("q"), QUERY_KEYS))
    order = tortoise_order(parse_sort(request.args.get("sort"), SORT_KEYS))
    pages = paging()
    rows, total = await immutability.list_rules(
        scope.project.id, pages.offset, pages.page_size, filters, order
    )
    return paged_response([_rule(r) for r in rows], total, pages)


@api.route(BASE, methods=["POST"])
@operation("CreateImmuRule", "immutable", body=ImmutableRuleReq, responses={201: None})
async def create_rule(ref: str) -> Response:
    rule_id = await services.immutability.create(await api_call(), project_ref(ref))
    return created(f"/api/v2.0/projects/{ref}/immutabletagrules/{rule_id}")


@api.route(f"{BASE}/<int:rule_id>", methods=["PUT"])
@operation("UpdateImmuRule", "immutable", body=ImmutableRuleReq, responses={200: None})
async def update_rule(ref: str, rule_id: int) -> Response:
    await services.immutability.update(await api_call(), project_ref(ref), rule_id)
    return Response("", status=200)


@api.route(f"{BASE}/<int:rule_id>", methods=["DELETE"])
@operation("DeleteImmuRule", "immutable", responses={200: None})
async def delete_rule(ref: str, rule_id: int) -> Response:
    await services.immutability.delete(await api_call(), project_ref(ref), rule_id)
    return Response("", status=200)


def _rule(rule: ImmutableRule) -> dict[str, Any]:
    """Harbor's ImmutableRule."""
    return {
        "id": rule.id,
        "priority": rule.priority,
        "disabled": rule.disabled,
        "action": immutability.ACTION,
        "template": immutability.TEMPLATE,
        "params": rule.params,
        "tag_selectors": rule.tag_selectors,
        "scope_selectors": rule.scope_selectors,
    }
