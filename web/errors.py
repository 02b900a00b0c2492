"""The one table from domain errors to OCI codes and HTTP status, and the one renderer."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from quart import Response, g, request

from access.errors import (
    AccessError,
    AlreadyExists,
    AuthenticationFailed,
    DirectoryUnavailable,
    Forbidden,
    InvalidInput,
    LoginThrottled,
    NotFound,
    PasswordPolicyViolation,
)
from core import errors as e
from core.projects import ProjectNameInvalid, ProjectNameTaken, ProjectNotEmpty

log = logging.getLogger("berth.web")

HeaderFn = Callable[[Any], dict[str, str]]


def _upload_range(err: e.ChunkOutOfOrder) -> dict[str, str]:
    return {"Range": f"0-{max(err.current_size - 1, 0)}"}


def _challenge(err: e.Unauthorized) -> dict[str, str]:
    return {"WWW-Authenticate": err.challenge} if err.challenge else {}


def _read_range(err: e.RangeInvalid) -> dict[str, str]:
    return {"Content-Range": f"bytes */{err.size}"}


# error type -> (OCI code, HTTP status, extra headers). Only the spec's codes are used.
ERROR_TABLE: dict[type[e.RegistryError], tuple[str, int, HeaderFn | None]] = {
    e.BlobUnknown: ("BLOB_UNKNOWN", 404, None),
    e.BlobUploadUnknown: ("BLOB_UPLOAD_UNKNOWN", 404, None),
    e.BlobUploadInvalid: ("BLOB_UPLOAD_INVALID", 400, None),
    e.ChunkOutOfOrder: ("BLOB_UPLOAD_INVALID", 416, _upload_range),
    e.RangeInvalid: ("SIZE_INVALID", 416, _read_range),
    e.DigestInvalid: ("DIGEST_INVALID", 400, None),
    e.ManifestInvalid: ("MANIFEST_INVALID", 400, None),
    e.ManifestBlobUnknown: ("MANIFEST_BLOB_UNKNOWN", 400, None),
    e.ManifestUnknown: ("MANIFEST_UNKNOWN", 404, None),
    e.ManifestTooLarge: ("MANIFEST_INVALID", 413, None),
    e.NameInvalid: ("NAME_INVALID", 400, None),
    e.NameUnknown: ("NAME_UNKNOWN", 404, None),
    e.SizeInvalid: ("SIZE_INVALID", 400, None),
    e.TagInvalid: ("MANIFEST_INVALID", 400, None),
    e.PaginationInvalid: ("UNSUPPORTED", 400, None),
    e.Unauthorized: ("UNAUTHORIZED", 401, _challenge),
    e.Denied: ("DENIED", 403, None),
    e.Unsupported: ("UNSUPPORTED", 405, None),
    e.NotFound: ("UNSUPPORTED", 404, None),
    # project management (REST API), in Harbor's codes
    ProjectNameInvalid: ("BAD_REQUEST", 400, None),
    ProjectNameTaken: ("CONFLICT", 409, None),
    ProjectNotEmpty: ("PRECONDITION", 412, None),
}


def error_body(code: str, message: str, detail: Any = None) -> str:
    return json.dumps({"errors": [{"code": code, "message": message, "detail": detail}]})


def render_registry_error(err: e.RegistryError) -> Response:
    code, status, headers = _lookup(type(err))
    response = Response(
        error_body(code, err.message, err.detail), status=status, content_type="application/json"
    )
    if headers is not None:
        response.headers.update(headers(err))
    if _body_left_unread():
        # The rest of the body is still on the wire; the connection cannot be reused.
        response.headers["Connection"] = "close"
    return response


def _body_left_unread() -> bool:
    has_body = request.headers.get("Transfer-Encoding") or request.content_length
    return bool(has_body) and not getattr(g, "body_read", False)


# access errors -> (code, HTTP status); codes are the distribution spec's where they exist.
ACCESS_TABLE: dict[type[AccessError], tuple[str, int]] = {
    AuthenticationFailed: ("UNAUTHORIZED", 401),
    LoginThrottled: ("TOOMANYREQUESTS", 429),
    Forbidden: ("DENIED", 403),
    PasswordPolicyViolation: ("BAD_REQUEST", 400),
    InvalidInput: ("BAD_REQUEST", 400),
    NotFound: ("NOT_FOUND", 404),
    AlreadyExists: ("CONFLICT", 409),
    DirectoryUnavailable: ("UNAVAILABLE", 503),
}


def render_access_error(err: AccessError) -> Response:
    code, status = next(
        (ACCESS_TABLE[k] for k in type(err).__mro__ if k in ACCESS_TABLE), ("DENIED", 403)
    )
    response = Response(
        error_body(code, err.message, err.detail), status=status, content_type="application/json"
    )
    if isinstance(err, LoginThrottled):
        response.headers["Retry-After"] = str(err.retry_after)
    if _body_left_unread():
        response.headers["Connection"] = "close"
    return response


def render_unexpected(err: Exception) -> Response:
    """Log with the request id; answer 500 without internals."""
    request_id = getattr(g, "request_id", "-")
    log.error("unhandled error", exc_info=err, extra={"request_id": request_id})
    return Response(
        error_body("UNKNOWN", "internal server error", {"request_id": request_id}),
        status=500,
        content_type="application/json",
    )


def _lookup(kind: type) -> tuple[str, int, HeaderFn | None]:
    for klass in kind.__mro__:
        if klass in ERROR_TABLE:
            return ERROR_TABLE[klass]
    return ("UNKNOWN", 400, None)
