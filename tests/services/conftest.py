"""The services against a real database (a SQLite file, and PostgreSQL), no server: callers
are built as the web would resolve them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from access.errors import InvalidInput
from access.policy import Identity
from core import audit
from core.projects import ensure_default_project
from models import AuditEvent, User, close_database, open_database
from tests.support import postgres_database, require


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty Berth database with its `library` project."""
    sqlite = f"sqlite://{tmp_path / 'berth.db'}"
    with postgres_database() if request.param == "postgres" else _given(sqlite) as url:
        require(url is not None, "PostgreSQL is not running on 127.0.0.1:5432")
        await open_database(str(url))
        await ensure_default_project()
        audit.begin_request("192.0.2.7", "services-test/1.0")
        try:
            yield str(url)
        finally:
            await close_database()


class _given:
    def __init__(self, url: str) -> None:
        self.url = url

    def __enter__(self) -> str:
        return self.url

    def __exit__(self, *exc: object) -> None:
        return None


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
