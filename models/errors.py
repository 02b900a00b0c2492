"""The kinds of error, defined once for every room: what went wrong, not how a protocol says it.

A domain error subclasses exactly one kind (`class BlobUnknown(NotFound)`); web/errors.py maps
kinds (and, for /v2, the spec's finer codes) to statuses and envelopes. The message is always
safe to show a caller; detail is structured data for the envelope's `detail`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar


class Kind(StrEnum):
    INVALID = "invalid input"
    NOT_FOUND = "not found"
    ALREADY_EXISTS = "already exists"
    DENIED = "denied"
    UNAUTHORIZED = "unauthorized"
    THROTTLED = "throttled"
    UNAVAILABLE = "unavailable"
    UNSUPPORTED = "unsupported"
    PRECONDITION = "precondition failed"
    TOO_LARGE = "too large"


class BerthError(Exception):
    """Base of every error a caller can cause; message is safe to show."""

    kind: ClassVar[Kind] = Kind.INVALID

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class InvalidInput(BerthError):
    kind = Kind.INVALID


class NotFound(BerthError):
    kind = Kind.NOT_FOUND


class AlreadyExists(BerthError):
    kind = Kind.ALREADY_EXISTS


class Denied(BerthError):
    kind = Kind.DENIED


class Unauthorized(BerthError):
    kind = Kind.UNAUTHORIZED


class Throttled(BerthError):
    kind = Kind.THROTTLED


class Unavailable(BerthError):
    kind = Kind.UNAVAILABLE


class Unsupported(BerthError):
    kind = Kind.UNSUPPORTED


class PreconditionFailed(BerthError):
    kind = Kind.PRECONDITION


class TooLarge(BerthError):
    kind = Kind.TOO_LARGE
