"""Recording the audit log: who did what, to which resource, when and from where.

An operation's event is written by `core.events.emit` inside the operation's transaction,
so a crash never leaves an operation without its event nor an event without its operation;
a failed or refused attempt is recorded on its own (`record_failure`). Who is acting comes
from the request (web sets it once per request with `begin_request`); pulls, which change
nothing, are collected in memory and written in batches. Logins and logouts, which change
nothing either, are written on their own with `record`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Collection, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from core.jobs import enqueue
from models import AuditEvent, Job, ManifestPull, execute, fetch
from search.audit import AuditRecord

log = logging.getLogger("berth.audit")

# Operations (Harbor's names)
CREATE, UPDATE, DELETE, PULL = "create", "update", "delete", "pull"
LOGIN, LOGOUT = "login", "logout"
OPERATIONS = (CREATE, UPDATE, DELETE, PULL, LOGIN, LOGOUT)
# Resource types
ARTIFACT, TAG, REPOSITORY, PROJECT = "artifact", "tag", "repository", "project"
MEMBER, USER, ROBOT = "project_member", "user", "robot"
CONFIGURATION, WEBHOOK, AUDIT_LOG = "configuration", "webhook_policy", "audit_log"
GARBAGE_COLLECTION = "garbage_collection"  # a GC run (its results) or the GC schedule
REGISTRY = "registry"  # a remote registry endpoint of replication
REPLICATION_POLICY = "replication_policy"
REPLICATION = "replication"  # an execution: started, stopped, finished (its counts)
SIGNATURE = "signature"  # made by Berth, failed to verify, or a pull refused for want of one
SIGNING_KEY = "signing_key"  # a project's key rotated, trusted or removed
RETENTION_POLICY = "retention_policy"  # a project's tag retention policy
RETENTION = "retention"  # a run of it: started, stopped
TRUST_DATA = "trust_data"  # a GUN's Content Trust (Notary v1) metadata updated or deleted
USER_GROUP = "user_group"
PURGE_AUDIT = "purge_audit"  # an audit log purge run or its schedule
LABEL = "label"  # a label made, changed or deleted, or attached to / removed from an artifact
IMMUTABLE_RULE = "immutable_tag_rule"  # a project's tag immutability rule
JOB_SERVICE = "jobservice"  # a job queue paused, resumed or emptied; a job stopped
RESOURCE_TYPES = (
    ARTIFACT, TAG, REPOSITORY, PROJECT, MEMBER, USER, ROBOT, CONFIGURATION, WEBHOOK, AUDIT_LOG,
    GARBAGE_COLLECTION, REGISTRY, REPLICATION_POLICY, REPLICATION, SIGNATURE, SIGNING_KEY,
    TRUST_DATA, LABEL, IMMUTABLE_RULE, RETENTION_POLICY, RETENTION, JOB_SERVICE, USER_GROUP,
    PURGE_AUDIT,
)  # fmt: skip

ANONYMOUS = "anonymous"
SYSTEM = "system"  # jobs acting on their own (retention purge)
_MAX_DESCRIPTION = 2000
_MAX_VALUE = 120  # characters of one value in a description


@dataclass(slots=True)
class Actor:
    """Who is acting in this request; username is filled in once the caller is known."""

    username: str = ANONYMOUS
    address: str = ""
    user_agent: str = ""
    recorded: bool = False  # an event of this request was written (web records the rest)


_actor: ContextVar[Actor | None] = ContextVar("berth_audit_actor", default=None)


def begin_request(address: str | None, user_agent: str | None) -> Actor:
    """Start a request's actor (anonymous until `identify`)."""
    actor = Actor(ANONYMOUS, (address or "")[:64], (user_agent or "")[:512])
    _actor.set(actor)
    return actor


def identify(username: str | None) -> None:
    """The request's caller is now known (a user or robot name; None stays anonymous)."""
    actor = _actor.get()
    if actor is not None and username:
        actor.username = username


def current_actor() -> Actor:
    """The acting caller, or the system when no request is in progress (a job, the CLI)."""
    return _actor.get() or Actor(SYSTEM)


@dataclass(frozen=True, slots=True)
class Artifact:
    """An artifact an event is about, for its webhook events (a tag, or None by digest)."""

    repository: str
    digest: str
    tag: str | None = None


@dataclass(slots=True)
class Event:
    """Something done, or attempted, to one resource; an operation completes what it knows
    (the resource's final name, its project id, a description) before it emits the event.

    artifacts: the artifacts a push, pull or delete touched, each a webhook event for the
    project's policies; host: the registry's address as the caller named it, for their URLs.
    """

    operation: str
    resource_type: str
    resource: str
    project: str = ""
    project_id: int | None = None
    description: str = ""
    artifacts: list[Artifact] = field(default_factory=list)
    host: str | None = None
    emitted: bool = False  # set by core.events.emit

    def row(self, success: bool, actor: Actor, reason: str = "") -> AuditEvent:
        description = self.description
        if reason:
            description = f"{description}: {reason}" if description else reason
        return AuditEvent(
            occurred_at=datetime.now(UTC),
            username=actor.username[:255],
            operation=self.operation,
            resource_type=self.resource_type,
            resource=_storable(self.resource)[:1024],
            project=_storable(self.project)[:255],
            project_id=self.project_id,
            success=success,
            client_address=actor.address,
            user_agent=actor.user_agent,
            description=_storable(description)[:_MAX_DESCRIPTION],
        )


