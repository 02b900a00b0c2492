"""Harbor's user API: /api/v2.0/users and /users/current (UserResp, UserCreationReq, ...)."""

from __future__ import annotations

from typing import Any

from quart import Response, current_app, request

from access.accounts import (
    QUERY_KEYS,
    SORT_KEYS,
    AccountService,
    NewUser,
    UserQuery,
    permissions_in,
    require_self_or_admin,
    require_sysadmin,
)
from access.errors import Forbidden
from core import audit
from models import User, fetch
from models.errors import InvalidInput
from web.api import api
from web.api.common import (
    created,
    current_identity,
    json_body,
    json_response,
    paged_response,
    paging,
    signed_in,
)
from web.api.query import CONTAINS, EXACT, parse_query, parse_sort, tortoise_order
from web.api.recording import changes, recorded, requested
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


def text(body: dict[str, Any], name: str, required: bool = False) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or (required and not value):
        raise InvalidInput(f"{name} must be a{' non-empty' if required else ''} string")
    return value


@api.get("/users")
async def list_users() -> Response:
    require_sysadmin(await current_identity())
    query = _user_query()
    pages = paging()
    users, total = await accounts().list_users(query, pages.offset, pages.page_size)
    return paged_response([user_resp(u) for u in users], total, pages)


@api.post("/users")
async def create_user() -> Response:
    async with recorded(audit.CREATE, audit.USER, await requested("username")):
        await accounts().check_may_create(await current_identity())
        body = await json_body()
        new = NewUser(
            username=text(body, "username", required=True),
            email=text(body, "email", required=True),
            password=text(body, "password", required=True),
            realname=text(body, "realname"),
            comment=text(body, "comment"),
        )  # sysadmin_flag is not part of UserCreationReq: a new user is never an admin
        user = await accounts().create(new)
    return created(f"{request.path}/{user.id}")


@api.get("/users/search")
async def search_users() -> Response:
    await signed_in()
    username = name_arg("username")
    if not username:
        raise InvalidInput("the username query parameter is required")
    pages = paging()
    users, total = await accounts().search(username, pages.offset, pages.page_size)
    return paged_response([{"user_id": u.id, "username": u.username} for u in users], total, pages)


@api.get("/users/current")
async def current_user() -> Response:
    identity = await signed_in()
    if identity.user_id is None:
        raise Forbidden("robot accounts have no user profile")
    return json_response(user_resp(await accounts().get(identity.user_id)))


@api.get("/users/current/permissions")
async def current_permissions() -> Response:
    identity = await current_identity()
    scope = arg("scope")
    relative = bool_arg("relative", False)
    prefix = "" if relative or not scope else scope.rstrip("/") + "/"
    granted = sorted(await permissions_in(identity, scope))
    pairs = [str(p).split(":", 1) for p in granted]
    return json_response([{"resource": prefix + r, "action": a} for r, a in pairs])


@api.get("/users/<int:user_id>")
async def get_user(user_id: int) -> Response:
    require_self_or_admin(await current_identity(), user_id)
    return json_response(user_resp(await accounts().get(user_id)))


@api.put("/users/<int:user_id>")
async def update_user(user_id: int) -> Response:
    name, _ = await _target(user_id)
    async with recorded(audit.UPDATE, audit.USER, name) as event:
        require_self_or_admin(await current_identity(), user_id)
        body = await json_body()
        profile: dict[str, Any] = {
            k: text(body, k) for k in ("email", "realname", "comment") if k in body
        }
        before = await accounts().get(user_id)
        await accounts().update_profile(user_id, profile)
        # which fields changed, not to what: the log is read more widely than the profile
        old = {k: getattr(before, k) for k in profile}
        event.description = changes(old, profile, hidden=profile.keys())
    return Response("", status=200)


@api.delete("/users/<int:user_id>")
async def delete_user(user_id: int) -> Response:
    name, _ = await _target(user_id)
    async with recorded(audit.DELETE, audit.USER, name):
        require_sysadmin(await current_identity())
        await accounts().delete(user_id)
    return Response("", status=200)


@api.put("/users/<int:user_id>/password")
async def change_password(user_id: int) -> Response:
    name, _ = await _target(user_id)
    async with recorded(audit.UPDATE, audit.USER, name, description="password change"):
        identity = await current_identity()
        body = await json_body()
        old = body.get("old_password")
        new = text(body, "new_password", required=True)
        if old is not None and not isinstance(old, str):
            raise InvalidInput("old_password must be a string")
        await accounts().change_password(identity, user_id, old, new)
    return Response("", status=200)


@api.put("/users/<int:user_id>/sysadmin")
async def set_sysadmin(user_id: int) -> Response:
    name, was_admin = await _target(user_id)
    async with recorded(audit.UPDATE, audit.USER, name) as event:
        require_sysadmin(await current_identity())
        flag = (await json_body()).get("sysadmin_flag")
        if not isinstance(flag, bool):
            raise InvalidInput("sysadmin_flag must be true or false")
        event.description = changes({"sysadmin_flag": was_admin}, {"sysadmin_flag": flag})
        await accounts().set_sysadmin(user_id, flag)
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


async def _target(user_id: int) -> tuple[str, bool | None]:
    """The name of the user a path names and whether they are a system admin, for the audit
    event; read before the rights check, so that a refused attempt names its target."""
    rows = await fetch("SELECT username, sysadmin FROM berth_user WHERE id = ?", user_id)
    if not rows:
        return f"user id {user_id}", None
    return str(rows[0][0]), bool(rows[0][1])
