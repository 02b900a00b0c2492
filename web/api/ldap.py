"""Harbor's LDAP API: ping a directory, search its users and groups (system admins only)."""

from __future__ import annotations

from quart import Response, request

from access import config, ldap
from models.errors import InvalidInput, NotFound, PreconditionFailed
from web.api import api
from web.api.common import json_body, json_response
from web.api.configurations import admin_only
from web.api.openapi import operation
from web.api.schemas.ldap import (
    LdapConf,
    LdapGroup,
    LdapGroupQuery,
    LdapPingResult,
    LdapUser,
    LdapUserQuery,
)
from web.params import MAX_QUERY, name_arg


@api.post("/ldap/ping")
@operation("pingLdap", "Ldap", body=LdapConf, responses={200: LdapPingResult})
async def ping_ldap() -> Response:
    """Bind with the search DN of the stored settings, or of those in the body (LdapConf)."""
    await admin_only()
    body = await json_body() if (await request.get_data()).strip() else {}
    settings = config.overridden(await config.current(), body)
    success, message = await ldap.ping(settings)
    return json_response({"success": success, "message": message})


@api.get("/ldap/users/search")
@operation("searchLdapUser", "Ldap", query=LdapUserQuery, responses={200: list[LdapUser]})
async def search_ldap_users() -> Response:
    """Directory users whose uid is ?username= (all, up to a limit, without it)."""
    await admin_only()
    settings = await _configured()
    users = await ldap.search_users(settings, name_arg("username"))
    return json_response(
        [{"username": u.username, "realname": u.realname, "email": u.email} for u in users]
    )


@api.get("/ldap/groups/search")
@operation("searchLdapGroup", "Ldap", query=LdapGroupQuery, responses={200: list[LdapGroup]})
async def search_ldap_groups() -> Response:
    """Directory groups named ?groupname=, or the group at ?groupdn=."""
    await admin_only()
    name, dn = name_arg("groupname"), name_arg("groupdn", MAX_QUERY)
    if name is None and dn is None:
        raise InvalidInput("give groupname or groupdn")
    settings = await _configured()
    groups = await ldap.search_groups(settings, name, dn)
    if dn and not groups:
        raise NotFound(f"no group at {dn}")
    return json_response(
        [
            {"group_name": g.name, "group_type": ldap.LDAP_GROUP, "ldap_group_dn": g.dn}
            for g in groups
        ]
    )


async def _configured() -> config.LdapSettings:
    """The directory's settings; a search without one is a precondition failure, not a 503."""
    settings = config.ldap_settings(await config.current())
    if not settings.url:
        raise PreconditionFailed("no directory is configured: set ldap_url first")
    return settings
