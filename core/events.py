"""Emitting an operation's events: its audit row and, for artifact events, the webhook
execution rows and jobs of the project's policies — all inside the operation's transaction,
through the one `emit`, so a crash loses neither the change nor its events and no event
outlives a change that rolled back.

    event = audit.Event(audit.DELETE, audit.ARTIFACT, resource, project, project_id)
    async with recorded(event) as tx:   # refused or crashed: its failed event instead
        ...                             # the change
        await emit(tx, event)

Pulls change nothing: their audit rows are batched by `audit.PullLog`, and `emit_pull`
writes only their webhook events, when a policy wants them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from core import audit, replication_triggers, webhooks
from core.jobs import enqueue
from models import Project, WebhookExecution, WebhookPolicy, fetch

Tx = BaseDBAsyncClient

# (operation, resource type) -> the webhook event type of each artifact the event names
WEBHOOK_TYPES = {
    (audit.CREATE, audit.ARTIFACT): webhooks.PUSH_ARTIFACT,
    (audit.PULL, audit.ARTIFACT): webhooks.PULL_ARTIFACT,
    (audit.DELETE, audit.ARTIFACT): webhooks.DELETE_ARTIFACT,
    (audit.DELETE, audit.REPOSITORY): webhooks.DELETE_ARTIFACT,
}


class EventNotEmitted(RuntimeError):
    """An operation ended without emitting its event: a defect, rolled back."""


@contextlib.asynccontextmanager
async def transaction() -> AsyncIterator[Tx]:
    """One operation's transaction. On SQLite it takes the write lock first (BEGIN
    IMMEDIATE), so its reads may come before its writes: a deferred transaction that reads
    first fails at once ("database is locked") when another process wrote meanwhile, where
    an immediate one waits its turn."""
    async with in_transaction() as tx:
        if tx.capabilities.dialect == "sqlite":  # Tortoise began a deferred one
            await tx.execute_query("COMMIT")
            await tx.execute_query("BEGIN IMMEDIATE")
        yield tx


@contextlib.asynccontextmanager
async def recorded(event: audit.Event) -> AsyncIterator[Tx]:
    """The transaction of one attempt at an operation, which must `emit` its event. If the
    body raises, nothing of it stays and the failure is recorded on its own, with the
    event as far as the body had completed it."""
    try:
        async with transaction() as tx:
            yield tx
            if not event.emitted:
                raise EventNotEmitted(f"{event.operation} {event.resource_type}: no event")
    except Exception as exc:
        await audit.record_failure(event, exc)
        raise


async def emit(tx: Tx, event: audit.Event) -> int:
    """Write the event's audit row and its webhook events in tx, the transaction of its
    change; the number of webhook executions (each with a job) written."""
    actor = audit.current_actor()
    await event.row(True, actor).save(using_db=tx)
    event.emitted = actor.recorded = True
    await replication_triggers.on_event(tx, event)
    event_type = WEBHOOK_TYPES.get((event.operation, event.resource_type))
    if event_type is None or not event.artifacts or event.project_id is None:
        return 0
    # One indexed read when no policy wants it: every push and delete asks.
    if not await fetch(_POLICY_WANTING, event.project_id, True, f'%"{event_type}"%'):
        return 0
    return await _webhook_events(tx, event, event_type, event.project_id)


async def emit_pull(project: str, event_of: Callable[[], audit.Event]) -> int:
    """A pull's webhook events, in a transaction of their own; one indexed read, and no
    event built, when the project has no enabled policy that wants pulls (the pull path).
    Its audit row is the pull log's."""
    wanted = f'%"{webhooks.PULL_ARTIFACT}"%'
    rows = await fetch(_PROJECT_WITH_POLICY, project, True, wanted)
    if not rows:
        return 0
    project_id = int(rows[0][0])  # type: ignore[call-overload]
    async with transaction() as tx:
        return await _webhook_events(tx, event_of(), webhooks.PULL_ARTIFACT, project_id)


_PROJECT_WITH_POLICY = (
    "SELECT p.id FROM project p JOIN webhook_policy w ON w.project_id = p.id"
    " WHERE p.name = ? AND w.enabled = ? AND CAST(w.event_types AS TEXT) LIKE ? LIMIT 1"
)


_POLICY_WANTING = (
    "SELECT 1 FROM webhook_policy WHERE project_id = ? AND enabled = ?"
    " AND CAST(event_types AS TEXT) LIKE ? LIMIT 1"
)


async def _webhook_events(tx: Tx, event: audit.Event, event_type: str, project_id: int) -> int:
    """One execution and one "webhook" job per artifact per enabled policy of the project
    that wants event_type (the caller has seen that one exists)."""
    policies = await _policies_wanting(tx, project_id, event_type)
    if not policies:
        return 0
    project = await Project.get_or_none(id=project_id, using_db=tx)
    public = bool(project is not None and project.public)
    operator = audit.current_actor().username
    operator = "" if operator == audit.ANONYMOUS else operator
    created = 0
    for artifact in event.artifacts:
        payload = webhooks.artifact_event(
            event_type, artifact.repository, artifact.digest, artifact.tag, operator, public,
            event.host,
        )  # fmt: skip
        created += await _deliveries(tx, policies, event_type, payload)
    return created


async def emit_webhook(tx: Tx, project_id: int, event_type: str, payload: dict[str, Any]) -> int:
    """One event that is not an artifact's (REPLICATION): an execution and a "webhook" job
    per enabled policy of the project that wants event_type, in tx; how many."""
    policies = await _policies_wanting(tx, project_id, event_type)
    return await _deliveries(tx, policies, event_type, payload)


async def _policies_wanting(tx: Tx, project_id: int, event_type: str) -> list[WebhookPolicy]:
    return [
        policy
        for policy in await WebhookPolicy.filter(project_id=project_id, enabled=True).using_db(tx)
        if event_type in policy.event_types
    ]


async def _deliveries(
    tx: Tx, policies: list[WebhookPolicy], event_type: str, payload: dict[str, Any]
) -> int:
    for policy in policies:
        execution = await WebhookExecution.create(
            policy_id=policy.id, event_type=event_type, payload=payload, using_db=tx
        )
        await enqueue("webhook", {"execution_id": int(execution.id)}, webhooks.MAX_ATTEMPTS)
    return len(policies)
