"""The Notary v1 server API on Berth's own listener (Docker Content Trust).

Paths below `/v2/{gun}/_trust/` (a GUN is `HOST:PORT/project/repo`; `_trust` is no valid
repository component, so nothing collides with the registry's paths), the global change
feed `/v2/_trust/changefeed`, and `/_notary_server/health`. Answers are notary-server's:
its JSON bodies, and its error envelope with its codes. Rights are the repository's (the
GUN without its host part): pull reads trust data; push (with pull) updates it and reads the
server's keys; `*` (push, pull and delete: a maintainer or the project's admin) rotates a
server key and deletes the trust data.
"""

from __future__ import annotations

import json
import re
from datetime import UTC
from email.utils import format_datetime
from typing import Any

from quart import Blueprint, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from access.errors import AuthenticationFailed
from access.policy import ADMIN_ONLY, allowed_actions, holds_system
from core import trust
from core.trust import NotaryError
from web.auth import AuthServices, Caller, challenge, resolve_caller

notary = Blueprint("notary", __name__)

MAX_UPDATE_BYTES = 32 * 1024 * 1024  # a targets file of some 100,000 tags fits
_ROLE = r"root|targets(?:/[^/\s]+)*|snapshot|timestamp"
_PATHS: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(r"tuf/?"), "POST", "update"),
    (re.compile(r"tuf/?"), "DELETE", "delete"),
    (re.compile(rf"tuf/(?P<role>{_ROLE})\.(?P<checksum>[a-fA-F0-9]{{64}})\.json"), "GET", "get"),
    (re.compile(rf"tuf/(?P<version>[1-9][0-9]{{0,9}})\.(?P<role>{_ROLE})\.json"), "GET", "get"),
    (re.compile(rf"tuf/(?P<role>{_ROLE})\.json"), "GET", "get"),
    (re.compile(r"tuf/(?P<role>snapshot|timestamp)\.key"), "GET", "key"),
    (re.compile(r"tuf/(?P<role>snapshot|timestamp)\.key"), "POST", "rotate"),
    (re.compile(r"changefeed"), "GET", "changefeed"),
]
# The actions each operation needs, as notary-server asks them of its token service.
_NEEDS = {
    "update": ("push", "pull"),
    "get": ("pull",),
    "key": ("push", "pull"),
    "rotate": ("*",),
    "delete": ("*",),
    "changefeed": ("pull",),
}
CONSISTENT_CACHE = "public, max-age=2592000, s-maxage=2592000"  # by checksum or version
CURRENT_CACHE = "public, max-age=300, s-maxage=300, must-revalidate"  # as notary-server


def is_trust_path(rest: str) -> bool:
    """Whether a path below /v2/ is the trust API's."""
    return rest.startswith("_trust/") or "/_trust/" in rest


async def dispatch(rest: str) -> Response:
    """Answer a path below /v2/ that `is_trust_path`."""
    try:
        if rest.startswith("_trust/"):
            return await _global_changefeed(rest.removeprefix("_trust/"))
        gun, _, tail = rest.partition("/_trust/")
        for pattern, method, operation in _PATHS:
            match = pattern.fullmatch(tail)
            if match and request.method == method:
                trust.check_gun(gun)
                await _authorize(gun, operation)
                return await _OPERATIONS[operation](gun, match.groupdict())
        raise NotaryError(
            "METADATA_NOT_FOUND", "You have requested metadata that does not exist.", 404
        )
    except NotaryError as exc:
        return _error(exc)


@notary.route("/_notary_server/health", methods=["GET"])
async def health() -> Response:
    """notary-server's health: `{}` when its storage (Berth's trust tables) answers."""
    try:
        await trust.healthy()
    except Exception as exc:  # any failure of the database is the answer, not an error
        body = {"Trust data storage": f"{type(exc).__name__}: {exc}"}
        return Response(json.dumps(body), status=503, content_type="application/json")
    return Response(b"{}", content_type="application/json")


# --- access ----------------------------------------------------------------------------


async def _authorize(gun: str, operation: str) -> None:
    """The caller may do operation on gun: its rights on the repository now, and (with a
    token) the token's grant for the GUN; else 401 with a challenge (insufficient_scope for
    a caller who signed in), as notary-server answers."""
    auth: AuthServices = current_app.extensions["auth"]
    needed = _NEEDS[operation]
    try:
        caller = await resolve_caller(request, auth, auth.tokens.notary_service)
    except AuthenticationFailed as exc:
        raise _unauthorized(auth, gun, needed, exc.message) from None
    allowed = await allowed_actions(caller.identity, trust.repository_of(gun), set(needed))
    if not set(needed) <= allowed:
        if caller.identity.anonymous:
            raise _unauthorized(auth, gun, needed, "authentication required")
        # notary-server answers a signed-in caller without the right as one whose token
        # lacks the scope: 401, insufficient_scope. Notary clients (docker trust too) read
        # a 403 as "unable to reach trust server".
        raise _unauthorized(auth, gun, needed, "requested access to the resource is denied", True)
    if caller.token is not None and not _token_grants(caller, gun, needed):
        raise _unauthorized(auth, gun, needed, "the token does not grant this action", True)


