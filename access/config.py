"""System configuration: the authentication mode, the LDAP settings, self-registration.

Values live in `config_entry` rows, one per key, and are read on every use (a login, a
ping), so a change made through the API applies at once in every server process.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from tortoise.transactions import in_transaction

from access.errors import InvalidInput
from models import ConfigEntry, Project, User, fetch

log = logging.getLogger("berth.access")

DB_AUTH, LDAP_AUTH = "db_auth", "ldap_auth"
AUTH_MODES = (DB_AUTH, LDAP_AUTH)
SECRETS = frozenset({"ldap_search_password"})  # written, never read back nor logged

# key -> default; the default's type is the type a value must have.
DEFAULTS: dict[str, str | int | bool] = {
    "auth_mode": DB_AUTH,
    "self_registration": False,
    "ldap_url": "",
    "ldap_search_dn": "",
    "ldap_search_password": "",
    "ldap_base_dn": "",
    "ldap_filter": "",
    "ldap_uid": "uid",
    "ldap_scope": 2,
    "ldap_verify_cert": True,
    "ldap_timeout": 5,
    "ldap_group_base_dn": "",
    "ldap_group_search_filter": "",
    "ldap_group_attribute_name": "cn",
    # the attribute of a group entry that names its members' DNs (member, uniqueMember)
    "ldap_group_membership_attribute": "member",
    "ldap_group_admin_dn": "",
    "ldap_group_search_scope": 2,
    # quotas (core/quotas.py): a new project's storage limit in bytes (-1: unlimited)
    "storage_per_project": -1,
    # read-only mode: every push and delete refused with 503, pulls served (web/read_only.py)
    "read_only": False,
}
SCOPES = (0, 1, 2)  # base, one level, subtree


class ConfigInvalid(InvalidInput):
    """A configuration change that cannot be applied: 400 with the reason."""


@dataclass(frozen=True, slots=True)
class LdapSettings:
    """How to reach the directory and where users and groups are found in it."""

    url: str
    search_dn: str = ""
    search_password: str = field(default="", repr=False)  # never in logs or reprs
    base_dn: str = ""
    filter: str = ""
    uid: str = "uid"
    scope: int = 2
    verify_cert: bool = True
    timeout: int = 5
    group_base_dn: str = ""
    group_search_filter: str = ""
    group_attribute_name: str = "cn"
    group_membership_attribute: str = "member"
    group_admin_dn: str = ""
    group_search_scope: int = 2


async def current() -> dict[str, Any]:
    """Every key with its value: the stored one, or the default."""
    values: dict[str, Any] = dict(DEFAULTS)
    for entry in await ConfigEntry.filter(key__in=list(DEFAULTS)):
        values[entry.key] = entry.value
    return values


_READ_ONLY = "SELECT value FROM config_entry WHERE key = 'read_only'"


async def read_only() -> bool:
    """Whether the system is in read-only mode; one indexed read (asked by every change)."""
    rows = await fetch(_READ_ONLY)
    return bool(rows) and rows[0][0] in (True, "true")


def ldap_settings(values: dict[str, Any]) -> LdapSettings:
    """The LDAP settings among configuration values (keys `ldap_*`)."""
    names = LdapSettings.__dataclass_fields__
    return LdapSettings(
        **{k[5:]: v for k, v in values.items() if k[5:] in names and k[:5] == "ldap_"}
    )


async def auth_mode_switchable() -> bool:
    """The mode may change only while nobody but `admin` and nothing but `library` exist."""
    others = await User.exclude(username="admin").exists()
    projects = await Project.exclude(name="library").exists()
    return not others and not projects


async def public_view() -> dict[str, dict[str, Any]]:
    """Harbor's GET shape, {key: {value, editable}}, without the secrets."""
    values = await current()
    switchable = await auth_mode_switchable()
    return {
        key: {"value": value, "editable": key != "auth_mode" or switchable}
        for key, value in values.items()
        if key not in SECRETS
    }


def validate(changes: dict[str, Any]) -> dict[str, Any]:
    """The changes, checked key by key; ConfigInvalid names the first bad one."""
    for key, value in changes.items():
        if key not in DEFAULTS:
            raise ConfigInvalid(f"unknown configuration key: {key}")
        expected = type(DEFAULTS[key])
        if type(value) is not expected:  # bool is an int in Python: compare exactly
            raise ConfigInvalid(f"{key} must be {_TYPE_NAMES[expected]}")
    _check_ranges(changes)
    return changes


_TYPE_NAMES = {str: "a string", int: "an integer", bool: "a boolean"}


def _check_ranges(changes: dict[str, Any]) -> None:
    if "auth_mode" in changes and changes["auth_mode"] not in AUTH_MODES:
        raise ConfigInvalid(f"auth_mode must be one of {', '.join(AUTH_MODES)}")
    for key in ("ldap_scope", "ldap_group_search_scope"):
        if key in changes and changes[key] not in SCOPES:
            raise ConfigInvalid(f"{key} must be 0 (base), 1 (one level) or 2 (subtree)")
    if "ldap_timeout" in changes and not 1 <= changes["ldap_timeout"] <= 300:
        raise ConfigInvalid("ldap_timeout must be 1..300 seconds")
    limit = changes.get("storage_per_project", -1)
    if limit != -1 and not 0 < limit <= 1024**5:
        raise ConfigInvalid("storage_per_project must be -1 (unlimited) or 1..1024 TiB in bytes")
    url = changes.get("ldap_url")
    if url and not url.lower().startswith(("ldap://", "ldaps://")):
        raise ConfigInvalid("ldap_url must start with ldap:// or ldaps://")


async def update(changes: dict[str, Any]) -> None:
    """Store validated changes; a change of auth_mode only while the rule allows it."""
    validate(changes)
    values = await current()
    mode = changes.get("auth_mode", values["auth_mode"])
    if mode != values["auth_mode"] and not await auth_mode_switchable():
        raise ConfigInvalid(
            "auth_mode cannot be changed: the database already holds users other than"
            " admin or projects other than library"
        )
    async with in_transaction():
        for key, value in changes.items():
            await _store(key, value)
    log.info("configuration changed", extra={"keys": sorted(changes)})  # keys only: no secrets


async def _store(key: str, value: object) -> None:
    # Write first, never read-then-write (SQLite). Tortoise reads a str given for a JSON
    # field as JSON text, so the row is made with a placeholder and set to the encoded value.
    await ConfigEntry.bulk_create([ConfigEntry(key=key, value=0)], ignore_conflicts=True)
    await ConfigEntry.filter(key=key).update(value=json.dumps(value))


# Harbor's LdapConf (the ping body) names the timeout differently from the configuration.
_PING_ALIASES = {"ldap_connection_timeout": "ldap_timeout"}


def overridden(values: dict[str, Any], overrides: dict[str, Any]) -> LdapSettings:
    """LDAP settings from stored values with some ldap_* keys replaced (to test them first)."""
    changes = {_PING_ALIASES.get(k, k): v for k, v in overrides.items()}
    if any(not key.startswith("ldap_") for key in changes):
        raise ConfigInvalid("only ldap_* settings may be given here")
    return ldap_settings({**values, **validate(changes)})
