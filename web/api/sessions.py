"""Sign-in for the API and the dashboard: POST /c/login, GET /c/log_out, the CSRF token.

Placeholder store until the API work lands: no sessions yet, so only Basic auth works.
"""

from __future__ import annotations

from quart import Request

from access.policy import Identity


class SessionStore:
    """Resolves a session cookie to an identity."""

    async def identity(self, request: Request) -> Identity | None:
        return None