def _token_grants(caller: Caller, gun: str, needed: tuple[str, ...]) -> bool:
    assert caller.token is not None
    granted = caller.token.actions_for(gun)
    return "*" in granted or set(needed) <= granted


def _unauthorized(
    auth: AuthServices, gun: str, needed: tuple[str, ...], why: str, insufficient: bool = False
) -> NotaryError:
    scope = f"repository:{gun}:{','.join(needed)}"
    detail = [{"Type": "repository", "Name": gun}]
    error = "insufficient_scope" if insufficient else None
    sent = challenge(request, auth.tokens.notary_service, scope, error)
    return NotaryError("UNAUTHORIZED", why, 401, detail, sent)


def _error(exc: NotaryError) -> Response:
    body = {"errors": [{"code": exc.code, "message": exc.message, "detail": exc.detail}]}
    response = Response(json.dumps(body), status=exc.status, content_type="application/json")
    if exc.challenge:
        response.headers["WWW-Authenticate"] = exc.challenge
    return response


# --- operations ------------------------------------------------------------------------


def _sealer() -> Any:
    return current_app.extensions["registry"].sealed()


async def _update(gun: str, _: dict[str, str]) -> Response:
    parts = await _parts()
    await trust.update(gun, parts, _sealer())
    return Response(b"", status=200)


async def _parts() -> list[tuple[str, bytes]]:
    """The multipart update's parts: (role from the part's file name, its bytes)."""
    if request.mimetype != "multipart/form-data":
        raise NotaryError("MALFORMED_UPLOAD", "The body of your request is malformed.")
    length = request.content_length
    if length is not None and length > MAX_UPDATE_BYTES:
        raise NotaryError(
            "MALFORMED_UPLOAD", f"an update holds at most {MAX_UPDATE_BYTES} bytes", 413
        )
    request.max_content_length = MAX_UPDATE_BYTES
    try:
        files = await request.files
        form = await request.form
    except RequestEntityTooLarge:
        raise NotaryError(
            "MALFORMED_UPLOAD", f"an update holds at most {MAX_UPDATE_BYTES} bytes", 413
        ) from None
    except ValueError:
        raise NotaryError("MALFORMED_UPLOAD", "The body of your request is malformed.") from None
    if form:
        raise NotaryError("NO_FILENAME", "No file/role name provided.")
    parts = []
    for _, storage in files.items(multi=True):
        role = (storage.filename or "").removesuffix(".json")
        if not role:
            raise NotaryError("NO_FILENAME", "No file/role name provided.")
        parts.append((role, storage.read()))
    if not parts:
        raise NotaryError("MALFORMED_UPLOAD", "The body of your request is malformed.")
    return parts


async def _get(gun: str, args: dict[str, str]) -> Response:
    version = int(args["version"]) if args.get("version") else None
    checksum = args.get("checksum")
    row = await trust.get(gun, args["role"], _sealer(), version, checksum)
    cache = CONSISTENT_CACHE if version is not None or checksum else CURRENT_CACHE
    modified = format_datetime(row.created_at.astimezone(UTC), True)
    headers = {"Cache-Control": cache, "Last-Modified": modified}
    return Response(bytes(row.data), content_type="application/json", headers=headers)


async def _key(gun: str, args: dict[str, str]) -> Response:
    key = await trust.public_key(gun, args["role"], _sealer())
    return Response(json.dumps(key), content_type="application/json")


async def _rotate(gun: str, args: dict[str, str]) -> Response:
    key = await trust.public_key(gun, args["role"], _sealer(), rotate=True)
    return Response(json.dumps(key), content_type="application/json")


async def _delete(gun: str, _: dict[str, str]) -> Response:
    await trust.delete(gun)
    return Response(b"", status=200)


async def _changefeed(gun: str, _: dict[str, str]) -> Response:
    return _feed(await trust.changes(gun, *_feed_args()))


def _feed_args() -> tuple[str, str]:
    return request.args.get("change_id", ""), request.args.get("records", "")


def _feed(records: list[dict[str, Any]]) -> Response:
    body = {"count": len(records), "records": records}
    return Response(json.dumps(body), content_type="application/json")


async def _global_changefeed(tail: str) -> Response:
    """Every GUN's changes: for system admins only (notary-server asks `*` on no GUN)."""
    if tail != "changefeed" or request.method != "GET":
        raise NotaryError(
            "METADATA_NOT_FOUND", "You have requested metadata that does not exist.", 404
        )
    auth: AuthServices = current_app.extensions["auth"]
    try:
        caller = await resolve_caller(request, auth, auth.tokens.notary_service)
    except AuthenticationFailed as exc:
        raise _unauthorized(auth, "", ("*",), exc.message) from None
    if caller.identity.anonymous:
        raise _unauthorized(auth, "", ("*",), "authentication required")
    if not holds_system(caller.identity, ADMIN_ONLY):
        raise NotaryError("DENIED", "the change feed of every repository is for admins", 403)
    return _feed(await trust.changes(None, *_feed_args()))


_OPERATIONS = {
    "update": _update,
    "get": _get,
    "key": _key,
    "rotate": _rotate,
    "delete": _delete,
    "changefeed": _changefeed,
}