def _storable(text: str) -> str:
    """PostgreSQL stores no NUL: an attempt that carried one is still recorded, escaped."""
    return text.replace("\x00", "\\x00")


async def record(event: Event, success: bool = True, reason: str = "") -> None:
    """Write one event that changes nothing (a login, a logout) on its own; an operation's
    event goes through `core.events.emit`, in the operation's transaction."""
    actor = current_actor()
    await event.row(success, actor, reason).save()
    actor.recorded = True


async def record_failure(event: Event, exc: BaseException | str) -> None:
    """Record that an operation failed, on its own (its transaction rolled back); never
    raises (the original error matters more)."""
    try:
        await record(event, success=False, reason=str(exc) or type(exc).__name__)
    except Exception:
        log.exception("could not record a failed operation", extra={"event": event.operation})


def changes(
    before: Mapping[str, object], after: Mapping[str, object], hidden: Collection[str] = ()
) -> str:
    """A description of a change: `key: old -> new` for each key of after whose value
    differs from before, or "no change"; keys in hidden are named without their values
    (secrets, personal data)."""
    parts = []
    for key, new in after.items():
        old = before.get(key)
        if old == new:
            continue
        parts.append(f"{key} changed" if key in hidden else f"{key}: {shown(old)} -> {shown(new)}")
    return ", ".join(parts) or "no change"


