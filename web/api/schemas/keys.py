"""A project's signing and trusted keys (Berth's own)."""

from __future__ import annotations

from web.api.schemas.common import Closed, RequestBody


class ProjectKey(Closed):
    id: int
    key_id: str
    kind: str
    status: str
    name: str | None
    public_key: str
    creation_time: str
    retired_time: str | None


class TrustedKeyReq(RequestBody):
    kind: str | None = None
    name: str | None = None
    public_key: str | None = None
