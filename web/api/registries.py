"""Remote registries: /api/v2.0/registries (Harbor's Registry, RegistryUpdate, RegistryPing,
RegistryInfo) and the adapters replication knows (/replication/adapters, adapterinfos)."""

from __future__ import annotations

from typing import Any

from quart import Response, current_app, request

import services.registries
from core import registries
from core.registries import DOCKER_REGISTRY, HARBOR, MASK
from models import RemoteRegistry
from signer.sealing import Sealer
from web.api import api
from web.api.calls import api_call
from web.api.common import created, current_identity, json_response, paged_response, paging
from web.api.openapi import operation
from web.api.query import parse_query, parse_sort, tortoise_filters, tortoise_order
from web.api.schemas.registries import (
    Registry,
    Registry_Req,
    RegistryInfo,
    RegistryListQuery,
    RegistryPing,
    RegistryProviderInfo,
)
from web.params import api_time, name_arg

LOCATION = "/api/v2.0/registries"
_QUERY_KEYS = {"name": str, "type": str, "url": str, "status": str}
_SORT_COLUMNS = {
    "id": "id",
    "name": "name",
    "creation_time": "created_at",
    "update_time": "updated_at",
}
_ZERO_TIME = "0001-01-01T00:00:00Z"  # Harbor's time of the local registry, which has none


@api.route("/registries", methods=["GET"])
@operation("listRegistries", "registry", query=RegistryListQuery, responses={200: list[Registry]})
async def list_registries() -> Response:
    services.registries.require(await current_identity(), services.registries.LIST)
    pages = paging()
    terms = parse_query(request.args.get("q"), _QUERY_KEYS)
    filters = tortoise_filters(terms)
    if name := name_arg("name"):  # Harbor's older name= (a fuzzy match)
        filters["name__icontains"] = name
    order = tortoise_order(parse_sort(request.args.get("sort"), _SORT_COLUMNS), _SORT_COLUMNS)
    rows, total = await registries.listing(filters, order, pages.offset, pages.page_size)
    return paged_response([registry_json(r) for r in rows], total, pages)


@api.route("/registries", methods=["POST"])
@operation("createRegistry", "registry", body=Registry_Req, responses={201: None})
async def create_registry() -> Response:
    registry = await services.registries.create(await api_call(), _sealer())
    return created(f"{LOCATION}/{registry.id}")


@api.route("/registries/<int:registry_id>", methods=["GET"])
@operation("getRegistry", "registry", responses={200: Registry})
async def get_registry(registry_id: int) -> Response:
    services.registries.require(await current_identity(), services.registries.READ)
    return json_response(registry_json(await registries.get(registry_id)))


@api.route("/registries/<int:registry_id>", methods=["PUT"])
@operation("updateRegistry", "registry", body=Registry_Req, responses={200: None})
async def update_registry(registry_id: int) -> Response:
    await services.registries.update(await api_call(), registry_id, _sealer())
    return Response("", status=200)


@api.route("/registries/<int:registry_id>", methods=["DELETE"])
@operation("deleteRegistry", "registry", responses={200: None})
async def delete_registry(registry_id: int) -> Response:
    await services.registries.delete(await api_call(), registry_id)
    return Response("", status=200)


@api.route("/registries/ping", methods=["POST"])
@operation("pingRegistry", "registry", body=RegistryPing, responses={200: None})
async def ping_registry() -> Response:
    await services.registries.ping(await api_call(), _sealer())
    return Response("", status=200)


@api.route("/registries/<int:registry_id>/info", methods=["GET"])
@operation("getRegistryInfo", "registry", responses={200: RegistryInfo})
async def registry_info(registry_id: int) -> Response:
    services.registries.require(await current_identity(), services.registries.READ)
    registry = await registries.get(registry_id)
    return json_response(info_json(registry.type))


@api.route("/replication/adapters", methods=["GET"])
@operation("listRegistryProviderTypes", "registry", responses={200: list[str]})
async def replication_adapters() -> Response:
    services.registries.require(await current_identity(), services.registries.ADAPTER_LIST)
    return json_response(list(registries.TYPES))


@api.route("/replication/adapterinfos", methods=["GET"])
@operation(
    "listRegistryProviderInfos", "registry", responses={200: dict[str, RegistryProviderInfo]}
)
async def replication_adapter_infos() -> Response:
    """Harbor's RegistryProviderInfo by type: both types take any address and a user name
    and password (Harbor's standard patterns)."""
    services.registries.require(await current_identity(), services.registries.ADAPTER_LIST)
    standard = {
        "endpoint_pattern": {"endpoint_type": "EndpointPatternTypeStandard", "endpoints": []},
        "credential_pattern": {
            "access_key_type": "AccessKeyTypeStandard",
            "access_key_data": "",
            "access_secret_type": "AccessSecretTypePass",
            "access_secret_data": "",
        },
    }
    return json_response(dict.fromkeys(registries.TYPES, standard))


def registry_json(registry: RemoteRegistry) -> dict[str, Any]:
    """Harbor's Registry; a stored secret is shown as MASK, never in clear."""
    shape: dict[str, Any] = {
        "id": registry.id,
        "name": registry.name,
        "url": registry.url,
        "type": registry.type,
        "description": registry.description,
        "credential": {
            "type": registry.credential_type,
            "access_key": registry.access_key,
            "access_secret": MASK if registry.access_secret else "",
        },
        "insecure": registry.insecure,
        "status": registry.status,
        "requests_per_second": registry.requests_per_second,  # Berth's own; 0: no limit
        "creation_time": api_time(registry.created_at),
        "update_time": api_time(registry.updated_at),
    }
    if registry.ca_certificate:
        shape["ca_certificate"] = registry.ca_certificate
    return shape


def local_registry_json() -> dict[str, Any]:
    """This Berth, as Harbor shows its own registry on a policy: id 0, "Local"."""
    return {
        "id": 0,
        "name": "Local",
        "url": request.host_url.rstrip("/"),
        "type": HARBOR,
        "description": "",
        "credential": {"type": "secret", "access_key": "", "access_secret": MASK},
        "insecure": request.scheme != "https",
        "status": registries.HEALTHY,
        "creation_time": _ZERO_TIME,
        "update_time": _ZERO_TIME,
    }


def info_json(kind: str) -> dict[str, Any]:
    """Harbor's RegistryInfo of a type: the filters a policy with it may use, its triggers
    (event_based is for this registry's own events, so a push policy), and chunked copies
    (Berth's client copies by chunk to any registry)."""
    filters: list[dict[str, Any]] = [
        {"type": "name", "style": "input"},
        {"type": "tag", "style": "input"},
    ]
    if kind == HARBOR:
        filters.append({"type": "label", "style": "list", "values": []})
    resources = ["image", "artifact"] if kind == HARBOR else ["image"]
    filters.append({"type": "resource", "style": "radio", "values": resources})
    return {
        "type": kind if kind in (HARBOR, DOCKER_REGISTRY) else DOCKER_REGISTRY,
        "description": "",
        "supported_resource_filters": filters,
        "supported_triggers": ["manual", "scheduled"],
        "supported_copy_by_chunk": True,
    }


def _sealer() -> Sealer:
    sealer: Sealer = current_app.extensions["registry"].sealed()
    return sealer
