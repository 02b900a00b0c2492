"""The one parser of what a caller sends: path parts, query parameters, names, booleans, times.

Every request passes `check_request` first (a before_request hook): a NUL, bytes that are not
UTF-8 once percent-decoded, or an over-long part anywhere in the path or the query string is a
400 naming the parameter, before any handler or database sees it. PostgreSQL cannot store or
compare a NUL, and the ORM refuses values longer than a column; refusing them here is what keeps
such input from ever becoming a 500. Handlers then read typed values with the helpers below.

The limits are constants, not settings: they are what the columns and the grammars allow.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from quart import request
from werkzeug.routing import IntegerConverter

from models.values import (
    MAX_NAME,
    ParameterInvalid,
    api_time,
    check_text,
    parse_bool,
    parse_time,
)

__all__ = ["ParameterInvalid", "api_time", "check_text", "parse_bool", "parse_time"]

MAX_QUERY = 1024  # q=, and the few query values that are not names (LONG_PARAMETERS)
MAX_PATH = 4096  # the whole path
# Every other query value names something a column holds (at most MAX_NAME characters): a
# longer one names nothing, and the ORM refuses to compare it (a 500 otherwise).
LONG_PARAMETERS = frozenset({"q", "text", "groupdn"})


def check_request() -> None:
    """Refuse a path or query string with a NUL, invalid UTF-8 or an over-long part."""
    raw_path: bytes = request.scope.get("raw_path") or request.path.encode()
    path = raw_path.split(b"?", 1)[0]
    if len(path) > MAX_PATH:
        raise ParameterInvalid("path", f"longer than {MAX_PATH} bytes")
    plain = path.isascii() and b"%" not in path and b"\x00" not in path
    for segment in path.split(b"/"):
        if plain:  # the common case, checked without decoding: only its length can be wrong
            if len(segment) > MAX_NAME:
                raise ParameterInvalid("path", f"longer than {MAX_NAME} characters")
            continue
        _check_bytes("path", unquote_to_bytes(segment), MAX_NAME)
    query: bytes = request.scope.get("query_string") or b""
    for pair in query.split(b"&") if query else ():
        key, _, value = pair.partition(b"=")
        name = _check_bytes("query parameter", _unquote(key), MAX_NAME)
        limit = MAX_QUERY if name in LONG_PARAMETERS else MAX_NAME
        _check_bytes(name or "query parameter", _unquote(value), limit)


def _unquote(part: bytes) -> bytes:
    return unquote_to_bytes(part.replace(b"+", b" "))


def _check_bytes(parameter: str, value: bytes, limit: int) -> str:
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        raise ParameterInvalid(parameter, "is not valid UTF-8") from None
    return check_text(parameter, text, limit)


def arg(name: str, default: str | None = None, limit: int = MAX_QUERY) -> str | None:
    """The query parameter name as text (default when absent)."""
    value = request.args.get(name)
    return default if value is None else check_text(name, value, limit)


def name_arg(name: str, limit: int = MAX_NAME) -> str | None:
    """A query parameter that names something (a user, a repository, a tag); None when empty."""
    return arg(name, limit=limit) or None


def int_arg(name: str, default: int, low: int, high: int | None = None) -> int:
    """An integer query parameter within low..high."""
    raw = arg(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ParameterInvalid(name, f"{raw[:32]!r} is not an integer") from None
    if value < low or (high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise ParameterInvalid(name, f"must be {bounds}")
    return value


def bool_arg(name: str, default: bool) -> bool:
    """A boolean query parameter (true / false / 1 / 0, any case)."""
    raw = arg(name)
    return default if raw is None else parse_bool(name, raw)


class RowId(IntegerConverter):
    """`<int:...>` in a route: a row id, 1 to the largest a database INTEGER holds. A larger
    number names nothing (404), rather than overflowing the database driver (a 500)."""

    def __init__(self, map: object, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)  # type: ignore[arg-type]
