"""Project members: users and groups with a role in a project (Harbor's ProjectMember)."""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.exceptions import IntegrityError

from access.errors import AlreadyExists, InvalidInput, NotFound
from access.roles import Role
from models import ProjectMember, User, UserGroup

USER, GROUP = "u", "g"
LDAP_GROUP = 1  # Harbor's group_type for an LDAP group


class InvalidMember(InvalidInput):
    """A request that names no user or group, or a role outside 1..5: 400."""


class MemberNotFound(NotFound):
    """No such member in this project, or no such user or group to add: 404."""


class MemberExists(AlreadyExists):
    """The user or group is already a member of the project: 409."""


@dataclass(frozen=True, slots=True)
class MemberInfo:
    id: int
    project_id: int
    entity_type: str
    entity_id: int
    entity_name: str
    role: Role


@dataclass(frozen=True, slots=True)
class UserRef:
    """member_user of a request: by user_id, or else by username."""

    user_id: int | None = None
    username: str | None = None


@dataclass(frozen=True, slots=True)
class GroupRef:
    """member_group of a request: by id, or else by ldap_group_dn (created when new)."""

    id: int | None = None
    group_name: str | None = None
    group_type: int | None = None
    ldap_group_dn: str | None = None


def parse_role(role_id: object) -> Role:
    """The Role of a role_id in a request; InvalidMember for anything but 1..5."""
    if isinstance(role_id, bool) or not isinstance(role_id, int):
        raise InvalidMember("role_id must be an integer 1..5")
    try:
        return Role(role_id)
    except ValueError:
        raise InvalidMember(f"role_id {role_id} is not a role; use 1..5") from None


async def list_members(
    project_id: int, entity_name: str | None, offset: int, limit: int
) -> tuple[list[MemberInfo], int]:
    """A page of members (users first, then groups, by name), optionally matching a name part."""
    members = await _describe(await ProjectMember.filter(project_id=project_id).order_by("id"))
    if entity_name:
        members = [m for m in members if entity_name.lower() in m.entity_name.lower()]
    members.sort(key=lambda m: (m.entity_type != USER, m.entity_name))
    return members[offset : offset + limit], len(members)


async def get_member(project_id: int, member_id: int) -> MemberInfo:
    row = await ProjectMember.get_or_none(id=member_id, project_id=project_id)
    if row is None:
        raise MemberNotFound(f"member {member_id} not found in this project")
    return (await _describe([row]))[0]


async def add_member(
    project_id: int, role: Role, user: UserRef | None, group: GroupRef | None
) -> int:
    """Add a user or a group with a role; the new member's id."""
    if user is not None and (user.user_id is not None or user.username):
        entity_type, entity_id = USER, await _user_id(user)
    elif group is not None and (group.id is not None or group.ldap_group_dn):
        entity_type, entity_id = GROUP, await _group_id(group)
    else:
        raise InvalidMember("name a member_user (user_id or username) or a member_group")
    try:
        row = await ProjectMember.create(
            project_id=project_id, entity_type=entity_type, entity_id=entity_id, role=int(role)
        )
    except IntegrityError:
        raise MemberExists("already a member of this project") from None
    return row.id


async def update_member(project_id: int, member_id: int, role: Role) -> None:
    changed = await ProjectMember.filter(id=member_id, project_id=project_id).update(role=int(role))
    if not changed:
        raise MemberNotFound(f"member {member_id} not found in this project")


async def remove_member(project_id: int, member_id: int) -> None:
    removed = await ProjectMember.filter(id=member_id, project_id=project_id).delete()
    if not removed:
        raise MemberNotFound(f"member {member_id} not found in this project")


async def _user_id(ref: UserRef) -> int:
    if ref.user_id is not None:
        user = await User.get_or_none(id=ref.user_id)
    else:
        user = await User.get_or_none(username=ref.username)
    if user is None:
        raise MemberNotFound(f"user {ref.user_id or ref.username!r} not found")
    return user.id


async def _group_id(ref: GroupRef) -> int:
    """The group's id; an LDAP group named by its DN is recorded at its first use."""
    if ref.id is not None:
        group = await UserGroup.get_or_none(id=ref.id)
        if group is None:
            raise MemberNotFound(f"group {ref.id} not found")
        return group.id
    dn = ref.ldap_group_dn or ""
    name = ref.group_name or dn.split(",", 1)[0].partition("=")[2] or dn
    await UserGroup.bulk_create(
        [UserGroup(group_name=name, group_type=ref.group_type or LDAP_GROUP, ldap_group_dn=dn)],
        ignore_conflicts=True,
    )
    return (await UserGroup.get(ldap_group_dn=dn)).id


async def _describe(rows: list[ProjectMember]) -> list[MemberInfo]:
    """Rows with the names of their users and groups, in two queries."""
    user_ids = [r.entity_id for r in rows if r.entity_type == USER]
    group_ids = [r.entity_id for r in rows if r.entity_type == GROUP]
    users = dict(await User.filter(id__in=user_ids).values_list("id", "username"))
    groups = dict(await UserGroup.filter(id__in=group_ids).values_list("id", "group_name"))
    names = {USER: users, GROUP: groups}
    return [
        MemberInfo(
            id=r.id,
            project_id=r.project_id,
            entity_type=r.entity_type,
            entity_id=r.entity_id,
            entity_name=str(names.get(r.entity_type, {}).get(r.entity_id, "")),
            role=Role(r.role),
        )
        for r in rows
    ]
