"""Every error answer: two tables keyed by kind and one renderer.

/v2 speaks the OCI Distribution spec's codes (finer codes per domain error class where the spec
has them); /api, /service/token, /c, /ui and everything else speak Harbor's. The body is always
`{"errors": [{"code", "message", "detail"}]}`. werkzeug's HTTP exceptions (an unknown path, a
method a route does not take) go through the same tables, so no caller ever sees Quart's HTML.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from quart import Quart, Response, g, request
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import MethodNotAllowed as HttpMethodNotAllowed

from access.errors import LoginThrottled
from core import audit
from core import errors as e
from models import errors as kinds
from models.errors import BerthError, Kind
from storage import StorageUnavailable
from web.api.common import current_identity
from web.params import check_request

log = logging.getLogger("berth.web")

STATUS: dict[Kind, int] = {
    Kind.INVALID: 400,
    Kind.NOT_FOUND: 404,
    Kind.ALREADY_EXISTS: 409,
    Kind.DENIED: 403,
    Kind.UNAUTHORIZED: 401,
    Kind.THROTTLED: 429,
    Kind.UNAVAILABLE: 503,
    Kind.UNSUPPORTED: 400,
    Kind.PRECONDITION: 412,
    Kind.TOO_LARGE: 413,
}

# Harbor's codes (src/lib/errors). DENIED rather than FORBIDDEN: Harbor answers both for a
# role that lacks the permission, and Berth's clients already read DENIED. UNAVAILABLE is
# Berth's own: Harbor has no code for a directory that does not answer.
HARBOR_CODES: dict[Kind, str] = {
    Kind.INVALID: "BAD_REQUEST",
    Kind.NOT_FOUND: "NOT_FOUND",
    Kind.ALREADY_EXISTS: "CONFLICT",
    Kind.DENIED: "DENIED",
    Kind.UNAUTHORIZED: "UNAUTHORIZED",
    Kind.THROTTLED: "TOO_MANY_REQUEST",
    Kind.UNAVAILABLE: "UNAVAILABLE",
    Kind.UNSUPPORTED: "UNSUPPORTED",
    Kind.PRECONDITION: "PRECONDITION",
    Kind.TOO_LARGE: "REQUEST_ENTITY_TOO_LARGE",
}

# The OCI spec's codes (code-1 .. code-14) where a kind has no finer class below.
# UNSUPPORTED stands for "an invalid set of parameters" and for what the spec has no code for.
OCI_CODES: dict[Kind, str] = {
    Kind.INVALID: "UNSUPPORTED",
    Kind.NOT_FOUND: "UNSUPPORTED",
    Kind.ALREADY_EXISTS: "UNSUPPORTED",
    Kind.DENIED: "DENIED",
    Kind.UNAUTHORIZED: "UNAUTHORIZED",
    Kind.THROTTLED: "TOOMANYREQUESTS",
    Kind.UNAVAILABLE: "UNAVAILABLE",
    Kind.UNSUPPORTED: "UNSUPPORTED",
    Kind.PRECONDITION: "UNSUPPORTED",
    Kind.TOO_LARGE: "SIZE_INVALID",
}


class MethodNotAllowed(kinds.Unsupported):
    """A method the path's route does not take; allowed is what it does take."""

    def __init__(self, method: str, allowed: Iterable[str]) -> None:
        methods = sorted(allowed)
        super().__init__(f"{method} is not allowed here", {"allowed": methods})
        self.allowed = methods


