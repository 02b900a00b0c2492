"""Robot accounts (Harbor's Robot, RobotCreate, RobotCreated, RobotSec)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import WithJsonSchema

from web.api.schemas.common import Closed, RequestBody


class Robot(Closed):
    id: int
    name: str
    description: str | None
    level: str
    duration: int | None
    editable: bool
    disable: bool
    expires_at: int
    permissions: list[dict[str, Any]] | None
    creation_time: str
    update_time: str


class RobotCreated(Closed):
    id: int
    name: str
    secret: str
    creation_time: str
    expires_at: int


class RobotSec(Closed):
    secret: str


# The service reads the body to learn the level before it checks the caller's rights to it,
# and a caller without those rights gets 403 whatever else the body holds: so the
# permissions are documented as Harbor's list but checked by the service, after the rights.
Permissions = Annotated[
    Any,
    WithJsonSchema({"anyOf": [{"type": "array", "items": {"type": "object"}}, {"type": "null"}]}),
]


class RobotCreate(RequestBody):
    name: str | None = None
    description: str | None = None
    level: str | None = None
    duration: int | None = None
    disable: bool | None = None
    permissions: Permissions = None


class RobotUpdate(RobotCreate):
    pass


class RobotSecretReq(RequestBody):
    secret: str | None = None
