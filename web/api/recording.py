"""What web/api/robots.py still records its changes with, until robot changes move to
services/ like every other change: a thin wrapper over services.attempts.attempt."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from core import audit, events
from services import attempts
from web.api.calls import ApiCall

changes = audit.changes


@contextlib.asynccontextmanager
async def recorded(
    operation: str,
    resource_type: str,
    resource: str,
    *,
    project: str = "",
    project_id: int | None = None,
    description: str = "",
) -> AsyncIterator[audit.Event]:
    """One attempt of the current request, its event emitted when the body completes."""
    event = audit.Event(operation, resource_type, resource, project, project_id, description)
    async with attempts.attempt(ApiCall(), event) as op:
        yield event
        await events.emit(op.tx, event)


async def requested(key: str, limit: int = 255) -> str:
    """The string the request's body gives for key, or ""; for naming an attempt's target."""
    return await attempts.requested(ApiCall(), key, limit)
