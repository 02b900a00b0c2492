"""What every /v2 handler receives: the parsed path, the services and the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from quart import Request, current_app

from access.policy import Action, check_repository, denial_reason
from core.errors import Denied, SizeInvalid, Unauthorized
from core.service import Registry
from web.auth import Caller, challenge

# What a client should ask the token service for, by the action a route needs.
_SCOPE_ACTIONS = {Action.PULL: "pull", Action.PUSH: "pull,push", Action.DELETE: "delete"}


@dataclass(slots=True)
class V2Request:
    request: Request
    registry: Registry
    caller: Caller
    token_service: str
    name: str  # repository name
    project: str
    arg: str  # digest, reference or upload id, by route
    max_manifest_bytes: int
    redirect_seconds: int | None = None  # storage.redirect: blob GETs go to presigned URLs

    async def authorize(self, action: Action) -> None:
        """The one access check of the /v2 API, against the roles as they are now.

        Anonymous callers are sent to the token service (401 + challenge); a signed-in caller
        whose role lacks the action is denied (403, naming the role it needs); a token that
        lacks an action the role allows is sent back for a new token (401, insufficient_scope).
        """
        identity = self.caller.identity
        if not await check_repository(identity, self.name, action):
            if identity.anonymous:
                raise Unauthorized(challenge=self.challenge(action))
            # A reason of our own, not the spec's stock text: dockerd takes that text back
            # as a bare code and retries the upload five times, a minute in all.
            raise Denied(denial_reason(identity, self.name, action))
        token = self.caller.token
        if token is not None and not {action.value, "*"} & token.actions_for(self.name):
            raise Unauthorized(
                "the token does not grant this action",
                challenge=self.challenge(action, "insufficient_scope"),
            )

    def wake_jobs(self) -> None:
        """A commit enqueued a job: dispatch it now rather than at the next tick."""
        jobs = current_app.extensions.get("jobs")
        if jobs is not None:
            jobs.wake()

    def challenge(self, action: Action, error: str | None = None) -> str:
        scope = f"repository:{self.name}:{_SCOPE_ACTIONS[action]}"
        return challenge(self.request, self.token_service, scope, error)

    def header_int(self, header: str) -> int | None:
        value = self.request.headers.get(header)
        if value is None or value == "":
            return None
        if not (value.isascii() and value.isdigit()):
            raise SizeInvalid(f"{header} must be a non-negative integer")
        return int(value)

    async def body(self) -> AsyncIterator[bytes]:
        """The request body as it arrives; never held whole in memory."""
        async for data in self.request.body:
            if data:
                yield data

    def location(self, suffix: str) -> str:
        return f"/v2/{self.name}/{suffix}"
