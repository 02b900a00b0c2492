"""Labels: create, change, delete (global ones by system admins, a project's by its admins
and maintainers), and put on or take off an artifact (developers up); each audited."""

from __future__ import annotations

from access.errors import NotFound
from access.policy import Identity, project_access
from access.roles import Permission
from core import artifacts, audit, events, labels
from core.artifacts import ArtifactRef, RepositoryRef
from models import Label
from services.artifacts import RepositoryPath
from services.attempts import Call, attempt, requested
from services.rights import ProjectRef, project_scope, require, require_system

_PROJECT_RIGHTS = {
    "create": Permission.LABEL_CREATE,
    "update": Permission.LABEL_UPDATE,
    "delete": Permission.LABEL_DELETE,
    "read": Permission.LABEL_READ,
    "list": Permission.LABEL_LIST,
}


async def require_label_right(identity: Identity, scope: str, project_id: int, action: str) -> str:
    """Nothing raised when identity may do action ("create", "read"...) on labels of the
    scope: a system-level right for global ones, the project's for a project's. The
    project's name ("" for global)."""
    if scope == labels.GLOBAL:
        require_system(identity, f"label:{action}")
        return ""
    ref = ProjectRef(str(project_id), by_name=False)
    return (await project_scope(identity, ref, _PROJECT_RIGHTS[action])).project.name


async def create(call: Call) -> Label:
    """A new label from a Label body."""
    event = audit.Event(audit.CREATE, audit.LABEL, await requested(call, "name", 128))
    async with attempt(call, event) as op:
        body = await op.body()
        spec = labels.parse_label(body)
        project_id = spec.project_id or 0
        event.project = await require_label_right(op.caller, spec.scope, project_id, "create")
        event.project_id = spec.project_id
        label = await labels.create_label(spec)
        event.resource, event.description = label.name, f"scope {spec.scope}"
        await events.emit(op.tx, event)
    return label


async def update(call: Call, label_id: int) -> None:
    """Change a label's name, description or color."""
    event = audit.Event(audit.UPDATE, audit.LABEL, f"label {label_id}")
    async with attempt(call, event) as op:
        label = await _label(op.caller, label_id, event, "update")
        spec = labels.parse_label(await op.body(), label)
        await labels.update_label(label, spec)
        before = {"name": label.name, "description": label.description, "color": label.color}
        after = {"name": spec.name, "description": spec.description, "color": spec.color}
        event.description = audit.changes(before, after)
        await events.emit(op.tx, event)


async def delete(call: Call, label_id: int) -> None:
    """Delete a label; it comes off every artifact."""
    event = audit.Event(audit.DELETE, audit.LABEL, f"label {label_id}")
    async with attempt(call, event) as op:
        label = await _label(op.caller, label_id, event, "delete")
        carried = await labels.delete_label(label)
        event.description = f"removed from {carried} artifact(s)"
        await events.emit(op.tx, event)


async def add_to_artifact(call: Call, path: RepositoryPath, reference: str) -> None:
    """Put the label the body's id names on the artifact."""
    event = audit.Event(audit.CREATE, audit.LABEL, path.name, path.project, host=call.host)
    async with attempt(call, event) as op:
        repo, found = await _artifact(op.caller, path, reference, event, "create")
        label_id = (await op.body()).get("id")
        if isinstance(label_id, bool) or not isinstance(label_id, int) or label_id < 1:
            raise labels.LabelInvalid("id (the label's) is required")
        label = await labels.get_label(label_id) if label_id < 2**31 else None
        if label is None:
            raise labels.LabelUnknown(label_id)
        await labels.attach(found.id, repo.project_id, label)
        event.resource = f"{label.name} on {path.name}@{found.digest}"
        await events.emit(op.tx, event)


async def remove_from_artifact(
    call: Call, path: RepositoryPath, reference: str, label_id: int
) -> None:
    """Take the label off the artifact."""
    event = audit.Event(audit.DELETE, audit.LABEL, path.name, path.project, host=call.host)
    async with attempt(call, event) as op:
        _repo, found = await _artifact(op.caller, path, reference, event, "delete")
        label = await labels.get_label(label_id)
        await labels.detach(found.id, label_id)
        event.resource = f"{label.name} on {path.name}@{found.digest}"
        await events.emit(op.tx, event)


async def _label(identity: Identity, label_id: int, event: audit.Event, action: str) -> Label:
    """The label, if identity may act on it (its existence told only to those who may)."""
    label = await labels.get_label(label_id)
    project_id = labels.project_id_of(label)
    event.project = await require_label_right(identity, label.scope, project_id, action)
    event.project_id = project_id or None
    event.resource = label.name
    return label


async def _artifact(
    identity: Identity, path: RepositoryPath, reference: str, event: audit.Event, action: str
) -> tuple[RepositoryRef, ArtifactRef]:
    access = await project_access(identity, path.project)
    if access is not None:
        event.project_id = access.project_id
    permission = Permission(f"artifact-label:{action}")
    require(identity, access, path.project, permission)
    repo = await artifacts.repository_ref(path.name)
    if repo is None:
        raise NotFound(f"repository {path.name} not found")
    found = await artifacts.artifact_ref(repo, reference)
    if found is None:
        raise NotFound(f"artifact {reference} not found")
    return repo, found
