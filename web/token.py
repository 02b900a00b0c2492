"""The token service of the Docker registry token spec: GET /service/token."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from quart import Blueprint, Response, current_app, request

from access.policy import Identity, allowed_actions
from web.auth import AuthServices, Caller, basic_credentials

token = Blueprint("token", __name__)


@token.route("/service/token", methods=["GET"])
async def issue_token() -> Response:
    """Authenticate (Basic, optional), filter the requested scopes through the caller's roles,
    and return a signed token with what is granted."""
    auth: AuthServices = current_app.extensions["auth"]
    caller = Caller(await _identity(auth))
    access = [await _grant(caller, scope) for scope in request.args.getlist("scope")]
    subject = caller.identity.username or ""
    signed, expires_in, issued_at = auth.tokens.issue(subject, [a for a in access if a])
    body = {
        "token": signed,
        "access_token": signed,
        "expires_in": expires_in,
        "issued_at": datetime.fromtimestamp(issued_at, UTC).isoformat().replace("+00:00", "Z"),
    }
    return Response(json.dumps(body), content_type="application/json")


async def _identity(auth: AuthServices) -> Identity:
    credentials = basic_credentials(request)
    if credentials is None:
        return Identity(address=request.remote_addr)
    return await auth.users.authenticate(*credentials, request.remote_addr)


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
