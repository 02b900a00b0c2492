"""Harbor's system information: /systeminfo (anyone; the protected part for a signed-in
caller), /systeminfo/volumes (system-volumes:read), /systeminfo/getcert (the CA Berth made
for its TLS, when it serves one), /ping, /permissions (system and project admins) and
/internalconfig (system admins)."""

from __future__ import annotations

import asyncio
import importlib.metadata
import shutil
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from quart import Response, current_app, request

from access import config
from access.policy import ADMIN_ONLY
from access.roles import PROJECT_ACCESS, SYSTEM_ACCESS
from core.errors import NotFound
from services import rights
from services.rights import require_system
from web.api import api
from web.api.common import current_identity, json_response, signed_in
from web.api.openapi import Content, operation
from web.api.schemas.system import ConfigItem
from web.api.schemas.systeminfo import GeneralInfo, Permissions, SystemInfo
from web.params import api_time

if TYPE_CHECKING:
    from pathlib import Path

    from ops.settings import Settings


class CertificateUnknown(NotFound):
    def __init__(self) -> None:
        super().__init__("Berth serves no certificate of its own CA (tls is not self-signed)")


def _settings() -> Settings:
    settings: Settings = current_app.extensions["settings"]
    return settings


def _ca() -> Path | None:
    """The root certificate clients must trust, when Berth made it (tls = "self-signed")."""
    settings = _settings()
    ca = settings.tls_dir / "ca.crt"
    return ca if settings.tls_mode == "self-signed" and ca.is_file() else None


def version() -> str:
    try:
        return f"v{importlib.metadata.version('berth')}"
    except importlib.metadata.PackageNotFoundError:
        return "dev"


@api.get("/systeminfo")
@operation("getSystemInfo", "systeminfo", responses={200: GeneralInfo})
async def get_system_info() -> Response:
    return json_response(await general_info(not (await current_identity()).anonymous))


async def general_info(protected: bool) -> dict[str, Any]:
    """Harbor's GeneralInfo: what anybody may read, and with `protected` what a signed-in
    caller may (addresses, version, modes)."""
    values = await config.current()
    accounts = current_app.extensions["accounts"]
    entry = values.get("self_registration")
    info: dict[str, Any] = {
        "auth_mode": values["auth_mode"],
        "primary_auth_mode": False,
        "self_registration": bool(entry) or accounts.self_registration,
        "banner_message": str(values.get("banner_message", "")),
        "oidc_provider_name": "",
    }
    if not protected:
        return info
    url = request.host_url.rstrip("/")
    settings = _settings()
    info.update(
        current_time=api_time(datetime.now(UTC)),
        registry_url=request.host,
        external_url=url,
        project_creation_restriction="everyone",
        has_ca_root=_ca() is not None and url.startswith("https://"),
        harbor_version=version(),
        registry_storage_provider_name=settings.storage.driver,
        read_only=bool(values.get("read_only", False)),
        notification_enable=True,
        with_notary=True,
    )
    return info


@api.get("/systeminfo/volumes")
@operation("getVolumes", "systeminfo", responses={200: SystemInfo})
async def get_volumes() -> Response:
    """The total and free bytes of the filesystem holding the registry's storage."""
    require_system(await current_identity(), "system-volumes:read")
    if _settings().storage.driver != "filesystem":  # an object store has no disk to measure
        return json_response({"storage": [{"total": 0, "free": 0}]})
    usage = await asyncio.to_thread(shutil.disk_usage, _settings().storage_root)
    return json_response({"storage": [{"total": usage.total, "free": usage.free}]})


@api.get("/systeminfo/getcert")
@operation("getCert", "systeminfo", responses={200: Content({"application/octet-stream": bytes})})
async def get_cert() -> Response:
    """The CA certificate (PEM) clients must trust, as a download; 404 without one."""
    ca = _ca()
    if ca is None:
        raise CertificateUnknown()
    response = Response(
        await asyncio.to_thread(ca.read_bytes), content_type="application/octet-stream"
    )
    response.headers["Content-Disposition"] = "attachment; filename=ca.crt"
    return response


@api.get("/ping")
@operation("getPing", "ping", responses={200: Content({"text/plain": str})})
async def get_ping() -> Response:
    return Response("Pong", content_type="text/plain; charset=utf-8")


@api.get("/permissions")
@operation("getPermissions", "permissions", responses={200: Permissions})
async def get_permissions() -> Response:
    """The permissions a robot may be given: system and project ones for a system admin,
    the project ones for a project admin; 403 for anybody else."""
    identity = await signed_in()
    system = await rights.permissions_view(identity)
    body: dict[str, Any] = {"project": _pairs(PROJECT_ACCESS)}
    if system:
        body["system"] = _pairs(SYSTEM_ACCESS)
    return json_response(body)


def _pairs(table: dict[str, frozenset[str]]) -> list[dict[str, str]]:
    return [{"resource": r, "action": a} for r in sorted(table) for a in sorted(table[r])]


@api.get("/internalconfig")
@operation("getInternalconfig", "configure", responses={200: dict[str, ConfigItem]})
async def get_internal_config() -> Response:
    """Every configuration item as {value, editable}, secrets left out (system admins)."""
    require_system(await current_identity(), ADMIN_ONLY)
    return json_response(await config.public_view())
