"""What every /v2 handler receives: the parsed path, the services and the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from quart import Request, g

from access.policy import Action, Identity, check_repository
from core.errors import Denied, SizeInvalid
from core.service import Registry


@dataclass(slots=True)
class V2Request:
    request: Request
    registry: Registry
    identity: Identity
    name: str  # repository name
    project: str
    arg: str  # digest, reference or upload id, by route
    max_manifest_bytes: int

    def authorize(self, action: Action) -> None:
        """The one access check of the /v2 API."""
        if not check_repository(self.identity, self.name, action):
            raise Denied()

    def header_int(self, header: str) -> int | None:
        value = self.request.headers.get(header)
        if value is None or value == "":
            return None
        if not value.isdigit():
            raise SizeInvalid(f"{header} must be a non-negative integer")
        return int(value)

    async def body(self) -> AsyncIterator[bytes]:
        """The request body as it arrives; never held whole in memory."""
        async for data in self.request.body:
            if data:
                yield data
        g.body_read = True

    def location(self, suffix: str) -> str:
        return f"/v2/{self.name}/{suffix}"
