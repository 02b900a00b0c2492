"""System information (Harbor's GeneralInfo, SystemInfo, Storage, Permissions)."""

from __future__ import annotations

from web.api.schemas.common import Closed


class GeneralInfo(Closed):
    """What anybody reads; the fields with defaults only for a signed-in caller."""

    auth_mode: str
    primary_auth_mode: bool
    self_registration: bool
    banner_message: str
    oidc_provider_name: str
    current_time: str | None = None
    registry_url: str | None = None
    external_url: str | None = None
    project_creation_restriction: str | None = None
    has_ca_root: bool | None = None
    harbor_version: str | None = None
    registry_storage_provider_name: str | None = None
    read_only: bool | None = None
    notification_enable: bool | None = None
    with_notary: bool | None = None


class Storage(Closed):
    total: int
    free: int


class SystemInfo(Closed):
    storage: list[Storage]


class Permission(Closed):
    resource: str
    action: str


class Permissions(Closed):
    """The system permissions only for a system admin."""

    system: list[Permission] | None = None
    project: list[Permission]