# Finer codes, by domain class (the most derived class listed wins).
OCI_SPEC_CODES: dict[type[BerthError], str] = {
    e.BlobUnknown: "BLOB_UNKNOWN",
    e.BlobUploadUnknown: "BLOB_UPLOAD_UNKNOWN",
    e.BlobUploadInvalid: "BLOB_UPLOAD_INVALID",
    e.ChunkOutOfOrder: "BLOB_UPLOAD_INVALID",
    e.RangeInvalid: "SIZE_INVALID",
    e.DigestInvalid: "DIGEST_INVALID",
    e.ManifestInvalid: "MANIFEST_INVALID",
    e.ManifestBlobUnknown: "MANIFEST_BLOB_UNKNOWN",
    e.ManifestUnknown: "MANIFEST_UNKNOWN",
    e.ManifestTooLarge: "MANIFEST_INVALID",
    e.NameInvalid: "NAME_INVALID",
    e.NameUnknown: "NAME_UNKNOWN",
    e.SizeInvalid: "SIZE_INVALID",
    e.TagInvalid: "MANIFEST_INVALID",
    e.TooManyTags: "UNSUPPORTED",
    e.PolicyViolation: "PROJECTPOLICYVIOLATION",  # Harbor's, which docker shows as it is
    e.SignedInNotary: "PRECONDITION",  # Harbor's, as its /v2 answers a refused delete
    e.ReadOnlyMode: "DENIED",  # Harbor's code for it (with 503: nothing is wrong with the caller)
    e.TagImmutable: "PRECONDITION",  # Harbor's, as its /v2 refuses a push or a delete
}
HARBOR_SPEC_CODES: dict[type[BerthError], str] = {
    MethodNotAllowed: "METHOD_NOT_ALLOWED",
    e.PolicyViolation: "PROJECTPOLICYVIOLATION",
    e.ReadOnlyMode: "DENIED",
}
# Statuses other than their kind's
CLASS_STATUS: dict[type[BerthError], int] = {
    e.ChunkOutOfOrder: 416,
    e.RangeInvalid: 416,
    e.TooManyTags: 414,
    MethodNotAllowed: 405,
}

HeaderFn = Callable[[Any], dict[str, str]]
HEADERS: dict[type[BerthError], HeaderFn] = {
    e.ChunkOutOfOrder: lambda err: {"Range": f"0-{max(err.current_size - 1, 0)}"},
    e.RangeInvalid: lambda err: {"Content-Range": f"bytes */{err.size}"},
    e.Unauthorized: lambda err: {"WWW-Authenticate": err.challenge} if err.challenge else {},
    LoginThrottled: lambda err: {"Retry-After": str(err.retry_after)},
    MethodNotAllowed: lambda err: {"Allow": ", ".join(err.allowed)},
}

# werkzeug's exceptions by status, as the kind they are
_HTTP_KINDS: dict[int, type[BerthError]] = {
    400: kinds.InvalidInput,
    401: kinds.Unauthorized,
    403: kinds.Denied,
    404: kinds.NotFound,
    409: kinds.AlreadyExists,
    412: kinds.PreconditionFailed,
    413: kinds.TooLarge,
    429: kinds.Throttled,
    503: kinds.Unavailable,
}
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_NOT_CHANGES = frozenset({"api.ping_ldap"})  # a question to the directory, by POST


def error_body(code: str, message: str, detail: Any = None) -> str:
    return json.dumps({"errors": [{"code": code, "message": message, "detail": detail}]})


def is_oci() -> bool:
    """Whether this request is on the distribution API (its own codes) or anywhere else."""
    path = request.path
    return request.blueprint == "v2" or path == "/v2" or path.startswith("/v2/")


def describe(err: BerthError, oci: bool) -> tuple[str, int, dict[str, str]]:
    """(code, status, headers) of err on the /v2 surface (oci) or on Harbor's."""
    finer = OCI_SPEC_CODES if oci else HARBOR_SPEC_CODES
    codes = OCI_CODES if oci else HARBOR_CODES
    code = _most_derived(finer, err) or codes[err.kind]
    status = _most_derived(CLASS_STATUS, err) or STATUS[err.kind]
    header_fn = _most_derived(HEADERS, err)
    return code, status, header_fn(err) if header_fn is not None else {}


def _most_derived(table: dict[type[BerthError], Any], err: BerthError) -> Any:
    return next((table[k] for k in type(err).__mro__ if k in table), None)


