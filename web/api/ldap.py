"""Harbor's LDAP API: ping a directory, search its users and groups (system admins only)."""

from __future__ import annotations

from typing import Any

from quart import Response, request

from access import config, ldap
from models.errors import InvalidInput, NotFound
from web.api import api
from web.api.common import json_response
from web.api.configurations import admin_only


@api.post("/ldap/ping")
async def ping_ldap() -> Response:
    """Bind with the search DN of the stored settings, or of those in the body (LdapConf)."""
    await admin_only()
    body: Any = await request.get_json(force=True, silent=True) or {}
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    settings = config.overridden(await config.current(), body)
    success, message = await ldap.ping(settings)
    return json_response({"success": success, "message": message})


@api.get("/ldap/users/search")
async def search_ldap_users() -> Response:
    """Directory users whose uid is ?username= (all, up to a limit, without it)."""
    await admin_only()
    settings = config.ldap_settings(await config.current())
    users = await ldap.search_users(settings, request.args.get("username") or None)
    return json_response(
        [{"username": u.username, "realname": u.realname, "email": u.email} for u in users]
    )


@api.get("/ldap/groups/search")
async def search_ldap_groups() -> Response:
    """Directory groups named ?groupname=, or the group at ?groupdn=."""
    await admin_only()
    name, dn = request.args.get("groupname") or None, request.args.get("groupdn") or None
    if name is None and dn is None:
        raise InvalidInput("give groupname or groupdn")
    settings = config.ldap_settings(await config.current())
    groups = await ldap.search_groups(settings, name, dn)
    if dn and not groups:
        raise NotFound(f"no group at {dn}")
    return json_response(
        [
            {"group_name": g.name, "group_type": ldap.LDAP_GROUP, "ldap_group_dn": g.dn}
            for g in groups
        ]
    )
