"""Harbor's user API: /api/v2.0/users and /users/current (UserResp, UserCreationReq, ...)."""

from __future__ import annotations

from typing import Any

from quart import Response, current_app, request

import services.users
from access.accounts import (
    QUERY_KEYS,
    SORT_KEYS,
    AccountService,
    UserQuery,
    permissions_in,
)
from access.errors import Forbidden
from models import User
from models.errors import InvalidInput
from services.rights import require_self_or_system, require_system
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
from web.api.query import CONTAINS, EXACT, parse_query, parse_sort, tortoise_order
from web.api.schemas.common import ListQuery
from web.api.schemas.users import (
    PasswordReq,
    PermissionsQuery,
    UserCreationReq,
    UserProfile,
    UserResp,
    UserSearchQuery,
    UserSearchRespItem,
    UserSysAdminFlag,
)
from web.api.schemas.users import (
    Permission as PermissionItem,
)
from web.params import ParameterInvalid, api_time, arg, bool_arg, name_arg


def accounts() -> AccountService:
    service: AccountService = current_app.extensions["accounts"]
    return service


def user_resp(user: User) -> dict[str, Any]:
    """Harbor's UserResp; never the password hash."""
    return {
        "user_id": user.id,
        "username": user.username,
        "email": user.email or "",
        "realname": user.realname,
        "comment": user.comment,
        "sysadmin_flag": user.sysadmin,
        "admin_role_in_auth": False,
        "creation_time": api_time(user.created_at),
        "update_time": api_time(user.updated_at),
    }


@api.get("/users")
@operation("listUsers", "user", query=ListQuery, responses={200: list[UserResp]})
async def list_users() -> Response:
    require_system(await current_identity(), "user:list")
    query = _user_query()
    pages = paging()
    users, total = await accounts().list_users(query, pages.offset, pages.page_size)
    return paged_response([user_resp(u) for u in users], total, pages)


@api.post("/users")
@operation("createUser", "user", body=UserCreationReq, responses={201: None})
async def create_user() -> Response:
    user_id = await services.users.create(await api_call(), accounts())
    return created(f"{request.path}/{user_id}")


@api.get("/users/search")
@operation("searchUsers", "user", query=UserSearchQuery, responses={200: list[UserSearchRespItem]})
async def search_users() -> Response:
    await signed_in()
    username = name_arg("username")
    if not username:
        raise InvalidInput("the username query parameter is required")
    pages = paging()
    users, total = await accounts().search(username, pages.offset, pages.page_size)
    return paged_response([{"user_id": u.id, "username": u.username} for u in users], total, pages)


@api.get("/users/current")
@operation("getCurrentUserInfo", "user", responses={200: UserResp})
async def current_user() -> Response:
    identity = await signed_in()
    if identity.user_id is None:
        raise Forbidden("robot accounts have no user profile")
    return json_response(user_resp(await accounts().get(identity.user_id)))


@api.get("/users/current/permissions")
@operation(
    "getCurrentUserPermissions",
    "user",
    query=PermissionsQuery,
    responses={200: list[PermissionItem]},
)
async def current_permissions() -> Response:
    identity = await current_identity()
    scope = arg("scope")
    relative = bool_arg("relative", False)
    prefix = "" if relative or not scope else scope.rstrip("/") + "/"
    granted = sorted(await permissions_in(identity, scope))
    pairs = [str(p).split(":", 1) for p in granted]
    return json_response([{"resource": prefix + r, "action": a} for r, a in pairs])


@api.get("/users/<int:user_id>")
@operation("getUser", "user", responses={200: UserResp})
async def get_user(user_id: int) -> Response:
    require_self_or_system(await current_identity(), user_id, "user:read")
    return json_response(user_resp(await accounts().get(user_id)))


@api.put("/users/<int:user_id>")
@operation("updateUserProfile", "user", body=UserProfile, responses={200: None})
async def update_user(user_id: int) -> Response:
    await services.users.update_profile(await api_call(), accounts(), user_id)
    return Response("", status=200)


@api.delete("/users/<int:user_id>")
@operation("deleteUser", "user", responses={200: None})
async def delete_user(user_id: int) -> Response:
    await services.users.delete(await api_call(), accounts(), user_id)
    return Response("", status=200)


@api.put("/users/<int:user_id>/password")
@operation("updateUserPassword", "user", body=PasswordReq, responses={200: None})
async def change_password(user_id: int) -> Response:
    await services.users.change_password(await api_call(), accounts(), user_id)
    return Response("", status=200)


@api.put("/users/<int:user_id>/sysadmin")
@operation("setUserSysAdmin", "user", body=UserSysAdminFlag, responses={200: None})
async def set_sysadmin(user_id: int) -> Response:
    await services.users.set_sysadmin(await api_call(), accounts(), user_id)
    return Response("", status=200)


def _user_query() -> UserQuery:
    """`q=username=~abc,email=x` (exact or contains) and `sort=-creation_time,username`."""
    filters: dict[str, tuple[bool, str]] = {}
    for term in parse_query(arg("q"), dict.fromkeys(QUERY_KEYS, str)):
        if term.op not in (EXACT, CONTAINS):
            raise ParameterInvalid("q", f"{term.key}: ranges and lists are not supported here")
        filters[QUERY_KEYS[term.key]] = (term.op == EXACT, term.values[0])
    order = tortoise_order(parse_sort(arg("sort"), SORT_KEYS), SORT_KEYS)
    return UserQuery(filters, tuple(order) or ("id",))
