"""Labels: global ones (scope "g") and a project's (scope "p"), and the artifacts carrying them.

    spec = parse_label(body)                      # LabelInvalid naming the field
    label_id = await create_label(spec)           # LabelNameTaken: the name is used in scope
    await attach(artifact_id, artifact_project_id, label)
    (await labels_of([artifact_id]))[artifact_id] # [Label, ...] by name, one query

A project's label may go only on that project's artifacts; a global label on any. Deleting a
label takes it off every artifact (ON DELETE CASCADE), as deleting an artifact takes its labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from models import ArtifactLabel, Label, Project
from models.errors import AlreadyExists, InvalidInput, NotFound

GLOBAL, PROJECT = "g", "p"
SCOPES = (GLOBAL, PROJECT)
MAX_NAME, MAX_COLOR, MAX_DESCRIPTION = 128, 32, 1024


class LabelInvalid(InvalidInput):
    """A Label body the service cannot accept; the reason names the field."""


class LabelUnknown(NotFound):
    def __init__(self, label_id: int) -> None:
        super().__init__(f"label {label_id} not found")


class LabelNameTaken(AlreadyExists):
    def __init__(self, name: str) -> None:
        super().__init__(f"a label named {name!r} exists already in this scope")


class LabelAttached(AlreadyExists):
    def __init__(self, label_id: int) -> None:
        super().__init__(f"label {label_id} is already added to the artifact")


class LabelNotAttached(NotFound):
    def __init__(self, label_id: int) -> None:
        super().__init__(f"label {label_id} is not added to the artifact")


class LabelOtherProject(InvalidInput):
    def __init__(self, label_id: int) -> None:
        super().__init__(f"label {label_id} belongs to another project")


@dataclass(frozen=True, slots=True)
class LabelSpec:
    """A validated Label body (name, description, color; scope and project on creation)."""

    name: str
    description: str
    color: str
    scope: str = GLOBAL
    project_id: int | None = None


def parse_label(body: dict[str, Any], current: Label | None = None) -> LabelSpec:
    """A creation body, or (current given) an update body: what it leaves out stays as it
    is, and its scope and project, if given, must be the label's."""
    name = body.get("name", current.name if current else None)
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= MAX_NAME:
        raise LabelInvalid(f"name is required (1..{MAX_NAME} characters)")
    description = body.get("description", current.description if current else "") or ""
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        raise LabelInvalid(f"description must be a string of at most {MAX_DESCRIPTION} characters")
    color = body.get("color", current.color if current else "") or ""
    if not isinstance(color, str) or len(color) > MAX_COLOR:
        raise LabelInvalid(f"color must be a string of at most {MAX_COLOR} characters")
    scope, project_id = _scope(body, current)
    return LabelSpec(name.strip(), description, color, scope, project_id)


def _scope(body: dict[str, Any], current: Label | None) -> tuple[str, int | None]:
    if current is not None:
        mine = _project_of(current)
        if body.get("scope", current.scope) != current.scope or body.get("project_id") not in (
            None,
            mine or 0,
        ):
            raise LabelInvalid("the scope and project_id of a label cannot change")
        return current.scope, mine
    scope = body.get("scope", GLOBAL)
    if scope not in SCOPES:
        raise LabelInvalid("scope must be g (global) or p (project)")
    if scope == GLOBAL:
        return GLOBAL, None
    project_id = body.get("project_id")
    if isinstance(project_id, bool) or not isinstance(project_id, int) or project_id < 1:
        raise LabelInvalid("project_id is required for a project label (scope p)")
    if project_id >= 2**31:
        raise LabelInvalid(f"project_id {project_id} is not a project id")
    return PROJECT, project_id


def _project_of(label: Label) -> int | None:
    return label.project_id  # type: ignore[attr-defined]


def project_id_of(label: Label) -> int:
    """The label's project id as Harbor shows it: 0 for a global label."""
    return _project_of(label) or 0


# --- labels --------------------------------------------------------------------------------


async def create_label(spec: LabelSpec) -> Label:
    """Store a label; LabelNameTaken when its scope has the name, NotFound for no project."""
    if spec.project_id is not None and not await Project.exists(id=spec.project_id):
        raise NotFound(f"project {spec.project_id} not found")
    try:
        return await Label.create(
            name=spec.name,
            description=spec.description,
            color=spec.color,
            scope=spec.scope,
            project_id=spec.project_id,
        )
    except IntegrityError:
        raise LabelNameTaken(spec.name) from None


async def update_label(label: Label, spec: LabelSpec) -> None:
    changes = {"name": spec.name, "description": spec.description, "color": spec.color}
    try:
        await Label.filter(id=label.id).update(**changes, updated_at=datetime.now(UTC))
    except IntegrityError:
        raise LabelNameTaken(spec.name) from None


async def delete_label(label: Label) -> int:
    """Delete the label, off every artifact; how many artifacts carried it."""
    carried = await ArtifactLabel.filter(label_id=label.id).count()
    await Label.filter(id=label.id).delete()
    return carried


async def get_label(label_id: int) -> Label:
    label = await Label.get_or_none(id=label_id)
    if label is None:
        raise LabelUnknown(label_id)
    return label


async def list_labels(
    scope: str,
    project_id: int | None,
    filters: dict[str, Any],
    order: list[str],
    offset: int,
    limit: int,
) -> tuple[list[Label], int]:
    """A page of the scope's labels (one project's for scope p) and their total."""
    query = Label.filter(scope=scope, **filters)
    if scope == PROJECT:
        query = query.filter(project_id=project_id)
    total = await query.count()
    rows = await query.order_by(*order, "name", "id").offset(offset).limit(limit)
    return list(rows), total


# --- on artifacts --------------------------------------------------------------------------


async def attach(artifact_id: int, artifact_project_id: int, label: Label) -> None:
    """Put the label on the artifact; LabelOtherProject for another project's label,
    LabelAttached when it is on already."""
    mine = _project_of(label)
    if mine is not None and mine != artifact_project_id:
        raise LabelOtherProject(label.id)
    if await ArtifactLabel.exists(manifest_id=artifact_id, label_id=label.id):
        raise LabelAttached(label.id)
    try:
        await ArtifactLabel.create(manifest_id=artifact_id, label_id=label.id)
    except IntegrityError:
        raise LabelAttached(label.id) from None


async def detach(artifact_id: int, label_id: int) -> None:
    """Take the label off the artifact; LabelNotAttached when it is not on it."""
    if not await ArtifactLabel.filter(manifest_id=artifact_id, label_id=label_id).delete():
        raise LabelNotAttached(label_id)


async def labels_of(artifact_ids: list[int]) -> dict[int, list[Label]]:
    """The labels on each of the artifacts, by name; one query. An artifact without any
    is absent (callers use .get(id, []))."""
    if not artifact_ids:
        return {}
    rows = (
        await ArtifactLabel.filter(manifest_id__in=artifact_ids)
        .select_related("label")
        .order_by("label__name", "label_id")
    )
    out: dict[int, list[Label]] = {}
    for row in rows:
        out.setdefault(int(row.manifest_id), []).append(row.label)  # type: ignore[attr-defined]
    return out
