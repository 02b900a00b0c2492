"""Replication policies: /api/v2.0/replication/policies (Harbor's ReplicationPolicy)."""

from __future__ import annotations

from typing import Any

from quart import Response, request

import services.replication_policies
from core import replication_policies
from models import RemoteRegistry, ReplicationPolicy
from web.api import api
from web.api.calls import api_call
from web.api.common import created, current_identity, json_response, paged_response, paging
from web.api.openapi import operation
from web.api.query import (
    KeyParsers,
    as_bool,
    as_row_id,
    parse_query,
    parse_sort,
    tortoise_filters,
    tortoise_order,
)
from web.api.registries import local_registry_json, registry_json
from web.api.schemas.replication import PolicyListQuery, ReplicationPolicyReq
from web.api.schemas.replication import ReplicationPolicy as PolicyShape
from web.params import api_time, name_arg

LOCATION = "/api/v2.0/replication/policies"
_QUERY_KEYS: KeyParsers = {
    "name": str,
    "enabled": as_bool,
    "src_registry_id": as_row_id,
    "dest_registry_id": as_row_id,
}
_SORT_COLUMNS = {
    "id": "id",
    "name": "name",
    "creation_time": "created_at",
    "update_time": "updated_at",
}


@api.route("/replication/policies", methods=["GET"])
@operation(
    "listReplicationPolicies",
    "replication",
    query=PolicyListQuery,
    responses={200: list[PolicyShape]},
)
async def list_replication_policies() -> Response:
    services.replication_policies.require(
        await current_identity(), services.replication_policies.LIST
    )
    pages = paging()
    filters = tortoise_filters(parse_query(request.args.get("q"), _QUERY_KEYS))
    if name := name_arg("name"):  # Harbor's older name= (a fuzzy match)
        filters["name__icontains"] = name
    order = tortoise_order(parse_sort(request.args.get("sort"), _SORT_COLUMNS), _SORT_COLUMNS)
    rows, total = await replication_policies.listing(filters, order, pages.offset, pages.page_size)
    remotes = await replication_policies.remote_registries(rows)
    return paged_response([policy_json(p, remotes) for p in rows], total, pages)


@api.route("/replication/policies", methods=["POST"])
@operation(
    "createReplicationPolicy", "replication", body=ReplicationPolicyReq, responses={201: None}
)
async def create_replication_policy() -> Response:
    policy = await services.replication_policies.create(await api_call())
    return created(f"{LOCATION}/{policy.id}")


@api.route("/replication/policies/<int:policy_id>", methods=["GET"])
@operation("getReplicationPolicy", "replication", responses={200: PolicyShape})
async def get_replication_policy(policy_id: int) -> Response:
    services.replication_policies.require(
        await current_identity(), services.replication_policies.READ
    )
    policy = await replication_policies.get(policy_id)
    remotes = await replication_policies.remote_registries([policy])
    return json_response(policy_json(policy, remotes))


@api.route("/replication/policies/<int:policy_id>", methods=["PUT"])
@operation(
    "updateReplicationPolicy", "replication", body=ReplicationPolicyReq, responses={200: None}
)
async def update_replication_policy(policy_id: int) -> Response:
    await services.replication_policies.update(await api_call(), policy_id)
    return Response("", status=200)


@api.route("/replication/policies/<int:policy_id>", methods=["DELETE"])
@operation("deleteReplicationPolicy", "replication", responses={200: None})
async def delete_replication_policy(policy_id: int) -> Response:
    await services.replication_policies.delete(await api_call(), policy_id)
    return Response("", status=200)


def policy_json(policy: ReplicationPolicy, remotes: dict[int, RemoteRegistry]) -> dict[str, Any]:
    """Harbor's ReplicationPolicy: both sides as full Registry objects (this Berth as
    Harbor shows its local registry), secrets masked."""
    return {
        "id": policy.id,
        "name": policy.name,
        "description": policy.description,
        "src_registry": _side(policy.src_registry_id, remotes),
        "dest_registry": _side(policy.dest_registry_id, remotes),
        "dest_namespace": policy.dest_namespace,
        "dest_namespace_replace_count": policy.dest_namespace_replace_count,
        "trigger": policy.trigger or {"type": "manual", "trigger_settings": {"cron": ""}},
        "filters": policy.filters or [],
        "replicate_deletion": policy.replicate_deletion,
        "deletion": policy.replicate_deletion,  # Harbor's older name of the same
        "override": policy.override,
        "enabled": policy.enabled,
        "speed": policy.speed,
        "copy_by_chunk": policy.copy_by_chunk,
        "single_active_replication": policy.single_active_replication,
        "creation_time": api_time(policy.created_at),
        "update_time": api_time(policy.updated_at),
    }


def _side(registry_id: int | None, remotes: dict[int, RemoteRegistry]) -> dict[str, Any]:
    if registry_id is None:
        return local_registry_json()
    remote = remotes.get(registry_id)
    if remote is None:  # deleted under the policy: cannot happen through the API
        return {"id": registry_id, "name": "", "status": "unknown"}
    return registry_json(remote)
