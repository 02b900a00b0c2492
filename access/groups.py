"""User groups (Harbor's UserGroup): the table LDAP logins fill and group members point to.

A group is of one type: LDAP (named by its DN, unique), HTTP or OIDC (named by group_name,
unique within its type). Creating an LDAP group asks the directory, when one is configured,
whether the DN exists; a group found at login is recorded by access.ldap itself. Deleting a
group removes its project memberships and its users' memberships of it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from access import config, ldap
from access.errors import AlreadyExists, InvalidInput, NotFound
from models import GroupMembership, ProjectMember, UserGroup

LDAP, HTTP, OIDC = 1, 2, 3
GROUP_TYPES = (LDAP, HTTP, OIDC)
MAX_NAME = 255
MAX_DN = 512


class GroupNotFound(NotFound):
    def __init__(self, group_id: int) -> None:
        super().__init__(f"the user group with id {group_id} is not found")


class GroupExists(AlreadyExists):
    """A group of that DN (LDAP) or of that name and type (HTTP, OIDC) exists: 409."""


@dataclass(frozen=True, slots=True)
class NewGroup:
    group_name: str
    group_type: int
    ldap_group_dn: str = ""


@dataclass(frozen=True, slots=True)
class GroupFilter:
    """listUserGroups' filters: a part of the name, an exact DN, a type."""

    name: str | None = None
    ldap_group_dn: str | None = None
    group_type: int | None = None


def parse_new(body: dict[str, object]) -> NewGroup:
    """A NewGroup from a UserGroup body; InvalidInput naming the field."""
    kind = body.get("group_type", LDAP)
    if isinstance(kind, bool) or kind not in GROUP_TYPES:
        raise InvalidInput("group_type must be 1 (LDAP), 2 (HTTP) or 3 (OIDC)")
    name = _text(body, "group_name", MAX_NAME)
    dn = _text(body, "ldap_group_dn", MAX_DN).strip()
    if kind == LDAP and not dn:
        raise InvalidInput("ldap_group_dn is required for an LDAP group")
    if kind != LDAP and dn:
        raise InvalidInput("ldap_group_dn is only for an LDAP group (group_type 1)")
    if not name and kind != LDAP:
        raise InvalidInput("group_name is required")
    return NewGroup(name, int(kind), dn)


def parse_name(body: dict[str, object]) -> str:
    """updateUserGroup's group_name (the only field it changes)."""
    name = _text(body, "group_name", MAX_NAME)
    if not name:
        raise InvalidInput("group_name is required")
    return name


def _text(body: dict[str, object], key: str, limit: int) -> str:
    value = body.get(key) or ""
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidInput(f"{key} must be a string of at most {limit} characters")
    return value


async def checked(new: NewGroup) -> NewGroup:
    """new with its name: an LDAP group's DN is looked up in the directory when one is set
    (InvalidInput when it has no such group) and names the group when the caller did not.
    Only reads the directory, so it runs before the creating transaction."""
    if new.group_type != LDAP:
        return new
    found = await _directory_group(new.ldap_group_dn)
    name = new.group_name or (found.name if found else _rdn_value(new.ldap_group_dn))
    return NewGroup(name, new.group_type, new.ldap_group_dn)


async def create(new: NewGroup) -> UserGroup:
    """A new group from a `checked` NewGroup; GroupExists for a duplicate."""
    name = new.group_name
    if new.group_type == LDAP:
        if await UserGroup.exists(ldap_group_dn=new.ldap_group_dn):
            raise GroupExists(f"a group with ldap_group_dn {new.ldap_group_dn!r} exists already")
    elif await UserGroup.exists(group_name=name, group_type=new.group_type):
        raise GroupExists(f"a group named {name!r} of type {new.group_type} exists already")
    try:
        return await UserGroup.create(
            group_name=name, group_type=new.group_type, ldap_group_dn=new.ldap_group_dn or None
        )
    except IntegrityError:  # a login recorded the same DN meanwhile
        raise GroupExists(f"a group with ldap_group_dn {new.ldap_group_dn!r} exists") from None


async def _directory_group(dn: str) -> ldap.DirectoryGroup | None:
    """The directory's group at dn; None without a directory. InvalidInput when absent."""
    settings = config.ldap_settings(await config.current())
    if not settings.url:
        return None
    groups = await ldap.search_groups(settings, None, dn)
    if not groups:
        raise InvalidInput(f"LDAP group DN is not found: DN: {dn}")
    return groups[0]


def _rdn_value(dn: str) -> str:
    return dn.split(",", 1)[0].partition("=")[2] or dn


async def get(group_id: int) -> UserGroup:
    group = await UserGroup.get_or_none(id=group_id)
    if group is None:
        raise GroupNotFound(group_id)
    return group


async def list_groups(flt: GroupFilter, offset: int, limit: int) -> tuple[list[UserGroup], int]:
    """A page of groups by id, and how many match."""
    rows = UserGroup.all()
    if flt.name:
        rows = rows.filter(group_name__icontains=flt.name)
    if flt.ldap_group_dn:
        rows = rows.filter(ldap_group_dn=flt.ldap_group_dn)
    if flt.group_type is not None:
        rows = rows.filter(group_type=flt.group_type)
    return list(await rows.order_by("id").offset(offset).limit(limit)), await rows.count()


async def rename(group_id: int, name: str) -> UserGroup:
    group = await get(group_id)
    group.group_name = name
    await group.save(update_fields=["group_name"])
    return group


async def delete(group_id: int) -> UserGroup:
    """Remove the group, its project memberships and its users' memberships of it."""
    group = await get(group_id)
    async with in_transaction():
        await ProjectMember.filter(entity_type="g", entity_id=group_id).delete()
        await GroupMembership.filter(group_id=group_id).delete()
        await UserGroup.filter(id=group_id).delete()
    return group


async def type_of_mode() -> int | None:
    """The group type listUserGroups shows under the auth mode (Harbor: LDAP groups under
    ldap_auth, HTTP groups under http_auth; every group otherwise)."""
    mode = (await config.current())["auth_mode"]
    return {config.LDAP_AUTH: LDAP, "http_auth": HTTP}.get(str(mode))
