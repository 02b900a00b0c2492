"""The token service of the Docker registry token spec at /service/token.

`GET` takes Basic credentials (or none), as Docker asks. `POST` is the spec's OAuth2 form
(application/x-www-form-urlencoded), which containerd, BuildKit, nerdctl and the kubelet use
when they hold credentials: `grant_type=password` with `username` and `password`, or
`grant_type=refresh_token` with a `refresh_token` that an earlier `access_type=offline`
answer carried. Errors follow Distribution's token server: 400 for a form it cannot take,
401 for credentials or a refresh token that do not hold.
"""

from __future__ import annotations

import json
import urllib.parse
from datetime import UTC, datetime
from typing import Any

from quart import Blueprint, Response, current_app, request

from access.errors import AuthenticationFailed, InvalidInput
from access.policy import Identity, allowed_actions
from web.auth import (
    AuthServices,
    Caller,
    basic_identity,
    check_credentials,
    note_failed_login,
    record_login,
)
from web.params import api_time

token = Blueprint("token", __name__)

FORM = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 64 * 1024  # a form of a few credentials and scopes; never held larger


@token.route("/service/token", methods=["GET"])
async def issue_token() -> Response:
    """Authenticate (Basic, optional), filter the requested scopes through the caller's roles,
    and return a signed token with what is granted."""
    auth: AuthServices = current_app.extensions["auth"]
    caller = Caller(await _identity(auth))
    scopes = split_scopes(request.args.getlist("scope"))
    if not scopes and not caller.identity.anonymous:
        # `docker login` asks for a token with no scope; a pull or push names what it wants
        # and is not a login of its own.
        await record_login(caller.identity.username or "")
    return await _answer(auth, caller, scopes, service=request.args.get("service"))


@token.route("/service/token", methods=["POST"])
async def issue_token_oauth() -> Response:
    """The OAuth2 form: a token for a password or a refresh token, and with
    access_type=offline a refresh token too."""
    auth: AuthServices = current_app.extensions["auth"]
    form = await _form()
    grant = _required(form, "grant_type")
    _required(form, "service")
    _required(form, "client_id")  # the spec requires it; it only names the client
    offline = _offline(form)
    scopes = split_scopes(form.get("scope", []))
    if grant == "password":
        username, password = _required(form, "username"), _required(form, "password")
        identity = await check_credentials(auth, username, password, request.remote_addr)
        subject = identity.username or ""
        if not scopes or offline:  # a sign-in of its own, as `docker login` is
            await record_login(subject)
        refresh = await _new_refresh(auth, subject) if offline else None
    elif grant == "refresh_token":
        refresh = _required(form, "refresh_token")
        identity = await _redeem(auth, refresh)
    else:
        raise InvalidInput("grant_type must be password or refresh_token")
    service = form.get("service", [""])[0]
    return await _answer(auth, Caller(identity), scopes, refresh, oauth=True, service=service)


def split_scopes(values: list[str]) -> list[str]:
    """The scopes of repeated `scope` parameters, each of which may list several separated
    by spaces (the spec's scope list)."""
    return [scope for value in values for scope in value.split()]


async def _answer(
    auth: AuthServices,
    caller: Caller,
    scopes: list[str],
    refresh: str | None = None,
    oauth: bool = False,
    service: str | None = None,
) -> Response:
    notary = service == auth.tokens.notary_service
    access = [a for a in [await _grant(caller, scope, notary) for scope in scopes] if a]
    subject = caller.identity.username or ""
    signed, expires_in, issued_at = auth.tokens.issue(
        subject, access, auth.tokens.audience(service)
    )
    body: dict[str, Any] = {
        "token": signed,
        "access_token": signed,
        "expires_in": expires_in,
        "issued_at": api_time(datetime.fromtimestamp(issued_at, UTC)),
    }
    if oauth:  # the OAuth2 answer names what it granted
        granted = [a for a in access if a["actions"]]
        body["scope"] = " ".join(
            f"{a['type']}:{a['name']}:{','.join(a['actions'])}" for a in granted
        )
    if refresh is not None:
        body["refresh_token"] = refresh
    return Response(json.dumps(body), content_type="application/json")


async def _identity(auth: AuthServices) -> Identity:
    """The caller of Basic credentials (a failure is a failed login), or nobody."""
    identity = await basic_identity(request, auth)
    return identity if identity is not None else Identity(address=request.remote_addr)


async def _new_refresh(auth: AuthServices, subject: str) -> str | None:
    """A refresh token for subject; None for an account whose secret Berth does not hold
    (the client then keeps its credentials, as the spec allows)."""
    binding = await auth.users.refresh_binding(subject)
    return None if binding is None else auth.tokens.issue_refresh(subject, binding)


async def _redeem(auth: AuthServices, refresh: str) -> Identity:
    """The identity of a refresh token; a refused one is a failed login of its subject."""
    subject = ""
    try:
        subject, binding = auth.tokens.verify_refresh(refresh)
        return await auth.users.redeem_refresh(subject, binding, request.remote_addr)
    except AuthenticationFailed as exc:
        note_failed_login(subject, exc)
        raise


async def _form() -> dict[str, list[str]]:
    """The request's url-encoded form; InvalidInput for anything else."""
    if request.mimetype != FORM:
        raise InvalidInput(f"the body must be {FORM}")
    body = bytearray()
    async for chunk in request.body:
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise InvalidInput(f"the form is larger than {MAX_FORM_BYTES} bytes")
    try:
        fields = urllib.parse.parse_qs(
            body.decode(), keep_blank_values=True, errors="strict", max_num_fields=100
        )
    except ValueError:  # invalid UTF-8 (a UnicodeDecodeError), or too many fields
        raise InvalidInput("the form is not valid url-encoded UTF-8") from None
    if any("\0" in text for key, values in fields.items() for text in (key, *values)):
        raise InvalidInput("the form contains a NUL character")
    return fields


def _required(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name, [])
    if len(values) > 1:
        raise InvalidInput(f"{name} is given more than once")
    if not values or not values[0]:
        raise InvalidInput(f"{name} is required")
    return values[0]


def _offline(form: dict[str, list[str]]) -> bool:
    """access_type: "offline" asks for a refresh token; "online" (the default) does not."""
    values = form.get("access_type", [""])
    if len(values) > 1 or values[0] not in ("", "online", "offline"):
        raise InvalidInput("access_type must be online or offline")
    return values[0] == "offline"


async def _grant(caller: Caller, scope: str, notary: bool = False) -> dict[str, Any] | None:
    """One access entry for a scope `type:name:actions`, or None when nothing is granted.

    A Content Trust scope names a GUN, `HOST[:PORT]/project/repo`: its rights are those of
    the repository without the host part (as Harbor's token service grants them). A name is
    a GUN when asked for the notary service, or when its first part could only be a host
    (a port, or `localhost`), or holds a dot and names no project the caller may use."""
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    wanted = {a for a in actions.split(",") if a}
    if kind == "registry" and name == "catalog":
        granted = wanted & {"*"} if not caller.identity.anonymous else set()
    elif kind == "repository" and name:
        host, _, repository = name.partition("/")
        gun = "/" in repository and (notary or ":" in host or host == "localhost")
        granted = set() if gun else await allowed_actions(caller.identity, name, wanted)
        if gun or (not granted and "." in host and "/" in repository):
            granted = await allowed_actions(caller.identity, repository, wanted)
    else:
        return None
    return {"type": kind, "name": name, "actions": sorted(granted)}
