"""The values a caller sends, checked once for every room: text without NUL and within its
limit, booleans, times; and the one spelling of a time in an answer.

`web/params.py` applies these to the request (path, query, body); services that read a body
themselves (`services/`) call the same functions, so a value means the same wherever it is read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload

from models.errors import InvalidInput

MAX_NAME = 255  # a user, project, repository or robot name; one path segment
_TRUE, _FALSE = ("true", "1"), ("false", "0")


class ParameterInvalid(InvalidInput):
    """A value a caller sent that no handler could accept; detail names the parameter."""

    def __init__(self, parameter: str, reason: str, message: str | None = None) -> None:
        message = message or f"{parameter} {reason}"  # "page must be 1..10000000"
        super().__init__(message, {"parameter": parameter, "reason": reason})
        self.parameter = parameter
        self.reason = reason


def check_text(parameter: str, value: str, limit: int = MAX_NAME) -> str:
    """value, when it has no NUL and at most limit characters; ParameterInvalid otherwise."""
    if "\x00" in value:
        raise ParameterInvalid(parameter, "contains a NUL character")
    if len(value) > limit:
        raise ParameterInvalid(parameter, f"longer than {limit} characters")
    return value


def parse_bool(parameter: str, value: object) -> bool:
    """The one boolean parser: JSON true / false, or the strings true / false / 1 / 0."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
    raise ParameterInvalid(parameter, "must be true or false")


def parse_time(parameter: str, value: str) -> datetime:
    """An ISO 8601 time; one without a zone is UTC."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ParameterInvalid(parameter, f"{value[:40]!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@overload
def api_time(value: datetime) -> str: ...


@overload
def api_time(value: datetime | None) -> str | None: ...


def api_time(value: datetime | None) -> str | None:
    """The one spelling of a time in the API: ISO 8601 in UTC with a Z (None stays None)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
