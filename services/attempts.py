"""One attempt at an operation: who is calling, what they sent, and the transaction.

    event = audit.Event(audit.DELETE, audit.PROJECT, name, project=name)
    async with attempt(call, event) as op:
        ...                          # the rights check, the change (op.caller, op.body())
        await events.emit(op.tx, event)

The caller is resolved before the transaction opens: a wrong password's throttle count must
not roll back with the operation, and it is recorded as the failed login it is, not as a
failed attempt by nobody. Anything else that goes wrong, the rights check first, is recorded
as the operation's failed event.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from access.errors import LOGIN_FAILURES
from access.policy import Identity
from core import audit, events


class Call(Protocol):
    """What an entry point knows of one call, read when the service is ready for it: the
    rights check comes before any complaint about the body."""

    @property
    def host(self) -> str | None:
        """The registry's address as the caller named it (for URLs in webhook events)."""
        ...

    async def caller(self) -> Identity:
        """Who is calling; AuthenticationFailed, LoginThrottled or DirectoryUnavailable
        when their credentials do not hold, another error when the call is refused."""
        ...

    async def body(self) -> dict[str, Any]:
        """The JSON object the caller sent; an InvalidInput-kind error for anything else."""
        ...


@dataclass(frozen=True, slots=True)
class Attempt:
    caller: Identity
    tx: events.Tx
    call: Call

    async def body(self) -> dict[str, Any]:
        return await self.call.body()


@contextlib.asynccontextmanager
async def attempt(call: Call, event: audit.Event) -> AsyncIterator[Attempt]:
    """The caller, then the operation's transaction (core.events.recorded): the body must
    emit event; if it raises, its failed event is recorded instead."""
    try:
        caller = await call.caller()
    except LOGIN_FAILURES:
        raise  # recorded as the failed login it is; nobody known attempted the operation
    except Exception as exc:  # e.g. a session request without its CSRF token
        await audit.record_failure(event, exc)
        raise
    async with events.recorded(event) as tx:
        yield Attempt(caller, tx, call)


async def peeked(call: Call) -> dict[str, Any]:
    """The body, or {} when it is none: names the target of an attempt before the rights
    check, whose answer must come before any complaint about the body."""
    try:
        return await call.body()
    except Exception:
        return {}


async def requested(call: Call, key: str, limit: int = 255) -> str:
    """The string the body gives for key, or ""; for naming an attempt's target."""
    value = (await peeked(call)).get(key)
    return value.strip()[:limit] if isinstance(value, str) else ""
