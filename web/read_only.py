"""Read-only mode: while the `read_only` setting is on, every change through /v2 (blob
uploads, manifest PUTs, deletes, Content Trust data), through /api/v2.0 and through /hooks
(a CI trigger) is refused with 503 in that surface's error format; reads go on, and so does
the configuration change that turns the mode off (and the LDAP ping, a question by POST)."""

from __future__ import annotations

from quart import Quart, request

from access import config
from core.errors import ReadOnlyMode

_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_GUARDED = frozenset({"v2", "api", "hooks"})  # hooks: a CI trigger starts a replication
_ALLOWED = frozenset({"api.put_configurations", "api.ping_ldap"})


async def refuse_changes() -> None:
    """ReadOnlyMode for a change while the mode is on; one indexed read per change."""
    if request.method in _SAFE or request.blueprint not in _GUARDED:
        return
    if request.endpoint in _ALLOWED:
        return
    if await config.read_only():
        raise ReadOnlyMode()


def install(app: Quart) -> None:
    app.before_request(refuse_changes)
