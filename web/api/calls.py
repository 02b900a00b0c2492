"""A REST API request as the services see it (services.attempts.Call): who is calling and
what they sent, read when the service asks, so the rights check answers first."""

from __future__ import annotations

from typing import Any

from quart import request

from access.policy import Identity
from services.rights import ProjectRef
from web.api.common import current_identity, json_body


class ApiCall:
    """The current request (a handler makes one and hands it to one service call)."""

    @property
    def host(self) -> str | None:
        return request.host

    async def caller(self) -> Identity:
        return await current_identity()

    async def body(self) -> dict[str, Any]:
        return await json_body()


async def api_call() -> ApiCall:
    """The call, its body read off the socket first: a service reads it inside its
    transaction, which must not wait on a slow client."""
    await request.get_data(cache=True)
    return ApiCall()


def project_ref(ref: str) -> ProjectRef:
    """A path's {project_name_or_id}: by name when X-Is-Resource-Name says so or when it is
    not a number."""
    by_name = request.headers.get("X-Is-Resource-Name", "").lower() == "true"
    return ProjectRef(ref, by_name or not (ref.isascii() and ref.isdigit()))
