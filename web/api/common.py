"""What every /api/v2.0 handler shares: the caller, the JSON body, paging."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from quart import Response, current_app, request

from access.errors import AuthenticationFailed
from access.policy import Identity
from core import audit
from web.api.openapi import check_body
from web.auth import AuthServices, resolve_caller
from web.params import MAX_QUERY, ParameterInvalid, check_text, int_arg

MAX_PAGE_SIZE = 100


async def current_identity() -> Identity:
    """The caller: Basic credentials, or the session cookie (set by POST /c/login), or nobody.

    A session cookie on an unsafe method needs the CSRF token in X-Harbor-CSRF-Token.
    """
    auth: AuthServices = current_app.extensions["auth"]
    session_identity = await current_app.extensions["sessions"].identity(request)
    if session_identity is not None:
        audit.identify(session_identity.username)
        return session_identity
    return (await resolve_caller(request, auth)).identity


async def signed_in() -> Identity:
    """The caller, who must not be anonymous (401 otherwise)."""
    identity = await current_identity()
    if identity.anonymous:
        raise AuthenticationFailed("sign in first")
    return identity


async def json_body() -> dict[str, Any]:
    """The request's JSON object, without a NUL in any string, valid for the body model of the
    route's operation (web/api/openapi.py); ParameterInvalid naming the field otherwise."""
    try:
        body = await request.get_json(force=True, silent=False)
    except Exception:
        raise ParameterInvalid("body", "is not valid JSON") from None
    if not isinstance(body, dict):
        raise ParameterInvalid("body", "must be a JSON object")
    _check_strings("body", body)
    check_body(await request.get_data(cache=True))
    return body


def _check_strings(where: str, value: Any) -> None:
    """PostgreSQL stores no NUL: refuse one anywhere in a body, naming the field."""
    if isinstance(value, str):
        check_text(where, value, limit=len(value))
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(where, str(key), MAX_QUERY)
            _check_strings(f"{where}.{key}", item)
    elif isinstance(value, list):
        for item in value:
            _check_strings(where, item)


@dataclass(frozen=True, slots=True)
class Paging:
    page: int
    page_size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


def paging() -> Paging:
    """`page` (from 1) and `page_size` (1..100, default 10) from the query."""
    # An offset past any table's size: bounds the page so that no database overflows on it.
    page = int_arg("page", 1, 1, 10_000_000)
    return Paging(page, int_arg("page_size", 10, 1, MAX_PAGE_SIZE))


def paged_response(items: list[Any], total: int, pages: Paging) -> Response:
    """A JSON list with X-Total-Count and a Link header to the previous and next pages."""
    response = Response(json.dumps(items, default=str), content_type="application/json")
    response.headers["X-Total-Count"] = str(total)
    links = []
    query = {k: v for k, v in request.args.items() if k not in ("page", "page_size")}
    if pages.page > 1:
        prev = urlencode({**query, "page": pages.page - 1, "page_size": pages.page_size})
        links.append(f'<{request.path}?{prev}>; rel="prev"')
    if pages.offset + len(items) < total:
        nxt = urlencode({**query, "page": pages.page + 1, "page_size": pages.page_size})
        links.append(f'<{request.path}?{nxt}>; rel="next"')
    if links:
        response.headers["Link"] = ", ".join(links)
    return response


def created(location: str, body: Any = None) -> Response:
    """201 naming the new resource in Location; a JSON body only when given."""
    response = Response("", status=201) if body is None else json_response(body, 201)
    response.headers["Location"] = location
    return response


def wake_jobs(enqueued: int | bool) -> None:
    """A commit enqueued jobs: dispatch them now, not at the dispatcher's next tick."""
    jobs = current_app.extensions.get("jobs")
    if enqueued and jobs is not None:
        jobs.wake()


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, default=str), status=status, content_type="application/json")
