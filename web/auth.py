"""Who is calling: Basic credentials, a bearer token, or nobody; and the /v2 challenge."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from quart import Request

from access.errors import AuthenticationFailed
from access.policy import ANONYMOUS, Identity
from access.tokens import TokenClaims, TokenService
from access.users import UserService, identity_by_name
from core import audit


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


async def resolve_caller(request: Request, auth: AuthServices) -> Caller:
    """The caller of a request; AuthenticationFailed for credentials that do not hold.
    The audit log learns who is acting from here."""
    caller = await _resolve_caller(request, auth)
    audit.identify(caller.identity.username)
    return caller


async def _resolve_caller(request: Request, auth: AuthServices) -> Caller:
    address = request.remote_addr
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        claims = auth.tokens.verify(value.strip())
        if not claims.subject:
            return Caller(Identity(address=address), claims)
        identity = await identity_by_name(claims.subject, address)
        if identity is None:
            raise AuthenticationFailed("the token's user no longer exists")
        return Caller(identity, claims)
    credentials = basic_credentials(request)
    if credentials is None:
        return Caller(Identity(address=address) if address else ANONYMOUS)
    return Caller(await auth.users.authenticate(*credentials, address))


def challenge(request: Request, service: str, scope: str | None, error: str | None = None) -> str:
    """The WWW-Authenticate value that sends a client to the token service."""
    realm = f"{request.host_url.rstrip('/')}/service/token"
    value = f'Bearer realm="{realm}",service="{service}"'
    if scope:
        value += f',scope="{scope}"'
    if error:
        value += f',error="{error}"'
    return value
