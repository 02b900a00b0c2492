"""The audit log API: Harbor's /auditlog-exts, plus free text with highlights and CSV export.

A system admin reads every event; a Project Admin the events of the projects they administer;
anybody else signed in gets 403. Filters read the database; `text=` reads the search backend,
which follows the database within about a second.
"""

from __future__ import annotations

import csv
import dataclasses
import html
import io
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from quart import Response, current_app, request

from access.errors import Forbidden
from access.policy import Identity, project_access, project_ids_with
from access.roles import Permission
from core import audit
from core.service import Registry
from models.errors import InvalidInput, NotFound
from search.audit import (
    MARK_END,
    MARK_START,
    NEWEST_FIRST,
    AuditHit,
    AuditQuery,
    Condition,
)
from web.api import api
from web.api.common import (
    json_response,
    paged_response,
    paging,
    signed_in,
)
from web.api.openapi import Content, operation
from web.api.query import as_bool, parse_query, parse_sort
from web.api.schemas.audit import AuditLog, AuditLogEventType, AuditLogExt, ExportQuery
from web.api.schemas.audit import AuditQuery as AuditParams
from web.api.schemas.common import ListQuery
from web.params import api_time, parse_time

# API key -> (record field, value parser)
_KEYS: dict[str, tuple[str, Any]] = {
    "username": ("username", str),
    "operation": ("operation", str),
    "resource_type": ("resource_type", str),
    "resource": ("resource", str),
    "project": ("project", str),
    "operation_result": ("success", as_bool),
    "client_ip": ("client_address", str),
    "op_time": ("occurred_at", lambda v: parse_time("q: op_time", v)),
    "id": ("id", int),
}
_SORTS = {
    "op_time": "occurred_at",
    "id": "id",
    "username": "username",
    "operation": "operation",
    "resource_type": "resource_type",
    "resource": "resource",
}
MAX_TEXT = 256
MAX_WINDOW = 10_000  # deepest result reachable by paging: narrow the query to go further
# X-Total-Count is exact up to here (free text: up to MAX_WINDOW); past it, it says this
# number and X-Total-Count-Exact: false.
COUNT_LIMIT = 100_000
EXPORT_LIMIT = MAX_WINDOW  # the same window as paging, so every backend can serve it
EXPORT_PAGE = 1000
CSV_COLUMNS = (
    "op_time",
    "username",
    "operation",
    "resource_type",
    "resource",
    "project",
    "operation_result",
    "client_ip",
    "user_agent",
    "operation_description",
)


@api.get("/auditlog-exts")
@operation("listAuditLogExts", "auditlog", query=AuditParams, responses={200: list[AuditLogExt]})
async def list_events() -> Response:
    return await _page(await _scope(None))


@api.get("/projects/<project_name>/auditlog-exts")
@operation("getLogExts", "project", query=AuditParams, responses={200: list[AuditLogExt]})
async def list_project_events(project_name: str) -> Response:
    return await _page(await _scope(project_name))


@api.get("/audit-logs")
@operation("listAuditLogs", "auditlog", query=ListQuery, responses={200: list[AuditLog]})
async def list_audit_logs() -> Response:
    """Harbor's listAuditLogs: the same query as /auditlog-exts, in Harbor's AuditLog shape;
    a caller who may read no project's log gets an empty page (Harbor's answer), not 403."""
    identity = await signed_in()
    allowed = await project_ids_with(identity, Permission.LOG_LIST)
    scope = None if allowed is None else frozenset(allowed)
    if scope is not None and not scope:
        return paged_response([], 0, paging())
    return await _page(scope, _audit_log)


@api.get("/auditlog-exts/events")
@operation("listAuditLogEventTypes", "auditlog", responses={200: list[AuditLogEventType]})
async def event_types() -> Response:
    await _scope(None)
    types = [f"{op}_{kind}" for kind in audit.RESOURCE_TYPES for op in audit.OPERATIONS]
    return json_response([{"event_type": t} for t in types])


@api.get("/auditlog-exts/export")
@operation(
    "exportAuditLogExts", "berth", query=ExportQuery, responses={200: Content({"text/csv": str})}
)
async def export_events() -> Response:
    """Every matching event (up to EXPORT_LIMIT) as CSV, newest first by default."""
    # Pages of EXPORT_PAGE, each a query of its own: no long read transaction, and the same
    # window every backend serves.
    query = _query(await _scope(None), offset=0, limit=EXPORT_PAGE)
    query = dataclasses.replace(query, count_limit=0)  # rows only: no page needs a total
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    written = 0
    while written < EXPORT_LIMIT:
        page = await _registry().audit_index.search(query)
        for hit in page.hits:
            item = _render(hit, False)
            writer.writerow([_csv_safe(item[column]) for column in CSV_COLUMNS])
        written += len(page.hits)
        if len(page.hits) < query.limit:
            break
        query = dataclasses.replace(query, offset=written)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Response(
        out.getvalue(),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="berth-audit-{stamp}.csv"'},
    )


