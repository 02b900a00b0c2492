"""Remote registries (Harbor's Registry, RegistryUpdate, RegistryPing, RegistryInfo,
RegistryProviderInfo)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from models.values import MAX_NAME
from web.api.schemas.common import Closed, ListQuery, RequestBody


class RegistryCredential(Closed):
    type: str | None
    access_key: str | None
    access_secret: str


class Registry(Closed):
    id: int
    name: str
    url: str
    type: str
    description: str | None
    credential: RegistryCredential
    insecure: bool
    status: str | None
    requests_per_second: float | None = None  # Berth's own; absent on the local registry
    creation_time: str
    update_time: str
    ca_certificate: str | None = None  # only when one is set


class MissingRegistry(Closed):
    """A policy's side whose registry is gone (cannot happen through the API)."""

    id: int
    name: str
    status: str


class RegistryFilter(Closed):
    type: str
    style: str
    values: list[str] | None = None


class RegistryInfo(Closed):
    type: str
    description: str
    supported_resource_filters: list[RegistryFilter]
    supported_triggers: list[str]
    supported_copy_by_chunk: bool


class RegistryProviderInfo(Closed):
    endpoint_pattern: dict[str, Any]
    credential_pattern: dict[str, Any]


class Registry_Req(RequestBody):  # noqa: N801 (Harbor's Registry, as a request)
    name: str | None = None
    url: str | None = None
    type: str | None = None
    description: str | None = None
    credential: dict[str, str | None] | None = None
    insecure: bool | None = None
    ca_certificate: str | None = None
    requests_per_second: float | None = None


class RegistryPing(RequestBody):
    id: int | None = None
    type: str | None = None
    url: str | None = None
    credential_type: str | None = None
    access_key: str | None = None
    access_secret: str | None = None
    insecure: bool | None = None


class RegistryListQuery(ListQuery):
    name: str | None = Field(None, max_length=MAX_NAME)
