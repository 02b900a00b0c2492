"""Project members (Harbor's ProjectMember, ProjectMemberEntity, RoleRequest)."""

from __future__ import annotations

from pydantic import Field

from models.values import MAX_NAME
from web.api.schemas.common import Closed, PageQuery, RequestBody


class ProjectMemberEntity(Closed):
    id: int
    project_id: int
    entity_name: str
    role_name: str
    role_id: int
    entity_id: int
    entity_type: str


class ProjectMember(RequestBody):
    role_id: int | None = None
    member_user: dict[str, int | str | None] | None = None
    member_group: dict[str, int | str | None] | None = None


class RoleRequest(RequestBody):
    role_id: int | None = None


class MemberListQuery(PageQuery):
    entityname: str | None = Field(None, max_length=MAX_NAME)
