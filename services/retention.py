"""Tag retention from the REST API: policies (create, change, delete), runs (start, stop)
and the reads' rights check.

Rights are Harbor's project-level tag-retention permissions (developer and up), checked on
the policy's project before anything else; each change is one attempt (services.attempts):
the change and its audit event in one transaction.
"""

from __future__ import annotations

from typing import Any

from access.errors import AuthenticationFailed
from access.policy import Identity
from access.roles import Permission
from core import audit, events, retention
from core.retention_rules import parse_policy
from models import Project, RetentionExecution, RetentionPolicy
from models.values import ParameterInvalid
from services.attempts import Attempt, Call, attempt, peeked
from services.rights import ProjectRef, project_scope

P = Permission


async def require(identity: Identity, policy_id: int, permission: Permission) -> RetentionPolicy:
    """The policy, when identity holds permission in its project (404 / 401 / 403)."""
    _signed_in(identity)
    policy = await retention.get(policy_id)
    await project_scope(identity, ProjectRef(str(policy.project_id), False), permission)
    return policy


async def create(call: Call) -> RetentionPolicy:
    """The project's policy from a RetentionPolicy body (scope.ref names the project)."""
    event = audit.Event(audit.CREATE, audit.RETENTION_POLICY, "retention policy")
    async with attempt(call, event) as op:
        await _project_right(op, await peeked(call), event)
        spec = parse_policy(await op.body())
        policy = await retention.create(spec)
        event.resource = f"retention policy {policy.id}"
        event.description = _described(spec.rules, spec.trigger)
        await events.emit(op.tx, event)
    return policy


async def update(call: Call, policy_id: int) -> None:
    event = audit.Event(audit.UPDATE, audit.RETENTION_POLICY, f"retention policy {policy_id}")
    async with attempt(call, event) as op:
        policy = await _policy_right(op, policy_id, P.TAG_RETENTION_UPDATE, event)
        spec = parse_policy(await op.body())
        await retention.update(policy, spec)
        event.description = _described(spec.rules, spec.trigger)
        await events.emit(op.tx, event)


async def delete(call: Call, policy_id: int) -> None:
    event = audit.Event(audit.DELETE, audit.RETENTION_POLICY, f"retention policy {policy_id}")
    async with attempt(call, event) as op:
        policy = await _policy_right(op, policy_id, P.TAG_RETENTION_DELETE, event)
        await retention.delete(policy)
        await events.emit(op.tx, event)


async def trigger(call: Call, policy_id: int) -> RetentionExecution:
    """A manual run; body {"dry_run": bool}."""
    event = audit.Event(audit.CREATE, audit.RETENTION, f"retention policy {policy_id}")
    async with attempt(call, event) as op:
        policy = await _policy_right(op, policy_id, P.TAG_RETENTION_UPDATE, event)
        dry_run = (await op.body()).get("dry_run", False)
        if not isinstance(dry_run, bool):
            raise ParameterInvalid("dry_run", "must be true or false")
        operator = op.caller.username or ""
        run = await retention.start(op.tx, policy, retention.MANUAL, dry_run, operator)
        event.resource, event.description = f"retention execution {run.id}", f"dry run: {dry_run}"
        await events.emit(op.tx, event)
    return run


async def stop(call: Call, policy_id: int, execution_id: int) -> None:
    """Stop a run; body {"action": "stop"} (the only action)."""
    event = audit.Event(audit.UPDATE, audit.RETENTION, f"retention execution {execution_id}")
    async with attempt(call, event) as op:
        await _policy_right(op, policy_id, P.TAG_RETENTION_UPDATE, event)
        if (await op.body()).get("action") != "stop":
            raise ParameterInvalid("action", "should be 'stop'")
        run = await retention.execution(policy_id, execution_id)
        stopped = await retention.stop(run)
        event.description = "stop requested" if stopped else "stop: it had ended already"
        await events.emit(op.tx, event)


async def _policy_right(
    op: Attempt, policy_id: int, permission: Permission, event: audit.Event
) -> RetentionPolicy:
    _signed_in(op.caller)
    policy = await retention.get(policy_id)
    event.project_id = policy.project_id
    await project_scope(op.caller, ProjectRef(str(policy.project_id), False), permission)
    return policy


async def _project_right(op: Attempt, body: dict[str, Any], event: audit.Event) -> None:
    """The right to create in the project scope.ref names, when it names one; a body
    that names none is refused by the parse that follows."""
    _signed_in(op.caller)
    scope = body.get("scope")
    ref = scope.get("ref") if isinstance(scope, dict) else None
    if isinstance(ref, bool) or not isinstance(ref, int) or not 0 < ref < 1 << 31:
        return
    project = await Project.get_or_none(id=ref)
    if project is None:
        raise ParameterInvalid("scope.ref", "is no project", f"scope.ref: invalid Project id {ref}")
    event.project, event.project_id = project.name, ref
    await project_scope(op.caller, ProjectRef(str(ref), False), P.TAG_RETENTION_CREATE)


def _signed_in(identity: Identity) -> None:
    """Harbor answers 401 to nobody before anything else, on every retention operation."""
    if identity.anonymous:
        raise AuthenticationFailed("sign in first")


def _described(rules: list[dict[str, Any]], trigger: dict[str, Any]) -> str:
    shown = [
        f"{r['template']} {r['params'].get(r['template'], '')}".strip()
        + (" (disabled)" if r["disabled"] else "")
        for r in rules
    ]
    cron = trigger["settings"]["cron"] or "none"
    return f"rules: {audit.shown(', '.join(shown))}; schedule: {audit.shown(cron)}"
