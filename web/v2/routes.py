"""The /v2 blueprint: one parser for the path, one table from (route, method) to handler.

Repository names contain slashes, so the path is matched from the right as the
distribution spec lays it out, rather than by URL converters.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from quart import Blueprint, Response, current_app, request
from werkzeug.exceptions import NotFound

from access.errors import AuthenticationFailed
from core.digests import is_digest
from core.errors import BlobUploadUnknown, DigestInvalid, TagInvalid, Unauthorized
from core.names import MAX_TAG_LENGTH, validate_name
from web import notary
from web.auth import AuthServices, Caller, challenge, resolve_caller
from web.errors import MethodNotAllowed
from web.v2 import blobs, manifests, uploads
from web.v2.context import V2Request

Handler = Callable[[V2Request], Awaitable[Response]]

_ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^(?P<name>.+)/blobs/uploads/?$"), "uploads"),
    (re.compile(r"^(?P<name>.+)/blobs/uploads/(?P<arg>[^/]+)$"), "upload"),
    (re.compile(r"^(?P<name>.+)/blobs/(?P<arg>[^/]+)$"), "blob"),
    (re.compile(r"^(?P<name>.+)/manifests/(?P<arg>[^/]+)$"), "manifest"),
    (re.compile(r"^(?P<name>.+)/tags/list$"), "tags"),
    (re.compile(r"^(?P<name>.+)/referrers/(?P<arg>[^/]+)$"), "referrers"),
]

HANDLERS: dict[tuple[str, str], Handler] = {
    ("uploads", "POST"): uploads.start_upload,
    ("upload", "PATCH"): uploads.patch_upload,
    ("upload", "PUT"): uploads.put_upload,
    ("upload", "GET"): uploads.upload_status,
    ("upload", "DELETE"): uploads.cancel_upload,
    ("blob", "GET"): blobs.get_blob,
    ("blob", "HEAD"): blobs.head_blob,
    ("blob", "DELETE"): blobs.delete_blob,
    ("manifest", "GET"): manifests.get_manifest,
    ("manifest", "HEAD"): manifests.head_manifest,
    ("manifest", "PUT"): manifests.put_manifest,
    ("manifest", "DELETE"): manifests.delete_manifest,
    ("tags", "GET"): manifests.list_tags,
    ("referrers", "GET"): manifests.list_referrers,
    ("catalog", "GET"): manifests.catalog,
}

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]

v2 = Blueprint("v2", __name__)


@v2.route("/v2/", methods=["GET", "HEAD"])
async def base() -> Response:
    """The version check: 200 for any caller with valid credentials or a token, else 401."""
    auth: AuthServices = current_app.extensions["auth"]
    caller = await _caller(auth)
    if caller.identity.anonymous and caller.token is None:
        raise Unauthorized(challenge=challenge(request, auth.tokens.service, None))
    return Response(b"{}", status=200, content_type="application/json")


async def _caller(auth: AuthServices) -> Caller:
    try:
        return await resolve_caller(request, auth)
    except AuthenticationFailed as exc:
        raise Unauthorized(exc.message, challenge(request, auth.tokens.service, None)) from None


@v2.route("/v2/<path:rest>", methods=METHODS)
async def dispatch(rest: str) -> Response:
    if notary.is_trust_path(rest):  # Content Trust: /v2/{gun}/_trust/...
        return await notary.dispatch(rest)
    route, name, arg = parse_path(rest)
    handler = HANDLERS.get((route, request.method))
    if handler is None:
        raise MethodNotAllowed(request.method, _methods(route))
    project = validate_name(name) if route != "catalog" else ""
    _check_arg(route, arg)
    auth: AuthServices = current_app.extensions["auth"]
    ctx = V2Request(
        request=request,
        registry=current_app.extensions["registry"],
        caller=await _caller(auth),
        token_service=auth.tokens.service,
        name=name,
        project=project,
        arg=arg,
        max_manifest_bytes=current_app.extensions["max_manifest_bytes"],
        redirect_seconds=current_app.extensions.get("redirect_seconds"),
    )
    return await handler(ctx)


def parse_path(rest: str) -> tuple[str, str, str]:
    """(route, repository name, argument) for a path below /v2/. Raises NotFound."""
    if rest.rstrip("/") == "_catalog":
        return "catalog", "", ""
    for pattern, route in _ROUTES:
        match = pattern.match(rest)
        if match:
            return route, match.group("name"), match.groupdict().get("arg") or ""
    raise NotFound()  # web/errors.py answers it in the spec's envelope


# The longest upload id and digest a column holds: anything longer names nothing stored.
MAX_UPLOAD_ID, MAX_DIGEST = 64, 200


def _check_arg(route: str, arg: str) -> None:
    """Refuse a path argument longer than anything it could name, before a query sees it."""
    if route == "upload" and len(arg) > MAX_UPLOAD_ID:
        raise BlobUploadUnknown(arg[:MAX_UPLOAD_ID] + "...")
    if route in ("blob", "referrers") and len(arg) > MAX_DIGEST:
        raise DigestInvalid(f"longer than {MAX_DIGEST} characters", arg[:MAX_DIGEST] + "...")
    if route == "manifest" and len(arg) > (MAX_DIGEST if is_digest(arg) else MAX_TAG_LENGTH):
        raise TagInvalid(arg[:MAX_TAG_LENGTH] + "...")


def _methods(route: str) -> list[str]:
    return [method for (name, method) in HANDLERS if name == route]
