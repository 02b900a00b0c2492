"""The token service of the Docker registry token spec: GET /service/token."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from quart import Blueprint, Response, current_app, request

from access.policy import Identity, allowed_actions
from web.auth import AuthServices, Caller, basic_identity, record_login
from web.params import api_time

token = Blueprint("token", __name__)


@token.route("/service/token", methods=["GET"])
async def issue_token() -> Response:
    """Authenticate (Basic, optional), filter the requested scopes through the caller's roles,
    and return a signed token with what is granted."""
    auth: AuthServices = current_app.extensions["auth"]
    caller = Caller(await _identity(auth))
    scopes = request.args.getlist("scope")
    if not scopes and not caller.identity.anonymous:
        # `docker login` asks for a token with no scope; a pull or push names what it wants
        # and is not a login of its own.
        await record_login(caller.identity.username or "")
    access = [await _grant(caller, scope) for scope in scopes]
    subject = caller.identity.username or ""
    signed, expires_in, issued_at = auth.tokens.issue(subject, [a for a in access if a])
    body = {
        "token": signed,
        "access_token": signed,
        "expires_in": expires_in,
        "issued_at": api_time(datetime.fromtimestamp(issued_at, UTC)),
    }
    return Response(json.dumps(body), content_type="application/json")


async def _identity(auth: AuthServices) -> Identity:
    """The caller of Basic credentials (a failure is a failed login), or nobody."""
    identity = await basic_identity(request, auth)
    return identity if identity is not None else Identity(address=request.remote_addr)


async def _grant(caller: Caller, scope: str) -> dict[str, Any] | None:
    """One access entry for a scope `type:name:actions`, or None when nothing is granted."""
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    wanted = {a for a in actions.split(",") if a}
    if kind == "registry" and name == "catalog":
        granted = wanted & {"*"} if not caller.identity.anonymous else set()
    elif kind == "repository" and name:
        granted = await allowed_actions(caller.identity, name, wanted)
    else:
        return None
    return {"type": kind, "name": name, "actions": sorted(granted)}
