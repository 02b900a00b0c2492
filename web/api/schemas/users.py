"""Users (Harbor's UserResp, UserCreationReq, UserProfile, PasswordReq, UserSysAdminFlag)."""

from __future__ import annotations

from pydantic import Field

from models.values import MAX_NAME
from web.api.schemas.common import Closed, ListQuery, PageQuery, Query, RequestBody


class UserResp(Closed):
    user_id: int
    username: str
    email: str
    realname: str | None
    comment: str | None
    sysadmin_flag: bool
    admin_role_in_auth: bool
    creation_time: str
    update_time: str


class UserSearchRespItem(Closed):
    user_id: int
    username: str


class Permission(Closed):
    resource: str
    action: str


class UserCreationReq(RequestBody):
    username: str | None = None
    email: str | None = None
    realname: str | None = None
    password: str | None = None
    comment: str | None = None


class UserProfile(RequestBody):
    email: str | None = None
    realname: str | None = None
    comment: str | None = None


class PasswordReq(RequestBody):
    old_password: str | None = None
    new_password: str | None = None


class UserSysAdminFlag(RequestBody):
    sysadmin_flag: bool | None = None


class UserSearchQuery(PageQuery):
    username: str = Field(max_length=MAX_NAME)


class PermissionsQuery(Query):
    scope: str | None = Field(None, max_length=MAX_NAME)
    relative: bool | None = None


__all__ = ["ListQuery"]
