"""The system configuration: change settings, the authentication mode included."""

from __future__ import annotations

from access import config
from core import audit, events
from services.attempts import Call, attempt
from services.rights import require_system


async def update(call: Call) -> None:
    """Change the settings the body names (who holds configuration:update); auth_mode only on a
    database with no users or projects but the first ones."""
    event = audit.Event(audit.UPDATE, audit.CONFIGURATION, "configuration")
    async with attempt(call, event) as op:
        require_system(op.caller, "configuration:update")
        wanted = await op.body()
        # The changed keys with their values; secrets, and keys that are no setting (a
        # misspelt secret), are only named. Written first, so a refused change says it too.
        unknown = wanted.keys() - config.DEFAULTS.keys()
        hidden = config.SECRETS | unknown
        event.description = audit.changes(await config.current(), wanted, hidden=hidden)
        await config.update(wanted)
        await events.emit(op.tx, event)