async def render_error(err: BerthError, status: int | None = None) -> Response:
    """The one renderer of a caller's error."""
    code, own_status, headers = describe(err, is_oci())
    response = Response(
        error_body(code, err.message, err.detail),
        status=status or own_status,
        content_type="application/json",
        headers=headers,
    )
    g.error_reason = err.message
    return response  # with "Connection: close" if the body has not all come (web.streaming)


async def render_storage_unavailable(exc: StorageUnavailable) -> Response:
    """The blob store is down or refuses Berth: 503 saying why (logged as a warning)."""
    log.warning("storage unavailable: %s", exc, extra={"request_id": getattr(g, "request_id", "-")})
    return await render_error(kinds.Unavailable(f"storage is unavailable: {exc}"))


async def render_http_exception(exc: HTTPException) -> Response:
    """werkzeug's routing and protocol errors, as the kind they are."""
    status = exc.code or 500
    if status >= 500:
        return await render_unexpected(exc)
    if isinstance(exc, HttpMethodNotAllowed):
        return await render_error(MethodNotAllowed(request.method, exc.valid_methods or ()))
    kind = _HTTP_KINDS.get(status, kinds.InvalidInput)
    message = "no such endpoint" if status == 404 else (exc.name or "bad request").lower()
    return await render_error(kind(message, {"path": request.path}), status)


async def render_unexpected(err: BaseException) -> Response:
    """Log with the request id; answer 500 without internals."""
    request_id = getattr(g, "request_id", "-")
    log.error("unhandled error", exc_info=err, extra={"request_id": request_id})
    g.error_reason = "internal server error"
    return Response(
        error_body("UNKNOWN", "internal server error", {"request_id": request_id}),
        status=500,
        content_type="application/json",
    )


async def record_refused_change(response: Response) -> Response:
    """A refused change on /api that no handler recorded (its input was refused before the
    handler ran, say) still gets its failed audit event."""
    if (
        response.status_code >= 400
        and request.method in _UNSAFE
        and request.blueprint == "api"
        and request.url_rule is not None
        and request.endpoint not in _NOT_CHANGES
        and not audit.current_actor().recorded
    ):
        with contextlib.suppress(Exception):
            await current_identity()  # names the caller; a failed login records itself
        if audit.current_actor().recorded:
            return response
        event = audit.Event(_operation(request.method), _resource_type(request.path), _shown())
        await audit.record_failure(event, getattr(g, "error_reason", "") or "refused")
    return response


def _operation(method: str) -> str:
    return {"POST": audit.CREATE, "DELETE": audit.DELETE}.get(method, audit.UPDATE)


# The innermost collection a path names is the type of the resource changed.
_COLLECTIONS = {
    "tags": audit.TAG,
    "artifacts": audit.ARTIFACT,
    "repositories": audit.REPOSITORY,
    "members": audit.MEMBER,
    "webhook": audit.WEBHOOK,
    "robots": audit.ROBOT,
    "users": audit.USER,
    "configurations": audit.CONFIGURATION,
    "ldap": audit.CONFIGURATION,
    "projects": audit.PROJECT,
    "executions": audit.REPLICATION,
    "trigger_secret": audit.REPLICATION_POLICY,
}


def _resource_type(path: str) -> str:
    parts = path.split("/")
    return next((_COLLECTIONS[p] for p in reversed(parts) if p in _COLLECTIONS), audit.PROJECT)


def _shown() -> str:
    """The request's path as text that any database stores: bad bytes escaped."""
    raw: bytes = request.scope.get("raw_path") or request.path.encode()
    return raw.decode("ascii", "backslashreplace")[:1024]


async def _check_request() -> None:
    # A coroutine on purpose: Quart runs a plain function hook on a thread, and that
    # hand-off cost every request more than the check itself (a third of a manifest GET).
    check_request()


def install_error_handling(app: Quart) -> None:
    """The input check before every request, the renderers, and the refused-change record."""
    app.before_request(_check_request)
    app.register_error_handler(BerthError, render_error)
    app.register_error_handler(StorageUnavailable, render_storage_unavailable)
    app.register_error_handler(HTTPException, render_http_exception)
    app.register_error_handler(Exception, render_unexpected)
    app.after_request(record_refused_change)
