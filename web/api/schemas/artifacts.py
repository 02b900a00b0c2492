"""Artifacts, tags and accessories (Harbor's Artifact, Tag, Reference, Accessory)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from models.values import MAX_NAME
from web.api.schemas.common import Closed, PageQuery, Query, RequestBody
from web.api.schemas.labels import Label


class Tag(Closed):
    id: int
    name: str
    push_time: str | None
    immutable: bool
    signed: bool
    repository_id: int
    artifact_id: int


class Reference(Closed):
    parent_id: int
    child_id: int | None
    child_digest: str
    platform: dict[str, Any] | None
    annotations: dict[str, Any] | None


class Verification(Closed):
    status: str | None
    reason: str | None
    verified_at: str | None


class Artifact(Closed):
    id: int
    type: str | None
    media_type: str | None
    manifest_media_type: str | None
    project_id: int
    repository_id: int
    digest: str
    size: int
    push_time: str | None
    pull_time: str | None
    tags: list[Tag] | None
    references: list[Reference]
    icon: str
    verification: Verification
    labels: list[Label] | None = None  # with_label=true only


class TagReq(RequestBody):
    name: str | None = Field(None, max_length=MAX_NAME)


class SignatureVerdict(Closed):
    format: str
    layer: str | None
    key_id: str | None
    verified: bool
    status: str
    reason: str | None
    checked_time: str | None


class Accessory(Closed):
    id: int
    artifact_id: int
    subject_artifact_id: int
    subject_artifact_digest: str
    subject_artifact_repo: str
    size: int
    digest: str
    type: str
    icon: str
    creation_time: str | None
    verification: list[SignatureVerdict]


class ArtifactQuery(Query):
    with_tag: bool | None = None
    with_signature: bool | None = None
    with_label: bool | None = None
    with_immutable_status: bool | None = None


class ArtifactListQuery(PageQuery, ArtifactQuery):
    pass
