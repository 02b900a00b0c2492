"""LDAP (Harbor's LdapConf, LdapPingResult, LdapUser, UserGroup)."""

from __future__ import annotations

from pydantic import Field

from models.values import MAX_NAME
from web.api.schemas.common import MAX_QUERY, Closed, Query, RequestBody


class LdapConf(RequestBody):
    ldap_url: str | None = None
    ldap_search_dn: str | None = None
    ldap_search_password: str | None = None
    ldap_base_dn: str | None = None
    ldap_filter: str | None = None
    ldap_uid: str | None = None
    ldap_scope: int | None = None
    ldap_connection_timeout: int | None = None
    ldap_verify_cert: bool | None = None


class LdapPingResult(Closed):
    success: bool
    message: str | None


class LdapUser(Closed):
    username: str
    realname: str | None
    email: str | None


class LdapGroup(Closed):
    group_name: str
    group_type: int
    ldap_group_dn: str


class LdapUserQuery(Query):
    username: str | None = Field(None, max_length=MAX_NAME)


class LdapGroupQuery(Query):
    groupname: str | None = Field(None, max_length=MAX_NAME)
    groupdn: str | None = Field(None, max_length=MAX_QUERY)
