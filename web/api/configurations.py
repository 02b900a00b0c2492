"""Harbor's system configuration API: GET and PUT /api/v2.0/configurations (system admins,
and system robots with configuration:read / configuration:update)."""

from __future__ import annotations

from quart import Response

import services.configuration
from access import config
from access.policy import ADMIN_ONLY, Identity
from services.rights import require_system
from web.api import api
from web.api.calls import api_call
from web.api.common import current_identity, json_response
from web.api.openapi import operation
from web.api.schemas.system import ConfigItem, Configurations


async def admin_only() -> Identity:
    """The caller, who must be a system admin: 401 for nobody, 403 for anybody else."""
    identity = await current_identity()
    require_system(identity, ADMIN_ONLY)
    return identity


@api.get("/configurations")
@operation("getConfigurations", "configure", responses={200: dict[str, ConfigItem]})
async def get_configurations() -> Response:
    """Every setting as {value, editable}; secrets are never returned."""
    require_system(await current_identity(), "configuration:read")
    return json_response(await config.public_view())


@api.put("/configurations")
@operation("updateConfigurations", "configure", body=Configurations, responses={200: None})
async def put_configurations() -> Response:
    """Change the given settings; auth_mode only on a database with no users or projects."""
    await services.configuration.update(await api_call())
    return Response(status=200)
