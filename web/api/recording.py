"""Recording the REST API's changes in the audit log (core/audit.py writes the events).

A handler wraps its service call, the rights check included, so that a refused attempt is
recorded as a failed one:

    async with recorded(audit.DELETE, audit.PROJECT, name, project=name) as event:
        scope = await project_scope(ref, Permission.PROJECT_DELETE)
        ...
        event.description = "..."

The caller's credentials are checked before the operation's transaction opens: a wrong
password's throttle count and its failed-login event (web/auth.py) must not roll back with
the operation. Checking again inside costs nothing: a request resolves its caller once.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Collection, Mapping
from typing import Any

from quart import request

from core import audit
from web.api.common import current_identity
from web.auth import LOGIN_FAILURES

_MAX_VALUE = 120  # characters of one value in a description


@contextlib.asynccontextmanager
async def recorded(
    operation: str,
    resource_type: str,
    resource: str,
    *,
    project: str = "",
    project_id: int | None = None,
    description: str = "",
) -> AsyncIterator[audit.Event]:
    """`audit.audited` for a REST API request, its caller authenticated first."""
    try:
        await current_identity()
    except LOGIN_FAILURES:
        raise  # recorded as the failed login it is; nobody known attempted the operation
    except Exception as exc:  # e.g. a session request without its CSRF token
        event = audit.Event(operation, resource_type, resource, project, project_id, description)
        await audit.record_failure(event, exc)
        raise
    async with audit.audited(
        operation,
        resource_type,
        resource,
        project=project,
        project_id=project_id,
        description=description,
    ) as event:
        yield event


async def peeked_body() -> dict[str, Any]:
    """The request's JSON object, or {} for anything else: names the target of an attempt
    before the rights check, whose answer must come before any complaint about the body."""
    body = await request.get_json(force=True, silent=True)
    return body if isinstance(body, dict) else {}


async def requested(key: str, limit: int = 255) -> str:
    """The string a JSON body gives for key, or ""; for naming an attempt's target."""
    value = (await peeked_body()).get(key)
    return value.strip()[:limit] if isinstance(value, str) else ""


def changes(
    before: Mapping[str, object], after: Mapping[str, object], hidden: Collection[str] = ()
) -> str:
    """`key: old -> new` for each key of after whose value differs from before, or
    "no change"; keys in hidden are named without their values (secrets, personal data)."""
    parts = []
    for key, new in after.items():
        old = before.get(key)
        if old == new:
            continue
        parts.append(f"{key} changed" if key in hidden else f"{key}: {shown(old)} -> {shown(new)}")
    return ", ".join(parts) or "no change"


def shown(value: object) -> str:
    """A value as a description shows it: JSON's spelling, strings bare, cut when long."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 3] + "..."
