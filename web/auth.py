"""Who is calling: Basic credentials, a bearer token, or nobody; and the /v2 challenge.

A credential check that fails (wrong, malformed or throttled) is a failed login in the audit
log, wherever the credentials were sent.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass

from quart import Request, after_this_request, g
from quart.typing import ResponseTypes

from access.errors import LOGIN_FAILURES, AuthenticationFailed
from access.policy import ANONYMOUS, Identity
from access.tokens import TokenClaims, TokenService
from access.users import UserService, identity_by_name
from core import audit

log = logging.getLogger("berth.web")


@dataclass(frozen=True, slots=True)
class AuthServices:
    users: UserService
    tokens: TokenService


@dataclass(frozen=True, slots=True)
class Caller:
    identity: Identity
    token: TokenClaims | None = None  # set when the caller came with a bearer token


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """(username, password) of an Authorization: Basic header; AuthenticationFailed if bad."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        username, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationFailed("malformed Basic credentials") from None
    if not sep or not username:
        raise AuthenticationFailed("malformed Basic credentials")
    return username, password


async def check_credentials(
    auth: AuthServices, username: str, password: str, address: str | None
) -> Identity:
    """The identity of a user's or robot's credentials; a failure is recorded as a failed
    login and raised (AuthenticationFailed, LoginThrottled, DirectoryUnavailable)."""
    try:
        return await auth.users.authenticate(username, password, address)
    except LOGIN_FAILURES as exc:
        note_failed_login(username, exc)
        raise


async def basic_identity(request: Request, auth: AuthServices) -> Identity | None:
    """The identity of the request's Basic credentials, None when there are none."""
    try:
        credentials = basic_credentials(request)
    except AuthenticationFailed as exc:
        note_failed_login("", exc)
        raise
    if credentials is None:
        return None
    return await check_credentials(auth, *credentials, request.remote_addr)


async def resolve_caller(request: Request, auth: AuthServices, also: str | None = None) -> Caller:
    """The caller of a request; AuthenticationFailed for credentials that do not hold.
    The audit log learns who is acting from here. Resolved once per request: handlers check
    the caller before an operation's transaction opens and again inside it."""
    caller: Caller | None = g.get("berth_caller")
    if caller is None:
        caller = await _resolve_caller(request, auth, also)
        g.berth_caller = caller
    audit.identify(caller.identity.username)
    return caller


async def _resolve_caller(request: Request, auth: AuthServices, also: str | None) -> Caller:
    address = request.remote_addr
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        claims = auth.tokens.verify(value.strip(), also)
        if not claims.subject:
            return Caller(Identity(address=address), claims)
        identity = await identity_by_name(claims.subject, address)
        if identity is None:
            raise AuthenticationFailed("the token's user no longer exists")
        return Caller(identity, claims)
    identity = await basic_identity(request, auth)
    if identity is None:
        return Caller(Identity(address=address) if address else ANONYMOUS)
    return Caller(identity)


async def record_login(username: str) -> None:
    """A successful login (the dashboard's, or docker login's): the caller is now username."""
    audit.identify(username)
    await audit.record(audit.Event(audit.LOGIN, audit.USER, username))


def note_failed_login(username: str, exc: Exception) -> None:
    """Record a failed login of username once the request is answered.

    Not at once: the check may run inside an operation's transaction, whose rollback would
    take the event with it. The attempt is filed under the name that was tried (empty for
    credentials that could not be read); the password never appears.
    """
    if g.get("berth_failed_login"):
        return  # one attempt, one event, however often the request looks at its caller
    g.berth_failed_login = True
    actor = audit.current_actor()
    tried = audit.Actor(username or actor.username, actor.address, actor.user_agent)
    row = audit.Event(audit.LOGIN, audit.USER, username).row(False, tried, str(exc))

    @after_this_request
    async def write(response: ResponseTypes) -> ResponseTypes:
        try:
            await row.save()
        except Exception:  # the answer matters more than its record
            log.exception("could not record a failed login")
        return response


def challenge(request: Request, service: str, scope: str | None, error: str | None = None) -> str:
    """The WWW-Authenticate value that sends a client to the token service."""
    realm = f"{request.host_url.rstrip('/')}/service/token"
    value = f'Bearer realm="{realm}",service="{service}"'
    if scope:
        value += f',scope="{scope}"'
    if error:
        value += f',error="{error}"'
    return value
