"""What starts a replication besides a person: the registry's own events (event-based
policies) and the clock (scheduled ones).

Events: `core.events.emit` hands every push and delete to `on_event` inside the change's own
transaction. When any enabled push-mode policy is event-based (one indexed read), it writes a
`replication-event` job there and then — so a push that commits is replicated even if the
process dies the next instant, and one that rolls back is not. That job (pipelines/
replication.py) starts one execution per policy whose filters match, scoped to the events'
artifacts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core import audit
from core.jobs import enqueue
from models import fetch

if TYPE_CHECKING:
    from core.events import Tx

EVENT_JOB = "replication-event"
SCHEDULE_JOB = "replication-schedule"
PUSH, DELETE = "push", "delete"
_WATCHED = {
    (audit.CREATE, audit.ARTIFACT): PUSH,
    (audit.DELETE, audit.ARTIFACT): DELETE,
    (audit.DELETE, audit.TAG): DELETE,
    (audit.DELETE, audit.REPOSITORY): DELETE,
}
_EVENT_POLICY = (
    "SELECT 1 FROM replication_policy WHERE enabled = ? AND dest_registry_id IS NOT NULL"
    ' AND CAST("trigger" AS TEXT) LIKE ? LIMIT 1'
)


async def on_event(tx: Tx, event: audit.Event) -> bool:
    """Enqueue the event for event-based replication, in tx; whether it was."""
    operation = _WATCHED.get((event.operation, event.resource_type))
    if operation is None or not event.emitted:
        return False
    if not await fetch(_EVENT_POLICY, True, "%event_based%"):
        return False
    happened = _artifacts(event, operation)
    if not happened:
        return False
    operator = audit.current_actor().username
    await enqueue(EVENT_JOB, {"events": happened, "operator": operator})
    return True


def _artifacts(event: audit.Event, operation: str) -> list[dict[str, Any]]:
    if event.artifacts:
        return [
            {"operation": operation, "repository": a.repository, "digest": a.digest, "tag": a.tag}
            for a in event.artifacts
        ]
    if event.resource_type == audit.TAG and ":" in event.resource:
        repository, _, tag = event.resource.rpartition(":")
        return [{"operation": operation, "repository": repository, "digest": "", "tag": tag}]
    return []