async def _scope(project_name: str | None) -> frozenset[int] | None:
    """The projects whose events the caller may read (None: all); 403 when none at all."""
    identity = await signed_in()
    allowed = await project_ids_with(identity, Permission.LOG_LIST)
    if project_name is not None:
        project_id = await _project_id(identity, project_name)
        if allowed is not None and project_id not in allowed:
            raise Forbidden(f"reading the audit log of {project_name} needs the Project Admin role")
        return frozenset({project_id})
    if allowed is not None and not allowed:
        raise Forbidden("reading the audit log needs the system admin or a Project Admin role")
    return None if allowed is None else frozenset(allowed)


async def _project_id(identity: Identity, name: str) -> int:
    access = await project_access(identity, name)
    if access is None or Permission.PROJECT_READ not in access.permissions:
        raise NotFound(f"project {name} not found")
    return access.project_id


async def _page(
    scope: frozenset[int] | None, render: Callable[[AuditHit, bool], dict[str, Any]] | None = None
) -> Response:
    pages = paging()
    if pages.offset + pages.page_size > MAX_WINDOW:
        raise InvalidInput(f"page * page_size may not pass {MAX_WINDOW}: narrow the query instead")
    query = _query(scope, pages.offset, pages.page_size)
    result = await _registry().audit_index.search(query)
    items = [(render or _render)(hit, bool(query.text)) for hit in result.hits]
    response = paged_response(items, result.total, pages)
    response.headers["X-Total-Count-Exact"] = "true" if result.total_exact else "false"
    return response


def _query(scope: frozenset[int] | None, offset: int, limit: int) -> AuditQuery:
    terms = parse_query(request.args.get("q"), {k: parse for k, (_f, parse) in _KEYS.items()})
    conditions = tuple(Condition(_KEYS[t.key][0], t.op, t.values) for t in terms)  # type: ignore[arg-type]
    keys = parse_sort(request.args.get("sort"), _SORTS)
    sort = tuple((_SORTS[k.key], k.descending) for k in keys)
    text = request.args.get("text", "").strip()
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"text: at most {MAX_TEXT} characters")
    return AuditQuery(
        conditions=conditions,
        text=text,
        project_ids=scope,
        sort=(*sort, ("id", True)) if sort else NEWEST_FIRST,
        offset=offset,
        limit=limit,
        # Free text counts only as far as paging can go: past that a count tells a reader
        # nothing they can use, and counting a common word's matches is most of its cost.
        count_limit=MAX_WINDOW if text else COUNT_LIMIT,
    )


def _render(hit: AuditHit, with_highlights: bool) -> dict[str, Any]:
    r = hit.record
    item: dict[str, Any] = {
        "op_time": api_time(r.occurred_at),
        "username": r.username,
        "operation": r.operation,
        "resource_type": r.resource_type,
        "resource": r.resource,
        "project": r.project,
        "operation_result": r.success,
        "client_ip": r.client_address,
        "user_agent": r.user_agent,
        "operation_description": r.description,
        "id": r.id,
    }
    if with_highlights:
        item["highlights"] = {
            _API_NAME.get(k, k): _marked(v) for k, v in hit.highlights.items() if MARK_START in v
        }
    return item


def _audit_log(hit: AuditHit, _highlights: bool) -> dict[str, Any]:
    """Harbor's AuditLog."""
    r = hit.record
    return {
        "id": r.id,
        "username": r.username,
        "resource": r.resource,
        "resource_type": r.resource_type,
        "operation": r.operation,
        "op_time": api_time(r.occurred_at),
    }


_API_NAME = {"client_address": "client_ip", "description": "operation_description"}


def _marked(fragment: str) -> str:
    """HTML-escaped text with only the backend's match marks turned into <mark> tags."""
    return html.escape(fragment).replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")


def _csv_safe(value: Any) -> Any:
    """Spreadsheets run cells starting with = + - @ as formulas: quote them as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _registry() -> Registry:
    registry: Registry = current_app.extensions["registry"]
    return registry
