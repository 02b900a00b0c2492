"""Quotas from the REST API: read them (system quota:list / quota:read) and change a
project's storage limit (system admins only, as in Harbor), audited as a change of the
project."""

from __future__ import annotations

from access.errors import InvalidInput
from access.policy import ADMIN_ONLY, Identity
from core import audit, events, quotas
from services.attempts import Call, attempt
from services.rights import require_system

LIST, READ = "quota:list", "quota:read"


def require(identity: Identity, permission: str) -> None:
    """The rights check of the quota reads (401 / 403)."""
    require_system(identity, permission)


async def update(call: Call, quota_id: int) -> None:
    """QuotaUpdateReq {"hard": {"storage": N}}: N bytes, -1 unlimited. A limit below the
    usage is kept (pushes are refused until space is given back). QuotaUnknown, 404."""
    event = audit.Event(audit.UPDATE, audit.PROJECT, f"quota {quota_id}")
    async with attempt(call, event) as op:
        require_system(op.caller, ADMIN_ONLY)
        limit = _requested_limit(await op.body())
        found = await quotas.get_quota(quota_id)
        event.resource = event.project = found.project_name
        event.project_id = found.project_id
        before = await quotas.set_hard(quota_id, limit, op.tx)
        event.description = audit.changes({"storage_limit": before}, {"storage_limit": limit})
        await events.emit(op.tx, event)


def _requested_limit(body: dict[str, object]) -> int:
    hard = body.get("hard")
    if not isinstance(hard, dict):
        raise InvalidInput('hard must be an object of resource limits, e.g. {"storage": -1}')
    unknown = sorted(str(k) for k in hard if k != quotas.STORAGE)
    if unknown:
        raise InvalidInput(f"hard.{unknown[0][:64]}: only the storage resource has a quota")
    if quotas.STORAGE not in hard:
        raise InvalidInput("hard.storage is required")
    return quotas.checked_limit(hard[quotas.STORAGE], "hard.storage")
