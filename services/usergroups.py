"""User groups and LDAP user import: create, rename, delete a group; import directory users.

Each is one attempt (services.attempts): the system-level right first ("user-group:create",
"ldap-user:create", ...), then the body, then the change and its audit event together.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from access import config, groups, ldap
from access.errors import LOGIN_FAILURES, InvalidInput
from core import audit, events
from models.errors import NotFound, PreconditionFailed
from services.attempts import Call, attempt, requested
from services.rights import require_system

MAX_IMPORT = 100  # uids one import may name
T = TypeVar("T")


async def create(call: Call) -> int:
    """A new group from a UserGroup body; its id."""
    name = await requested(call, "group_name") or await requested(call, "ldap_group_dn", 512)
    event = audit.Event(audit.CREATE, audit.USER_GROUP, name)
    new = await _before_writing(call, event, "user-group:create", _checked_group)
    async with attempt(call, event) as op:
        require_system(op.caller, "user-group:create")
        group = await groups.create(new)
        event.resource = group.group_name
        event.description = f"group_type: {group.group_type}"
        if group.ldap_group_dn:
            event.description += f", ldap_group_dn: {audit.shown(group.ldap_group_dn)}"
        await events.emit(op.tx, event)
    return int(group.id)


async def rename(call: Call, group_id: int) -> None:
    event = audit.Event(audit.UPDATE, audit.USER_GROUP, f"group {group_id}")
    async with attempt(call, event) as op:
        require_system(op.caller, "user-group:update")
        before = await groups.get(group_id)
        name = groups.parse_name(await op.body())
        await groups.rename(group_id, name)
        event.resource = name
        event.description = audit.changes({"group_name": before.group_name}, {"group_name": name})
        await events.emit(op.tx, event)


async def delete(call: Call, group_id: int) -> None:
    """Delete the group with its project memberships."""
    event = audit.Event(audit.DELETE, audit.USER_GROUP, f"group {group_id}")
    async with attempt(call, event) as op:
        require_system(op.caller, "user-group:delete")
        event.resource = (await groups.delete(group_id)).group_name
        await events.emit(op.tx, event)


class ImportIncomplete(NotFound):
    """Some uids were not imported (the others were): 404 naming them, and in detail each
    with its reason (Harbor's LdapFailedImportUser list)."""

    def __init__(self, failed: list[ldap.FailedImport]) -> None:
        named = ", ".join(f"{f.uid or '(empty)'} ({f.error})" for f in failed[:20])
        super().__init__(
            f"not imported: {named}", {"failed": [{"uid": f.uid, "error": f.error} for f in failed]}
        )


async def import_ldap_users(call: Call) -> None:
    """Harbor's importLdapUser ({"ldap_uid_list": [...]}); ImportIncomplete, after the
    others are imported, when some uids were not."""
    event = audit.Event(audit.CREATE, audit.USER, "ldap users")
    found, failed = await _before_writing(call, event, "ldap-user:create", _directory_users)
    async with attempt(call, event) as op:
        require_system(op.caller, "ldap-user:create")
        failed += await ldap.import_users(found)
        missed = {f.uid for f in failed}
        imported = [u.username for u in found if u.username not in missed]
        event.resource = ", ".join(imported)[:1024] or "none"
        event.description = f"imported from the directory: {len(imported)} users"
        await events.emit(op.tx, event)
    if failed:
        raise ImportIncomplete(failed)


async def _before_writing(
    call: Call,
    event: audit.Event,
    permission: str,
    read: Callable[[dict[str, Any]], Awaitable[T]],
) -> T:
    """The rights, then read(body) outside any transaction: the directory may take its
    timeout to answer, and SQLite's write lock must not wait on it. A refusal or a failure
    is recorded as the attempt's failed event, as `attempt` records it."""
    try:
        require_system(await call.caller(), permission)
        return await read(await call.body())
    except LOGIN_FAILURES:
        raise
    except Exception as exc:
        await audit.record_failure(event, exc)
        raise


async def _checked_group(body: dict[str, Any]) -> groups.NewGroup:
    return await groups.checked(groups.parse_new(body))


async def _directory_users(
    body: dict[str, Any],
) -> tuple[list[ldap.DirectoryUser], list[ldap.FailedImport]]:
    uids = _uids(body.get("ldap_uid_list"))
    settings = config.ldap_settings(await config.current())
    if not settings.url:
        raise PreconditionFailed("no directory is configured: set ldap_url first")
    return await ldap.find_for_import(settings, uids)


def _uids(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput("ldap_uid_list must be a list of strings")
    if len(value) > MAX_IMPORT or any(len(v) > groups.MAX_NAME for v in value):
        raise InvalidInput(f"ldap_uid_list: at most {MAX_IMPORT} uids of 255 characters")
    return list(dict.fromkeys(value))
