"""Harbor's user groups: /api/v2.0/usergroups (UserGroup, UserGroupSearchItem) and the LDAP
user import, /api/v2.0/ldap/users/import."""

from __future__ import annotations

from typing import Any

from quart import Response, request

import services.usergroups
from access import groups
from models import UserGroup as GroupRow
from models.errors import InvalidInput
from services.rights import require_system
from web.api import api
from web.api.calls import api_call
from web.api.common import (
    created,
    current_identity,
    json_response,
    paged_response,
    paging,
    signed_in,
)
from web.api.openapi import operation
from web.api.schemas.usergroups import (
    LdapImportUsers,
    UserGroup,
    UserGroupListQuery,
    UserGroupReq,
    UserGroupSearchItem,
    UserGroupSearchQuery,
)
from web.params import MAX_QUERY, name_arg


def group_resp(group: GroupRow) -> dict[str, Any]:
    """Harbor's UserGroup."""
    return {
        "id": group.id,
        "group_name": group.group_name,
        "group_type": group.group_type,
        "ldap_group_dn": group.ldap_group_dn or "",
    }


@api.get("/usergroups")
@operation(
    "listUserGroups", "usergroup", query=UserGroupListQuery, responses={200: list[UserGroup]}
)
async def list_user_groups() -> Response:
    require_system(await current_identity(), "user-group:list")
    flt = groups.GroupFilter(
        name_arg("group_name"), name_arg("ldap_group_dn", MAX_QUERY), await groups.type_of_mode()
    )
    pages = paging()
    rows, total = await groups.list_groups(flt, pages.offset, pages.page_size)
    return paged_response([group_resp(g) for g in rows], total, pages)


@api.post("/usergroups")
@operation("createUserGroup", "usergroup", body=UserGroupReq, responses={201: None})
async def create_user_group() -> Response:
    group_id = await services.usergroups.create(await api_call())
    return created(f"{request.path.rstrip('/')}/{group_id}")


@api.get("/usergroups/search")
@operation(
    "searchUserGroups",
    "usergroup",
    query=UserGroupSearchQuery,
    responses={200: list[UserGroupSearchItem]},
)
async def search_user_groups() -> Response:
    await signed_in()
    name = name_arg("groupname")
    if not name:
        raise InvalidInput("need to provide groupname to search user group")
    pages = paging()
    rows, total = await groups.list_groups(
        groups.GroupFilter(name=name), pages.offset, pages.page_size
    )
    items = [{"id": g.id, "group_name": g.group_name, "group_type": g.group_type} for g in rows]
    return paged_response(items, total, pages)


@api.get("/usergroups/<int:group_id>")
@operation("getUserGroup", "usergroup", responses={200: UserGroup})
async def get_user_group(group_id: int) -> Response:
    require_system(await current_identity(), "user-group:read")
    return json_response(group_resp(await groups.get(group_id)))


@api.put("/usergroups/<int:group_id>")
@operation("updateUserGroup", "usergroup", body=UserGroupReq, responses={200: None})
async def update_user_group(group_id: int) -> Response:
    await services.usergroups.rename(await api_call(), group_id)
    return Response("", status=200)


@api.delete("/usergroups/<int:group_id>")
@operation("deleteUserGroup", "usergroup", responses={200: None})
async def delete_user_group(group_id: int) -> Response:
    await services.usergroups.delete(await api_call(), group_id)
    return Response("", status=200)


@api.post("/ldap/users/import")
@operation(
    "importLdapUser",
    "Ldap",
    body=LdapImportUsers,
    responses={200: None},
)
async def import_ldap_users() -> Response:
    """200 when every uid was imported; 404 naming the others (detail: [{uid, error}])."""
    await services.usergroups.import_ldap_users(await api_call())
    return Response("", status=200)
