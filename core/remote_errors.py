"""What can go wrong talking to another registry: RemoteError and its kinds, and how an
answer or a failed connection becomes one (a one-line reason a task log can show)."""

from __future__ import annotations

import contextlib
import email.utils
import json
from datetime import UTC, datetime
from typing import Any

import httpx

from models.errors import Unavailable

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
ERROR_BODY_LIMIT = 64 * 1024
NOT_FOUND_CODES = frozenset({"MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN"})


class RemoteError(Unavailable):
    """The remote registry failed a request. str() is one line for a task log:
    "401 UNAUTHORIZED from https://x/v2/a/manifests/1: authentication required".

    Of the kind Unavailable: should one reach the error renderer (a registry ping from the
    API), the caller gets a 503 with the remote's reason — never a 401 or 404 of its own.
    """

    def __init__(
        self, reason: str, status: int | None = None, code: str = "", retry_after: float = 0.0
    ) -> None:
        super().__init__(reason)
        self.status = status  # the HTTP status, None when no answer came
        self.code = code  # the OCI error code of the answer, "" without one
        self.retry_after = retry_after  # seconds the remote asked us to wait, 0 for none


class RemoteUnauthorized(RemoteError):
    """401 or 403 after authenticating: the credentials are wrong or lack the right."""


class RemoteNotFound(RemoteError):
    """404, or one of the not-found codes (MANIFEST_UNKNOWN, NAME_UNKNOWN, BLOB_UNKNOWN)."""


class RemoteUnavailable(RemoteError):
    """No usable answer: connection refused, DNS, TLS, a stall, or 5xx/429 after retries."""


class RemoteStopped(Exception):
    """A transfer gave up because its should_stop said so. Not a failure of the remote, so
    not a RemoteError: a stop is never retried."""


def retry_after(response: httpx.Response) -> float:
    """Retry-After in seconds (an integer or an HTTP date); 0 when absent or unreadable."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return 0.0
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def short_url(url: httpx.URL | str) -> str:
    """A URL without its query: upload states and tokens stay out of task logs."""
    parsed = httpx.URL(str(url))
    return str(parsed.copy_with(query=None, fragment=None))


def transport_failure(exc: httpx.HTTPError, url: httpx.URL | str, stall: float) -> RemoteError:
    """The RemoteUnavailable of a request that got no answer."""
    where = short_url(url)
    if isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout):
        return RemoteUnavailable(f"no progress for {stall:g} s on {where}: the transfer stalled")
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return RemoteUnavailable(f"could not connect to {where}: timed out")
    detail = str(exc) or type(exc).__name__
    return RemoteUnavailable(f"{type(exc).__name__} on {where}: {detail}")


SMALL_BODY = 64 * 1024


async def release(response: httpx.Response) -> None:
    """Done with an answer. A small body (a HEAD's none, a 201's empty one, an error
    envelope) is read first, so the connection goes back to the pool: closing a streamed
    answer unread drops its connection, and the next request pays a new TCP handshake."""
    length = response.headers.get("content-length", "")
    small = response.request.method == "HEAD" or (length.isdigit() and int(length) <= SMALL_BODY)
    if small and not response.is_stream_consumed and not response.is_closed:
        with contextlib.suppress(httpx.HTTPError, httpx.StreamError):
            await response.aread()
    await response.aclose()


async def read_limited(response: httpx.Response, limit: int) -> bytes:
    """At most limit bytes of a streamed body (the rest is dropped with the connection)."""
    data = bytearray()
    async for piece in response.aiter_bytes():
        data += piece
        if len(data) > limit:
            break
    await response.aclose()
    return bytes(data[:limit])


async def error_of(response: httpx.Response, hint: str = "") -> RemoteError:
    """The RemoteError an unwanted answer stands for; reads (a bounded part of) its body."""
    try:
        body = await read_limited(response, ERROR_BODY_LIMIT)
    except (httpx.HTTPError, httpx.StreamError):  # a HEAD, or an answer already closed
        body = b""
    code, message = _error_text(body)
    status = response.status_code
    reason = f"{status} {code or response.reason_phrase.upper() or 'ERROR'}"
    text = f"{reason} from {short_url(response.request.url)}: {message or 'no reason given'}"
    if hint:
        text += f" ({hint})"
    kind: type[RemoteError] = RemoteError
    if status in (401, 403):
        kind = RemoteUnauthorized
    elif status == 404 or code in NOT_FOUND_CODES:
        kind = RemoteNotFound
    elif status in RETRY_STATUSES or status >= 500:
        kind = RemoteUnavailable
    return kind(text, status, code, retry_after(response))


def _error_text(body: bytes) -> tuple[str, str]:
    """(OCI code, message) of an error body: the errors envelope, or its first text line."""
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        line = body.decode(errors="replace").strip().splitlines()
        return "", line[0][:200] if line else ""
    errors = parsed.get("errors") if isinstance(parsed, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        return str(first.get("code", "")), str(first.get("message", ""))[:200]
    if isinstance(parsed, dict) and "message" in parsed:
        return "", str(parsed["message"])[:200]
    return "", ""
