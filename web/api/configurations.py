"""Harbor's system configuration API: GET and PUT /api/v2.0/configurations (admins only)."""

from __future__ import annotations

from quart import Response

from access import config
from access.errors import Forbidden
from access.policy import Identity
from core import audit
from web.api import api
from web.api.common import json_body, json_response, signed_in
from web.api.recording import changes, recorded


async def admin_only() -> Identity:
    """The caller, who must be a system admin: 401 for nobody, 403 for anybody else."""
    identity = await signed_in()
    if not identity.sysadmin:
        raise Forbidden("only a system admin may do this")
    return identity


@api.get("/configurations")
async def get_configurations() -> Response:
    """Every setting as {value, editable}; secrets are never returned."""
    await admin_only()
    return json_response(await config.public_view())


@api.put("/configurations")
async def put_configurations() -> Response:
    """Change the given settings; auth_mode only on a database with no users or projects."""
    async with recorded(audit.UPDATE, audit.CONFIGURATION, "configuration") as event:
        await admin_only()
        wanted = await json_body()
        # The changed keys with their values; secrets, and keys that are no setting (a
        # misspelt secret), are only named. Written first, so a refused change says it too.
        unknown = wanted.keys() - config.DEFAULTS.keys()
        hidden = config.SECRETS | unknown
        event.description = changes(await config.current(), wanted, hidden=hidden)
        await config.update(wanted)
    return Response(status=200)
