"""LDAP / Active Directory login: find the user, check the password, read the groups.

The directory is asked with the search DN; the password is checked by binding as the user.
Groups are the entries under the group base DN whose membership attribute names the user's
DN, or (nested) the DN of a group already found, to a depth of MAX_GROUP_DEPTH. A login
creates the local user at first and refreshes its group memberships every time, so project
roles given to a group follow the directory. ldap3 is synchronous: it runs on a thread.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from access import config
from access.config import LdapSettings
from access.errors import DirectoryUnavailable
from models import GroupMembership, User, UserGroup

if TYPE_CHECKING:
    from ldap3 import Connection

# ldap3 (some 100 modules, ~7 MB per server process) is imported on the first directory
# question, not at start: most registries never configure a directory.

log = logging.getLogger("berth.access")

MAX_GROUP_DEPTH = 5  # nesting levels followed; guards against membership cycles too
MAX_RESULTS = 500  # entries a search returns at most
LDAP_GROUP = 1  # Harbor's group_type of an LDAP group


def escape_filter_chars(value: str) -> str:
    from ldap3.utils.conv import escape_filter_chars as escape

    return str(escape(value))


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    dn: str
    username: str
    realname: str = ""
    email: str = ""


@dataclass(frozen=True, slots=True)
class DirectoryGroup:
    dn: str
    name: str


@dataclass(frozen=True, slots=True)
class DirectoryLogin:
    """What the directory said about a user whose password it accepted."""

    user: DirectoryUser
    groups: list[DirectoryGroup]
    admin: bool | None  # None: no admin group is configured


class LdapDirectory:
    """Synchronous questions to one directory; DirectoryUnavailable when it cannot answer."""

    def __init__(self, settings: LdapSettings) -> None:
        if not settings.url:
            raise DirectoryUnavailable("ldap_url is not configured")
        from ldap3 import NONE, Server, Tls

        self.settings = settings
        tls = Tls(validate=ssl.CERT_REQUIRED if settings.verify_cert else ssl.CERT_NONE)
        self.server = Server(settings.url, tls=tls, connect_timeout=settings.timeout, get_info=NONE)

    def bind(self, dn: str, password: str) -> Connection | None:
        """A connection bound as dn; None when the directory refuses the credentials."""
        from ldap3 import Connection
        from ldap3.core.exceptions import LDAPException

        conn = Connection(
            self.server,
            user=dn or None,
            password=password or None,
            receive_timeout=self.settings.timeout,
            raise_exceptions=False,
        )
        try:
            if conn.bind():
                return conn
        except LDAPException as exc:
            raise DirectoryUnavailable(type(exc).__name__) from None
        conn.unbind()
        return None

    def searcher(self) -> Connection:
        """A connection bound with the search DN (anonymous without one)."""
        conn = self.bind(self.settings.search_dn, self.settings.search_password)
        if conn is None:
            raise DirectoryUnavailable("the search DN was refused by the directory")
        return conn

    def search(
        self, conn: Connection, base: str, flt: str, scope: int, attrs: list[str]
    ) -> list[tuple[str, dict[str, Any]]]:
        """(dn, attributes) of the matching entries; none when the base does not exist."""
        from ldap3 import BASE, LEVEL, SUBTREE
        from ldap3.core.exceptions import LDAPException

        scopes = {0: BASE, 1: LEVEL, 2: SUBTREE}
        try:
            conn.search(
                base, flt, search_scope=scopes[scope], attributes=attrs, size_limit=MAX_RESULTS
            )
        except LDAPException as exc:
            raise DirectoryUnavailable(type(exc).__name__) from None
        return [
            (r["dn"], dict(r["attributes"]))
            for r in conn.response or []
            if r.get("type") == "searchResEntry"
        ]

    def find_users(self, conn: Connection, username: str | None) -> list[DirectoryUser]:
        """Users whose uid attribute is username (every user for None)."""
        s = self.settings
        value = escape_filter_chars(username) if username else "*"
        flt = f"(&{_wrapped(s.filter) or '(objectClass=*)'}({s.uid}={value}))"
        found = self.search(conn, s.base_dn, flt, s.scope, [s.uid, "cn", "displayName", "mail"])
        return [
            DirectoryUser(
                dn,
                _first(attrs, s.uid) or username or "",
                _first(attrs, "displayName") or _first(attrs, "cn"),
                _first(attrs, "mail"),
            )
            for dn, attrs in found
        ]

    def find_groups(
        self, conn: Connection, flt: str, base: str | None = None
    ) -> list[DirectoryGroup]:
        """Groups matching flt (and the group filter) under the group base DN, or at base."""
        s = self.settings
        full = f"(&{_wrapped(s.group_search_filter) or '(objectClass=*)'}{flt})"
        scope = 0 if base else s.group_search_scope
        attrs = [s.group_attribute_name]
        found = self.search(conn, base or s.group_base_dn, full, scope, attrs)
        return [DirectoryGroup(dn, _first(a, s.group_attribute_name) or dn) for dn, a in found]

    def groups_of(self, conn: Connection, dn: str) -> list[DirectoryGroup]:
        """The user's groups, and the groups those groups belong to (nested).

        Membership is read both ways with the membership attribute: groups that list the
        member in it (OpenLDAP's `member`), and groups the member lists in it on its own
        entry (Active Directory's `memberOf`, Harbor's default).
        """
        if not self.settings.group_base_dn:
            return []
        found: dict[str, DirectoryGroup] = {}
        frontier = [dn]
        for _ in range(MAX_GROUP_DEPTH):
            candidates = self.find_groups(conn, self._members_filter(frontier))
            candidates += self._listed_groups(conn, frontier)
            new = list({g.dn.lower(): g for g in candidates if g.dn.lower() not in found}.values())
            found.update((g.dn.lower(), g) for g in new)
            frontier = [g.dn for g in new]
            if not frontier:
                break
        return list(found.values())

    def is_admin(self, conn: Connection, dn: str, groups: list[DirectoryGroup]) -> bool | None:
        """Whether the user (or one of its groups) is in the admin group; None if unset."""
        admin = self.settings.group_admin_dn
        if not admin:
            return None
        if any(g.dn.lower() == admin.lower() for g in groups):
            return True
        members = self._members_filter([dn, *(g.dn for g in groups)])
        return bool(self.find_groups(conn, members, base=admin))

    def _listed_groups(self, conn: Connection, dns: list[str]) -> list[DirectoryGroup]:
        """Groups under the group base DN named by the entries' own membership attribute."""
        attr = self.settings.group_membership_attribute
        base = self.settings.group_base_dn.lower()
        groups: list[DirectoryGroup] = []
        for dn in dns:
            for _dn, attrs in self.search(conn, dn, "(objectClass=*)", 0, [attr]):
                listed: Any = next((v for k, v in attrs.items() if k.lower() == attr.lower()), [])
                for group in listed if isinstance(listed, list) else [listed]:
                    if str(group).lower().endswith(base):
                        groups += self.find_groups(conn, "(objectClass=*)", base=str(group))
        return groups

    def _members_filter(self, dns: list[str]) -> str:
        attr = self.settings.group_membership_attribute
        return "(|" + "".join(f"({attr}={escape_filter_chars(d)})" for d in dns) + ")"


def _wrapped(flt: str) -> str:
    """A filter in parentheses (Harbor accepts `objectClass=person` without them)."""
    flt = flt.strip()
    return flt if not flt or flt.startswith("(") else f"({flt})"


def _first(attrs: dict[str, Any], name: str) -> str:
    for key, value in attrs.items():
        if key.lower() == name.lower():
            if isinstance(value, list):
                return str(value[0]) if value else ""
            return str(value)
    return ""


def check_login(settings: LdapSettings, username: str, password: str) -> DirectoryLogin | None:
    """The directory's view of a user whose password binds; None for bad credentials."""
    if not password:  # an empty password would be an anonymous bind, which always succeeds
        return None
    directory = LdapDirectory(settings)
    conn = directory.searcher()
    try:
        users = directory.find_users(conn, username)
        if len(users) != 1:
            if users:
                log.warning("ambiguous directory login", extra={"matches": len(users)})
            return None
        user_conn = directory.bind(users[0].dn, password)
        if user_conn is None:
            return None
        user_conn.unbind()
        groups = directory.groups_of(conn, users[0].dn)
        return DirectoryLogin(users[0], groups, directory.is_admin(conn, users[0].dn, groups))
    finally:
        conn.unbind()


async def directory_login(username: str, password: str) -> User | None:
    """UserService's directory hook: None unless auth_mode is ldap_auth and the bind holds.

    Reads the configuration at every call, so a change of mode or server applies at once.
    """
    values = await config.current()
    if values["auth_mode"] != config.LDAP_AUTH:
        return None
    found = await asyncio.to_thread(check_login, config.ldap_settings(values), username, password)
    if found is None:
        return None
    user = await sync_user(found)
    await sync_groups(user, found.groups)
    return user


async def sync_user(found: DirectoryLogin) -> User:
    """The local row of a directory user: created at first login, refreshed at each."""
    entry = found.user
    email = entry.email or None
    if email and await User.filter(email=email).exists():
        email = None  # the address belongs to someone else here; leave it unset
    await User.bulk_create(
        [User(username=entry.username, ldap_dn=entry.dn, realname=entry.realname, email=email)],
        ignore_conflicts=True,
    )
    changes: dict[str, Any] = {"ldap_dn": entry.dn, "realname": entry.realname}
    if found.admin is not None:  # with an admin group, the directory decides who is admin
        changes["sysadmin"] = found.admin
    await User.filter(username=entry.username, password_hash__isnull=True).update(**changes)
    return await User.get(username=entry.username)


async def sync_groups(user: User, groups: list[DirectoryGroup]) -> None:
    """Make the user's LDAP group memberships those the directory named now."""
    if groups:
        await UserGroup.bulk_create(
            [
                UserGroup(group_name=g.name, group_type=LDAP_GROUP, ldap_group_dn=g.dn)
                for g in groups
            ],
            ignore_conflicts=True,
        )
    dns = [g.dn for g in groups]
    ids = (
        set(await UserGroup.filter(ldap_group_dn__in=dns).values_list("id", flat=True))
        if dns
        else set()
    )
    if ids:
        await GroupMembership.bulk_create(
            [GroupMembership(user_id=user.id, group_id=i) for i in sorted(ids)],
            ignore_conflicts=True,
        )
    ldap_ids = await UserGroup.filter(group_type=LDAP_GROUP).values_list("id", flat=True)
    stale = [i for i in ldap_ids if i not in ids]
    if stale:
        await GroupMembership.filter(user_id=user.id, group_id__in=stale).delete()


async def ping(settings: LdapSettings) -> tuple[bool, str]:
    """(success, message) of binding with the search DN of settings."""

    def attempt() -> None:
        LdapDirectory(settings).searcher().unbind()

    try:
        await asyncio.to_thread(attempt)
    except DirectoryUnavailable as exc:
        return False, f"{exc.message}: {exc.detail['reason']}"
    return True, "the directory answered and accepted the search DN"


async def search_users(settings: LdapSettings, username: str | None) -> list[DirectoryUser]:
    """Directory users whose uid is username (all of them, up to a limit, for None)."""

    def run() -> list[DirectoryUser]:
        directory = LdapDirectory(settings)
        conn = directory.searcher()
        try:
            return directory.find_users(conn, username)
        finally:
            conn.unbind()

    return await asyncio.to_thread(run)


async def search_groups(
    settings: LdapSettings, name: str | None, dn: str | None
) -> list[DirectoryGroup]:
    """Directory groups named name (group attribute), or the group at dn."""

    def run() -> list[DirectoryGroup]:
        directory = LdapDirectory(settings)
        conn = directory.searcher()
        attr = settings.group_attribute_name
        value = escape_filter_chars(name) if name else "*"
        try:
            return directory.find_groups(conn, f"({attr}={value})", base=dn or None)
        finally:
            conn.unbind()

    return await asyncio.to_thread(run)


@dataclass(frozen=True, slots=True)
class FailedImport:
    """Harbor's LdapFailedImportUser: a uid and why it was not imported."""

    uid: str
    error: str


async def find_for_import(
    settings: LdapSettings, uids: list[str]
) -> tuple[list[DirectoryUser], list[FailedImport]]:
    """The directory users of uids (Harbor's importLdapUser), and the uids not found, and
    why. Only reads the directory: the caller records the users (`import_users`) in its
    own transaction, which must not wait on the directory."""

    def run() -> list[tuple[str, list[DirectoryUser]]]:
        directory = LdapDirectory(settings)
        conn = directory.searcher()
        try:
            return [(uid, directory.find_users(conn, uid) if uid else []) for uid in uids]
        finally:
            conn.unbind()

    users: list[DirectoryUser] = []
    failed: list[FailedImport] = []
    for uid, found in await asyncio.to_thread(run):
        if not uid:
            failed.append(FailedImport(uid, "empty_uid"))
        elif len(found) != 1:
            failed.append(FailedImport(uid, "unknown_user" if not found else "ambiguous_user"))
        else:
            users.append(found[0])
    return users, failed


async def import_users(users: list[DirectoryUser]) -> list[FailedImport]:
    """Record the local users of directory users, so they can be made members before their
    first login; a user known here already is refreshed, as a login would. The ones a local
    account's name is taken by, and why."""
    failed: list[FailedImport] = []
    for user in users:
        if await User.filter(username=user.username, password_hash__isnull=False).exists():
            failed.append(FailedImport(user.username, "a local user of that name exists"))
        else:
            await sync_user(DirectoryLogin(user, [], None))
    return failed