def shown(value: object) -> str:
    """A value as a description shows it: JSON's spelling, strings bare, cut when long."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 3] + "..."


class PullLog:
    """Pull events, collected in memory and written in batches off the pull path.

    A pull changes nothing, so there is no transaction to share; at most one interval's
    pulls are lost if the process is killed (an orderly stop flushes them).
    """

    def __init__(self, interval: float = 0.5, limit: int = 10_000) -> None:
        self._rows: list[AuditEvent] = []
        self._pulled: dict[tuple[str, str], datetime] = {}  # (repository, digest): last pull
        self._counts: dict[str, int] = {}  # repository: pulls since the last flush
        self._interval = interval
        self._limit = limit
        self._dropped = 0

    def note(self, repository: str, project: str, reference: str, digest: str) -> None:
        """A manifest was served to the current caller."""
        if len(self._rows) >= self._limit:
            self._dropped += 1  # the database is not keeping up: drop rather than grow
            return
        resource = artifact_resource(repository, reference, digest)
        event = Event(PULL, ARTIFACT, resource, project)
        row = event.row(True, current_actor())
        self._rows.append(row)
        self._pulled[(repository, digest)] = row.occurred_at
        self._counts[repository] = self._counts.get(repository, 0) + 1

    async def flush(self) -> int:
        """Write what was collected (with its projects' ids, looked up once) and the
        manifests' last pull times; the count of events."""
        rows, self._rows = self._rows, []
        pulled, self._pulled = self._pulled, {}
        counts, self._counts = self._counts, {}
        if self._dropped:
            log.warning(
                "pull events dropped: the database fell behind", extra={"count": self._dropped}
            )
            self._dropped = 0
        if not rows:
            return 0
        names = sorted({row.project for row in rows})
        marks = ",".join("?" * len(names))
        found = await fetch(f"SELECT name, id FROM project WHERE name IN ({marks})", *names)
        ids = {str(name): int(pid) for name, pid in found}  # type: ignore[call-overload]
        for row in rows:
            row.project_id = ids.get(row.project)
        await AuditEvent.bulk_create(rows)
        await _record_pull_times(pulled)
        await _count_pulls(counts)
        return len(rows)

    async def run_forever(self) -> None:
        """Flush every interval until cancelled, then once more."""
        try:
            while True:
                await asyncio.sleep(self._interval)
                try:
                    await self.flush()
                except Exception:
                    log.exception("could not write pull events")
        finally:
            with contextlib.suppress(Exception):
                await self.flush()


# A pull by digest names the digest asked for: any the manifest is known by.
_MANIFESTS = (
    "SELECT r.name, d.digest, d.manifest_id FROM manifest_digest d"
    " JOIN repository r ON r.id = d.repository_id"
    " WHERE r.name IN ({names}) AND d.digest IN ({digests})"
)


async def _record_pull_times(pulled: dict[tuple[str, str], datetime]) -> None:
    """Set each pulled manifest's last pull time (one read, one upsert)."""
    if not pulled:
        return
    names = sorted({name for name, _ in pulled})
    digests = sorted({digest for _, digest in pulled})
    sql = _MANIFESTS.format(names=",".join("?" * len(names)), digests=",".join("?" * len(digests)))
    found = await fetch(sql, *names, *digests)
    latest: dict[int, datetime] = {}  # one row each, though pulled by two of its digests
    for name, digest, mid in found:
        when = pulled.get((str(name), str(digest)))
        if when is not None:
            key = int(mid)  # type: ignore[call-overload]
            latest[key] = max(when, latest.get(key, when))
    pulls = [ManifestPull(manifest_id=mid, pulled_at=when) for mid, when in latest.items()]
    if not pulls:
        return
    try:
        await ManifestPull.bulk_create(
            pulls, on_conflict=["manifest_id"], update_fields=["pulled_at"]
        )
    except IntegrityError:  # a manifest deleted since the read: its pull time goes with it
        log.info("pull times skipped: a pulled manifest was deleted meanwhile")


_COUNT_PULLS = (
    "INSERT INTO repository_detail (repository_id, description, pull_count)"
    " SELECT id, '', ? FROM repository WHERE name = ?"
    " ON CONFLICT (repository_id) DO UPDATE"
    " SET pull_count = repository_detail.pull_count + excluded.pull_count"
)


async def _count_pulls(counts: dict[str, int]) -> None:
    """Add each repository's pulls to its pull_count (the repositories API's), one upsert
    per repository pulled from in the interval."""
    for repository, count in sorted(counts.items()):
        await execute(_COUNT_PULLS, count, repository)


def artifact_resource(repository: str, reference: str, digest: str) -> str:
    """`repo:tag@digest` for a tag, `repo@digest` for a digest reference."""
    if reference and reference != digest and ":" not in reference:
        return f"{repository}:{reference}@{digest}"
    return f"{repository}@{digest}"


# --- the indexing side: what the audit pipelines (pipelines/audit.py) read and mark ---

_PENDING = "SELECT * FROM audit_event WHERE NOT indexed ORDER BY id LIMIT {limit:d}"
_ANY_PENDING = "SELECT id FROM audit_event WHERE NOT indexed LIMIT 1"


def record_of(row: AuditEvent) -> AuditRecord:
    """The search backends' view of an event row."""
    occurred = row.occurred_at
    occurred = occurred.replace(tzinfo=UTC) if occurred.tzinfo is None else occurred.astimezone(UTC)
    return AuditRecord(
        id=row.id,
        occurred_at=occurred,
        username=row.username,
        operation=row.operation,
        resource_type=row.resource_type,
        resource=row.resource,
        project=row.project,
        project_id=row.project_id,
        success=row.success,
        client_address=row.client_address,
        user_agent=row.user_agent,
        description=row.description,
    )


async def pending_events(limit: int) -> list[AuditRecord]:
    """The oldest events not yet in the search backend (the partial index makes this cheap;
    the literal predicate lets SQLite and PostgreSQL match it)."""
    rows: list[AuditEvent] = await AuditEvent.raw(_PENDING.format(limit=int(limit)))
    return [record_of(row) for row in rows]


async def any_pending() -> bool:
    return bool(await fetch(_ANY_PENDING))


async def mark_indexed(ids: list[int]) -> None:
    if ids:
        await AuditEvent.filter(id__in=ids).update(indexed=True)


async def mark_all_unindexed() -> int:
    """Before a rebuild: every event is to be indexed again."""
    return await AuditEvent.filter(indexed=True).update(indexed=False)


def _older(cutoff: datetime, operations: frozenset[str] | None) -> Q:
    older = Q(occurred_at__lt=cutoff)
    return older if operations is None else older & Q(operation__in=sorted(operations))


async def count_before(cutoff: datetime, operations: frozenset[str] | None = None) -> int:
    return await AuditEvent.filter(_older(cutoff, operations)).count()


async def delete_before(
    cutoff: datetime, chunk: int = 5000, operations: frozenset[str] | None = None
) -> int:
    """Delete events older than cutoff (of these operations only, when given) in short
    transactions (no long write lock); the count."""
    removed = 0
    while True:
        ids = (
            await AuditEvent.filter(_older(cutoff, operations))
            .limit(chunk)
            .values_list("id", flat=True)
        )
        if not ids:
            return removed
        removed += await AuditEvent.filter(id__in=list(ids)).delete()


async def ensure_indexing(kind: str, lease: timedelta, silence: timedelta) -> bool:
    """Enqueue one indexing job when events wait and none is queued or alive. True if one
    was enqueued. Called by the replica holding the scheduler lease, once a tick.

    A running job renews its lease after every batch; one silent for `silence` died with its
    process, and waiting out its whole lease would stall the index for that long."""
    if not await any_pending():
        return False
    now = datetime.now(UTC)
    active = Q(status="pending") | Q(status="running", lease_until__gt=now + lease - silence)
    async with in_transaction():
        # Starts with a write (touching the active job, if any), never a read: SQLite cannot
        # upgrade a read snapshot another replica has written past, and fails at once.
        if await Job.filter(Q(kind=kind) & active).update(updated_at=now):
            return False
        await enqueue(kind, {}, max_attempts=100)
    return True
