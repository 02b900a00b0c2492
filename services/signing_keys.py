"""A project's keys: rotate its signing key, trust a key or root made elsewhere, remove
one — each one attempt, one transaction with its event, and every artifact of the project
evaluated again (core.signatures.keys_changed). Reading them needs project:read (anyone,
on a public project); changing them project:update (Project Admin)."""

from __future__ import annotations

from access.roles import Permission
from core import audit, events, signatures, signing_keys
from models import ProjectKey
from models.errors import InvalidInput
from services.attempts import Call, attempt
from services.rights import ProjectRef, ProjectScope, project_scope, project_target
from signer.sealing import Sealer


async def readable(call: Call, ref: ProjectRef) -> ProjectScope:
    return await project_scope(await call.caller(), ref, Permission.PROJECT_READ)


async def rotate(call: Call, ref: ProjectRef, sealer: Sealer) -> ProjectKey:
    """A new active signing key; the former one retired, still trusted."""
    event = await _event(audit.UPDATE, ref, "signing key rotated")
    async with attempt(call, event) as op:
        scope = await project_scope(op.caller, ref, Permission.PROJECT_UPDATE)
        made = await signing_keys.rotate(scope.project.id, sealer)
        event.description = f"signing key rotated: {made.key_id} signs from now on"
        await signatures.keys_changed(op.tx, scope.project.id)
        await events.emit(op.tx, event)
    return made


async def trust(call: Call, ref: ProjectRef) -> ProjectKey:
    """Trust the body's key: {"kind": "cosign" | "notation-root", "name", "public_key"}."""
    event = await _event(audit.CREATE, ref, "key trusted")
    async with attempt(call, event) as op:
        scope = await project_scope(op.caller, ref, Permission.PROJECT_UPDATE)
        body = await op.body()
        kind, name, pem = body.get("kind"), body.get("name", ""), body.get("public_key")
        if not isinstance(kind, str) or not isinstance(pem, str) or not isinstance(name, str):
            raise InvalidInput("kind and public_key are required strings; name is a string")
        made = await signing_keys.trust(scope.project.id, kind, name[:128], pem)
        event.description = f"{kind} key {made.key_id} trusted"
        await signatures.keys_changed(op.tx, scope.project.id)
        await events.emit(op.tx, event)
    return made


async def untrust(call: Call, ref: ProjectRef, row_id: int) -> None:
    """Remove a trusted key or a retired signing key; signatures by it no longer count."""
    event = await _event(audit.DELETE, ref, "key removed")
    async with attempt(call, event) as op:
        scope = await project_scope(op.caller, ref, Permission.PROJECT_UPDATE)
        gone = await signing_keys.untrust(scope.project.id, row_id)
        event.description = f"{gone.kind} key {gone.key_id} removed"
        await signatures.keys_changed(op.tx, scope.project.id)
        await events.emit(op.tx, event)


async def _event(operation: str, ref: ProjectRef, description: str) -> audit.Event:
    name, project_id = await project_target(ref)
    return audit.Event(
        operation, audit.SIGNING_KEY, name, project=name, project_id=project_id,
        description=description,
    )  # fmt: skip
