"""Harbor's list-query syntax: `q=k=v,k=~v,k=[a~b],k={a b c}` and `sort=a,-b`.

Each endpoint passes the keys it accepts; anything else is a ParameterInvalid naming the problem.
The result is plain data (key, op, values) that services turn into database filters, e.g.

    terms = parse_query(request.args.get("q"), {"name": str, "public": as_bool})
    rows = await Project.filter(**tortoise_filters(terms, {"name": "name"}))
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, NamedTuple

from web.params import MAX_NAME, ParameterInvalid, check_text, parse_bool

# key -> parser of one value (str, int, as_bool, ...); a ValueError becomes a ParameterInvalid.
KeyParsers = Mapping[str, Callable[[str], Any]]

EXACT, CONTAINS, RANGE, ANY = "exact", "contains", "range", "any"
_CLOSERS = {"[": "]", "{": "}", "(": ")"}


class Term(NamedTuple):
    """One condition. values: one for exact and contains, (low, high) for range (None for an
    open end), one or more for any."""

    key: str
    op: str
    values: tuple[Any, ...]


class SortKey(NamedTuple):
    key: str
    descending: bool


def as_bool(value: str) -> bool:
    """A q= boolean, by the one boolean parser (true / false / 1 / 0)."""
    return parse_bool("q", value)


def as_row_id(value: str) -> int:
    """A q= id: a whole number a database INTEGER holds (a larger one would overflow the
    driver, not name nothing)."""
    number = int(value)
    if not 0 <= number < 2**31:
        raise ValueError(f"{value} is not an id (0..{2**31 - 1})")
    return number


def parse_query(q: str | None, allowed: KeyParsers) -> list[Term]:
    """The terms of a `q` parameter; ParameterInvalid for a malformed term or a key not allowed."""
    if not q or not q.strip():
        return []
    return [_parse_term(raw.strip(), allowed) for raw in _split_terms(q)]


def parse_sort(sort: str | None, allowed: Collection[str]) -> list[SortKey]:
    """`a,-b`: ascending by a, then descending by b; ParameterInvalid for a key not allowed."""
    if not sort or not sort.strip():
        return []
    keys = []
    for raw in sort.split(","):
        raw = raw.strip()
        descending = raw.startswith("-")
        key = raw.lstrip("-").strip()
        if not key:
            raise _bad("sort", f"empty key in {sort!r}")
        if key not in allowed:
            allowed_keys = ", ".join(sorted(allowed))
            raise _bad("sort", f"cannot sort by {key!r}; allowed: {allowed_keys}")
        keys.append(SortKey(key, descending))
    return keys


def tortoise_filters(terms: list[Term], columns: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Keyword filters for Model.filter(); columns renames API keys to model fields."""
    filters: dict[str, Any] = {}
    for term in terms:
        column = (columns or {}).get(term.key, term.key)
        if term.op == EXACT:
            filters[column] = term.values[0]
        elif term.op == CONTAINS:
            filters[f"{column}__icontains"] = term.values[0]
        elif term.op == ANY:
            filters[f"{column}__in"] = list(term.values)
        else:
            low, high = term.values
            if low is not None:
                filters[f"{column}__gte"] = low
            if high is not None:
                filters[f"{column}__lte"] = high
    return filters


def tortoise_order(keys: list[SortKey], columns: Mapping[str, str] | None = None) -> list[str]:
    """Arguments for QuerySet.order_by(): ["name", "-created_at"]."""
    return [("-" if k.descending else "") + (columns or {}).get(k.key, k.key) for k in keys]


def _split_terms(q: str) -> list[str]:
    """Split on commas that are not inside [], {} or ()."""
    terms: list[str] = []
    current: list[str] = []
    closing = ""
    for char in q:
        if closing:
            closing = "" if char == closing else closing
        elif char in _CLOSERS:
            closing = _CLOSERS[char]
        elif char == ",":
            terms.append("".join(current))
            current = []
            continue
        current.append(char)
    if closing:
        raise _bad("q", f"unclosed bracket in {q!r}")
    terms.append("".join(current))
    return terms


def _parse_term(raw: str, allowed: KeyParsers) -> Term:
    key, sep, value = raw.partition("=")
    key = key.strip()
    if not sep or not key:
        raise _bad("q", f"{raw!r} is not key=value")
    if key not in allowed:
        allowed_keys = ", ".join(sorted(allowed))
        raise _bad("q", f"cannot filter by {key!r}; allowed: {allowed_keys}")
    parse = allowed[key]
    if value.startswith("~"):
        if parse is not str:
            raise _bad("q", f"{key!r} does not support =~ (contains)")
        return Term(key, CONTAINS, (_value(key, value[1:], parse),))
    if value.startswith("[") and value.endswith("]"):
        return _range(key, value[1:-1], parse)
    if value.startswith("{") and value.endswith("}"):
        values = value[1:-1].split()
        if not values:
            raise _bad("q", f"{key}={{}} lists no values")
        return Term(key, ANY, tuple(_value(key, v, parse) for v in values))
    if value.startswith("(") and value.endswith(")"):
        raise _bad("q", f"{key}=(...) (all of) is not supported here")
    if value.startswith(("[", "{")):
        raise _bad("q", f"unbalanced brackets in {raw!r}")
    return Term(key, EXACT, (_value(key, value, parse),))


def _range(key: str, inner: str, parse: Callable[[str], Any]) -> Term:
    low, sep, high = inner.partition("~")
    if not sep or (not low.strip() and not high.strip()):
        raise _bad("q", f"{key}=[{inner}] is not a range [low~high]")
    bounds = tuple(_value(key, b.strip(), parse) if b.strip() else None for b in (low, high))
    return Term(key, RANGE, bounds)


def _value(key: str, value: str, parse: Callable[[str], Any]) -> Any:
    if value == "":
        raise _bad("q", f"{key!r} has an empty value")
    check_text(f"q: {key}", value, MAX_NAME)  # what a column holds: longer names nothing
    try:
        return parse(value)
    except (ValueError, TypeError) as exc:
        raise _bad("q", f"bad value for {key!r}: {exc}") from None
    except ParameterInvalid as exc:
        raise _bad("q", f"bad value for {key!r}: {exc.reason}") from None


def _bad(parameter: str, reason: str) -> ParameterInvalid:
    return ParameterInvalid(parameter, reason, f"{parameter}: {reason}")
