"""User groups and the LDAP user import (Harbor's UserGroup, UserGroupSearchItem,
LdapImportUsers; a failed import's uids are in its 404's error detail)."""

from __future__ import annotations

from pydantic import Field

from models.values import MAX_NAME
from web.api.schemas.common import MAX_QUERY, Closed, PageQuery, RequestBody


class UserGroup(Closed):
    id: int
    group_name: str
    group_type: int
    ldap_group_dn: str


class UserGroupSearchItem(Closed):
    id: int
    group_name: str
    group_type: int


class UserGroupReq(RequestBody):
    """createUserGroup's and updateUserGroup's body (the update reads group_name only)."""

    group_name: str | None = None
    group_type: int | None = None
    ldap_group_dn: str | None = None


class UserGroupListQuery(PageQuery):
    group_name: str | None = Field(None, max_length=MAX_NAME)
    ldap_group_dn: str | None = Field(None, max_length=MAX_QUERY)


class UserGroupSearchQuery(PageQuery):
    groupname: str = Field(..., max_length=MAX_NAME)


class LdapImportUsers(RequestBody):
    ldap_uid_list: list[str]
