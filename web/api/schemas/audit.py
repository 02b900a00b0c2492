"""The audit log (Harbor's AuditLogExt, AuditLogEventType; Berth's highlights)."""

from __future__ import annotations

from pydantic import Field

from web.api.schemas.common import (
    Closed,  # noqa: E402
    ListQuery,
)


class AuditLogExt(Closed):
    op_time: str
    username: str | None
    operation: str | None
    resource_type: str | None
    resource: str | None
    project: str | None
    operation_result: bool
    client_ip: str | None
    user_agent: str | None
    operation_description: str | None
    id: int
    highlights: dict[str, str] | None = None  # with text= only


class AuditLogEventType(Closed):
    event_type: str


class AuditQuery(ListQuery):
    text: str | None = Field(None, max_length=256)


class ExportQuery(AuditQuery):
    pass


class AuditLog(Closed):
    """Harbor's AuditLog (listAuditLogs)."""

    id: int
    username: str
    resource: str
    resource_type: str
    operation: str
    op_time: str
