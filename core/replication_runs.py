"""Replication executions and their tasks: Harbor's ReplicationExecution and ReplicationTask.

An execution is one run of a policy: InProgress -> Succeed | Failed | Stopped. It is written
in one transaction with its `replication` job (pipelines/replication.py), which plans the
run (one task row per artifact to copy or delete), carries the tasks out and finishes the
execution. The counts (total, succeed, failed, in_progress, stopped) are kept on the
execution row, recomputed from its tasks whenever one changes, so a list answers without
counting. An execution whose job went silent (no heartbeat for HEARTBEAT_LAPSE, its job
failed for good) is marked Failed when anyone next asks — no execution stays InProgress
forever.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.functions import Count, Sum
from tortoise.transactions import in_transaction

from core.events import Tx, transaction
from core.jobs import enqueue
from models import Job, ReplicationExecution, ReplicationPolicy, ReplicationTask
from models.errors import AlreadyExists, InvalidInput, NotFound

IN_PROGRESS, SUCCEED, FAILED, STOPPED = "InProgress", "Succeed", "Failed", "Stopped"
PENDING = "Pending"
FINAL = frozenset({SUCCEED, FAILED, STOPPED})
# how an execution started (Harbor's trigger, plus "webhook" for the CI trigger)
MANUAL, SCHEDULED, EVENT_BASED, WEBHOOK = "manual", "scheduled", "event_based", "webhook"
TRIGGERS = (MANUAL, SCHEDULED, EVENT_BASED, WEBHOOK)
COPY, DELETION = "copy", "deletion"
HEARTBEAT_LAPSE = timedelta(minutes=5)
JOB_KIND = "replication"
JOB_ATTEMPTS = 5


class PolicyUnknown(NotFound):
    def __init__(self, policy_id: int) -> None:
        super().__init__(f"replication policy {policy_id} not found")


class PolicyDisabled(InvalidInput):
    def __init__(self, name: str) -> None:
        super().__init__(f"replication policy {name!r} is disabled")


class ExecutionRunning(AlreadyExists):
    """single_active_replication: the policy has an execution in progress."""

    def __init__(self, name: str, execution_id: int) -> None:
        super().__init__(
            f"replication policy {name!r} allows one execution at a time and execution"
            f" {execution_id} is in progress"
        )


class ExecutionUnknown(NotFound):
    def __init__(self, execution_id: int) -> None:
        super().__init__(f"replication execution {execution_id} not found")


class TaskUnknown(NotFound):
    def __init__(self, task_id: int) -> None:
        super().__init__(f"replication task {task_id} not found")


@dataclass(frozen=True, slots=True)
class Started:
    execution: ReplicationExecution
    new: bool  # False: a repeated delivery id, the first delivery's execution


async def start(
    tx: Tx,
    policy_id: int,
    trigger: str,
    operator: str,
    scope: dict[str, Any] | None = None,
    delivery_id: str | None = None,
) -> Started:
    """A new execution of the policy and its job, in tx (the caller's transaction, which
    also emits the audit event). PolicyUnknown, PolicyDisabled (except for a manual start,
    which Harbor allows on a disabled policy), ExecutionRunning (single_active_replication,
    except for events).
    With delivery_id: the execution that delivery started before, if any (new=False)."""
    policy = await ReplicationPolicy.get_or_none(id=policy_id, using_db=tx)
    if policy is None:
        raise PolicyUnknown(policy_id)
    if delivery_id is not None:
        seen = await ReplicationExecution.get_or_none(
            policy_id=policy_id, delivery_id=delivery_id, using_db=tx
        )
        if seen is not None:
            return Started(seen, False)
    if not policy.enabled and trigger != MANUAL:
        raise PolicyDisabled(policy.name)
    if policy.single_active_replication and trigger != EVENT_BASED:
        # an event is never dropped: it names an artifact that changed just now
        await mark_lapsed(tx)
        running = (
            await ReplicationExecution.filter(policy_id=policy_id, status=IN_PROGRESS)
            .using_db(tx)
            .first()
        )
        if running is not None:
            raise ExecutionRunning(policy.name, int(running.id))
    now = datetime.now(UTC)
    try:
        # A savepoint: on PostgreSQL a failed INSERT would abort the whole transaction.
        async with in_transaction():
            execution = await ReplicationExecution.create(
                policy_id=policy_id,
                trigger=trigger,
                operator=operator,
                scope=scope,
                delivery_id=delivery_id,
                heartbeat_at=now,
                using_db=tx,
            )
    except IntegrityError:  # the same delivery, concurrently: the first one wins
        seen = await ReplicationExecution.get(
            policy_id=policy_id, delivery_id=delivery_id, using_db=tx
        )
        return Started(seen, False)
    job_id = await enqueue(JOB_KIND, {"execution_id": int(execution.id)}, JOB_ATTEMPTS)
    execution.job_id = job_id
    await execution.save(using_db=tx, update_fields=["job_id"])
    return Started(execution, True)


async def get(execution_id: int, tx: Tx | None = None) -> ReplicationExecution:
    """ExecutionUnknown. With tx (the caller's transaction): read in it; never open a
    transaction inside another (SQLite's BEGIN IMMEDIATE would end the outer one)."""
    if tx is None:
        await settle_lapsed()
    else:
        await mark_lapsed(tx)
    execution = await ReplicationExecution.get_or_none(id=execution_id, using_db=tx)
    if execution is None:
        raise ExecutionUnknown(execution_id)
    return execution


async def history(
    policy_id: int | None,
    status: str | None,
    trigger: str | None,
    offset: int,
    limit: int,
    order: Sequence[str] = ("-id",),
) -> tuple[list[ReplicationExecution], int]:
    """Executions newest first (or in order: ORM field names, "-" for descending), and how
    many match."""
    await settle_lapsed()
    query = ReplicationExecution.all()
    if policy_id is not None:
        query = query.filter(policy_id=policy_id)
    if status:
        query = query.filter(status=status)
    if trigger:
        query = query.filter(trigger=trigger)
    total = await query.count()
    rows = await query.order_by(*order).offset(offset).limit(limit)
    return list(rows), total


async def tasks(
    execution_id: int,
    status: str | None,
    resource_type: str | None,
    offset: int,
    limit: int,
    order: Sequence[str] = ("id",),
) -> tuple[list[ReplicationTask], int]:
    """The execution's tasks in id order (or in order), and how many match. ExecutionUnknown."""
    await get(execution_id)
    query = ReplicationTask.filter(execution_id=execution_id)
    if status:
        query = query.filter(status=status)
    if resource_type:
        query = query.filter(resource_type=resource_type)
    total = await query.count()
    rows = await query.order_by(*order).offset(offset).limit(limit)
    return list(rows), total


async def task(execution_id: int, task_id: int) -> ReplicationTask:
    found = await ReplicationTask.get_or_none(id=task_id, execution_id=execution_id)
    if found is None:
        raise TaskUnknown(task_id)
    return found


async def request_stop(execution_id: int, tx: Tx | None = None) -> ReplicationExecution:
    """Ask the execution to stop: its tasks not yet begun are Stopped at once, those under
    way stop at their next chunk. Safe to repeat; a finished execution is left alone.
    ExecutionUnknown. With tx: in the caller's transaction (the API's, with its event)."""
    execution = await get(execution_id, tx)
    if execution.status in FINAL:
        return execution
    await ReplicationExecution.filter(id=execution_id).using_db(tx).update(stop_requested=True)
    await (
        ReplicationTask.filter(execution_id=execution_id, status=PENDING)
        .using_db(tx)
        .update(status=STOPPED, end_time=datetime.now(UTC))
    )
    await refresh_counts(execution_id, tx)
    return await get(execution_id, tx)


async def stop_requested(execution_id: int) -> bool:
    row = await ReplicationExecution.get_or_none(id=execution_id).only("id", "stop_requested")
    return row is None or bool(row.stop_requested)


async def refresh_counts(execution_id: int, tx: Tx | None = None) -> None:
    """The execution's counts from its tasks, and its heartbeat."""
    rows = await (
        ReplicationTask.filter(execution_id=execution_id)
        .using_db(tx)
        .annotate(n=Count("id"), moved=Sum("bytes"))
        .group_by("status")
        .values_list("status", "n", "moved")
    )
    counts = {str(status): int(n) for status, n, _ in rows}
    moved = sum(int(b or 0) for _, _, b in rows)
    await (
        ReplicationExecution.filter(id=execution_id)
        .using_db(tx)
        .update(
            total=sum(counts.values()),
            succeed=counts.get(SUCCEED, 0),
            failed=counts.get(FAILED, 0),
            stopped=counts.get(STOPPED, 0),
            in_progress=counts.get(IN_PROGRESS, 0) + counts.get(PENDING, 0),
            bytes=moved,
            heartbeat_at=datetime.now(UTC),
        )
    )


async def end(tx: Tx, execution_id: int, failure: str = "") -> ReplicationExecution | None:
    """Move the execution to its final status, in tx: Stopped if a stop was asked, Failed
    if any task failed or the run could not go on (failure: why; its unfinished tasks fail
    with it), else Succeed. A compare-and-set from InProgress: the execution when this call
    ended it, None when it had ended already (a job run twice ends it, and emits, once)."""
    now = datetime.now(UTC)
    if failure:
        await (
            ReplicationTask.filter(
                Q(execution_id=execution_id) & Q(status__in=[PENDING, IN_PROGRESS])
            )
            .using_db(tx)
            .update(status=FAILED, end_time=now)
        )
    await refresh_counts(execution_id, tx)
    execution = await ReplicationExecution.get(id=execution_id, using_db=tx)
    if execution.status in FINAL:
        return None
    if failure:
        status = FAILED
    elif execution.stop_requested:
        status = STOPPED
    elif execution.failed:
        status = FAILED
    else:
        status = SUCCEED
    moved = await (
        ReplicationExecution.filter(id=execution_id, status=IN_PROGRESS)
        .using_db(tx)
        .update(status=status, status_text=failure[:2000], end_time=now)
    )
    if not moved:
        return None
    return await ReplicationExecution.get(id=execution_id, using_db=tx)


async def finish(execution_id: int) -> ReplicationExecution:
    """end() in a transaction of its own, without events (tests, tools); the execution."""
    async with transaction() as tx:
        await end(tx, execution_id)
    return await ReplicationExecution.get(id=execution_id)


async def fail(execution_id: int, reason: str) -> None:
    """The execution could not run at all: Failed with the reason (no events)."""
    async with transaction() as tx:
        await end(tx, execution_id, reason)


def _silent() -> Any:
    """Executions in progress whose heartbeat is older than HEARTBEAT_LAPSE."""
    cutoff = datetime.now(UTC) - HEARTBEAT_LAPSE
    return ReplicationExecution.filter(status=IN_PROGRESS, heartbeat_at__lt=cutoff)


async def settle_lapsed() -> None:
    """mark_lapsed in a transaction of its own, opened only when some execution has gone
    silent (one indexed read): a list or a get must not take SQLite's write lock each time."""
    if await _silent().exists():
        async with transaction() as tx:
            await mark_lapsed(tx)


async def mark_lapsed(tx: Tx) -> int:
    """Executions whose job is gone for good (failed, or no heartbeat for HEARTBEAT_LAPSE
    and no live job): Failed, so none is stuck InProgress."""
    stale = await _silent().using_db(tx).values_list("id", "job_id")
    marked = 0
    for execution_id, job_id in stale:
        job = await Job.get_or_none(id=job_id, using_db=tx) if job_id else None
        if job is not None and job.status in ("pending", "running"):
            continue
        marked += await (
            ReplicationExecution.filter(id=execution_id, status=IN_PROGRESS)
            .using_db(tx)
            .update(
                status=FAILED,
                status_text="the execution's worker stopped answering",
                end_time=datetime.now(UTC),
            )
        )
    return marked
