"""What the service tests hand a service: a call as an entry point would, callers as the
web would resolve them; and what they read back (the audit rows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from access.errors import InvalidInput
from access.policy import Identity
from core import audit
from models import AuditEvent, User


@dataclass
class GivenCall:
    """A call as an entry point hands it to a service: the caller, and what they sent."""

    identity: Identity
    sent: Any = None
    host: str | None = "registry.test"
    asked: list[str] = field(default_factory=list)

    async def caller(self) -> Identity:
        self.asked.append("caller")
        audit.identify(self.identity.username)  # as web/auth.py does when it resolves one
        return self.identity

    async def body(self) -> dict[str, Any]:
        self.asked.append("body")
        if not isinstance(self.sent, dict):
            raise InvalidInput("the body must be a JSON object")
        return self.sent


async def a_user(name: str, sysadmin: bool = False) -> Identity:
    """A local user, as the caller the web would resolve for them."""
    user = await User.create(username=name, email=f"{name}@example.com", sysadmin=sysadmin)
    return Identity(username=name, user_id=user.id, sysadmin=sysadmin)


async def events_of(resource_type: str) -> list[AuditEvent]:
    """The audit rows of a resource type, oldest first."""
    return await AuditEvent.filter(resource_type=resource_type).order_by("id")
