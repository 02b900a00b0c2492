"""A project's summary, metadatas and log (Harbor's ProjectSummary, the metadata map,
AuditLog)."""

from __future__ import annotations

from pydantic import Field

from web.api.schemas.artifacts import ArtifactListQuery
from web.api.schemas.common import MAX_QUERY, Closed, ListQuery, RequestBody

Setting = str | bool | int | None


class ProjectSummaryQuota(Closed):
    """The project's storage limit and usage, in bytes (hard -1: unlimited)."""

    hard: dict[str, int]
    used: dict[str, int]


class ProjectSummary(Closed):
    """quota is absent for a project without one."""

    repo_count: int
    project_admin_count: int
    maintainer_count: int
    developer_count: int
    guest_count: int
    limited_guest_count: int
    quota: ProjectSummaryQuota | None = None


class ProjectMetadata(RequestBody):
    """Settings by name; each value a string as Harbor keeps them (a boolean or a number is
    taken too). A name not listed here is refused by the service, naming it."""

    public: Setting = None
    enable_content_trust: Setting = None
    enable_content_trust_cosign: Setting = None
    sign_on_push: Setting = None
    sparse_index: Setting = None
    auto_scan: Setting = None
    auto_sbom_generation: Setting = None
    prevent_vul: Setting = None
    severity: Setting = None
    reuse_sys_cve_allowlist: Setting = None
    retention_id: Setting = None
    proxy_speed_kb: Setting = None


class ProjectArtifactQuery(ArtifactListQuery):
    q: str | None = Field(None, max_length=MAX_QUERY, description="digest=..., media_type=...")
    with_scan_overview: bool | None = None
    with_sbom_overview: bool | None = None
    with_accessory: bool | None = None


class LogQuery(ListQuery):
    """q keys: username, operation, resource_type, resource, op_time; sort: op_time, id,
    username."""


class AuditLog(Closed):
    id: int
    username: str
    resource: str
    resource_type: str
    operation: str
    op_time: str | None
