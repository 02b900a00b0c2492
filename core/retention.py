"""Tag retention policies and their runs: the rows, the schedule a policy keeps, and the
artifacts a run looks at.

One policy per project; its id is the project's `retention_id` setting (as Harbor keeps
it, so GET /projects/{p} shows it). A policy whose trigger has a cron has one schedule row,
`retention-<id>`, firing a "retention-schedule" job with args {"policy_id"}. A run (an
execution) is made with its "retention-run" job {"execution"} in one transaction; the job
is pipelines/retention.py. Evaluation is core/retention_eval.py, bodies core/retention_rules.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core import immutability
from core import retention_eval as ev
from core.events import Tx
from core.jobs import enqueue
from core.retention_rules import PolicySpec
from models import (
    Manifest,
    ManifestPull,
    ManifestReference,
    Project,
    ProjectMetadata,
    RetentionExecution,
    RetentionPolicy,
    RetentionTask,
    Schedule,
    Tag,
)
from models.errors import NotFound, PreconditionFailed
from models.values import ParameterInvalid

RUN_JOB = "retention-run"
SCHEDULE_JOB = "retention-schedule"
RUN_MAX_ATTEMPTS = 3
RETENTION_ID = "retention_id"  # the project setting naming its policy
MANUAL, SCHEDULED = "MANUAL", "SCHEDULE"
PENDING, RUNNING, SUCCESS, ERROR, STOPPED = "Pending", "Running", "Success", "Error", "Stopped"
FINAL = (SUCCESS, ERROR, STOPPED)
ACTIVE = (PENDING, RUNNING)
# Harbor's task status codes (jobservice): pending 0, scheduled 1, running 2, final 3
STATUS_CODES = {PENDING: 0, RUNNING: 2, SUCCESS: 3, ERROR: 3, STOPPED: 3}
MAX_LOG_CHARS = 1 << 20  # a task's log keeps its first MiB


class RetentionUnknown(NotFound):
    def __init__(self, policy_id: int) -> None:
        super().__init__(f"retention policy {policy_id} not found")


class ExecutionUnknown(NotFound):
    def __init__(self, policy_id: int, execution_id: int) -> None:
        super().__init__(f"retention policy {policy_id} has no execution {execution_id}")


class TaskUnknown(NotFound):
    def __init__(self, execution_id: int, task_id: int) -> None:
        super().__init__(f"retention execution {execution_id} has no task {task_id}")


class ProjectHasPolicy(ParameterInvalid):
    """Harbor's 400: a project has one retention policy; update it instead."""

    def __init__(self, project_id: int, policy_id: str) -> None:
        message = f"project {project_id} already has retention policy {policy_id}"
        super().__init__("scope.ref", "already has a retention policy", message)


class RetentionRunning(PreconditionFailed):
    def __init__(self, policy_id: int) -> None:
        super().__init__(f"retention policy {policy_id} has an execution in progress: stop it")


def schedule_name(policy_id: int) -> str:
    return f"retention-{policy_id}"


# --- policies -------------------------------------------------------------------------------


async def create(spec: PolicySpec) -> RetentionPolicy:
    """Store the project's policy, its retention_id setting and its schedule (in the
    caller's transaction); ParameterInvalid for an unknown project, ProjectHasPolicy."""
    if not await Project.filter(id=spec.project_id).exists():
        raise ParameterInvalid(
            "scope.ref", "is no project", f"scope.ref: invalid Project id {spec.project_id}"
        )
    old = await ProjectMetadata.get_or_none(project_id=spec.project_id, name=RETENTION_ID)
    if old is not None or await RetentionPolicy.filter(project_id=spec.project_id).exists():
        raise ProjectHasPolicy(spec.project_id, old.value if old else "")
    policy = await RetentionPolicy.create(
        project_id=spec.project_id, rules=spec.rules, trigger=spec.trigger
    )
    await ProjectMetadata.create(
        project_id=spec.project_id, name=RETENTION_ID, value=str(policy.id)
    )
    await _keep_schedule(int(policy.id), spec.cron)
    return policy


async def update(policy: RetentionPolicy, spec: PolicySpec) -> None:
    """Replace the policy's rules and trigger (its schedule with them); RetentionUnknown
    when the body's scope names another project (Harbor: the id does not match)."""
    if spec.project_id != policy.project_id:
        raise RetentionUnknown(int(policy.id))
    await RetentionPolicy.filter(id=policy.id).update(
        rules=spec.rules, trigger=spec.trigger, updated_at=datetime.now(UTC)
    )
    await _keep_schedule(int(policy.id), spec.cron)


async def delete(policy: RetentionPolicy) -> None:
    """Delete the policy, its runs, schedule and retention_id; RetentionRunning while a run
    is in progress."""
    policy_id = int(policy.id)
    if await RetentionExecution.filter(policy_id=policy_id, status__in=ACTIVE).exists():
        raise RetentionRunning(policy_id)
    runs = await RetentionExecution.filter(policy_id=policy_id).values_list("id", flat=True)
    await RetentionTask.filter(execution_id__in=list(runs)).delete()
    await RetentionExecution.filter(policy_id=policy_id).delete()
    await Schedule.filter(name=schedule_name(policy_id)).delete()
    await ProjectMetadata.filter(project_id=policy.project_id, name=RETENTION_ID).delete()
    await RetentionPolicy.filter(id=policy_id).delete()


async def get(policy_id: int) -> RetentionPolicy:
    policy = await RetentionPolicy.get_or_none(id=policy_id)
    if policy is None:
        raise RetentionUnknown(policy_id)
    return policy


async def _keep_schedule(policy_id: int, cron: str | None) -> None:
    """The schedule row as the trigger says: there for a cron, gone for none; a new cron
    counts from now."""
    name = schedule_name(policy_id)
    existing = await Schedule.get_or_none(name=name)
    if cron is None:
        if existing is not None:
            await existing.delete()
        return
    if existing is None:
        await Schedule.create(
            name=name,
            cron=cron,
            kind=SCHEDULE_JOB,
            args={"policy_id": policy_id},
            last_fire=datetime.now(UTC),
        )
    elif existing.cron != cron:
        existing.cron, existing.last_fire = cron, datetime.now(UTC)
        await existing.save()


# --- executions and tasks -------------------------------------------------------------------


async def start(
    tx: Tx, policy: RetentionPolicy, trigger: str, dry_run: bool, operator: str
) -> RetentionExecution:
    """A new run of the policy as it is now, with its job, in tx."""
    execution = await RetentionExecution.create(
        policy_id=policy.id,
        project_id=policy.project_id,
        trigger=trigger,
        dry_run=dry_run,
        operator=operator[:255],
        rules=policy.rules,
        using_db=tx,
    )
    execution.job_id = await enqueue(RUN_JOB, {"execution": int(execution.id)}, RUN_MAX_ATTEMPTS)
    await execution.save(update_fields=["job_id"], using_db=tx)
    return execution


async def executions(
    policy_id: int, offset: int, limit: int
) -> tuple[list[RetentionExecution], int]:
    """The policy's runs, newest first, and their count."""
    query = RetentionExecution.filter(policy_id=policy_id)
    rows = await query.order_by("-id").offset(offset).limit(limit)
    return list(rows), await query.count()


async def execution(policy_id: int, execution_id: int) -> RetentionExecution:
    found = await RetentionExecution.get_or_none(id=execution_id, policy_id=policy_id)
    if found is None:
        raise ExecutionUnknown(policy_id, execution_id)
    return found


async def stop(execution: RetentionExecution) -> bool:
    """Ask the run to stop (a Pending one stops at once, its tasks with it); whether it was
    still going."""
    if execution.status in FINAL:
        return False
    now = datetime.now(UTC)
    await RetentionExecution.filter(id=execution.id).update(stop_requested=True)
    if await RetentionExecution.filter(id=execution.id, status=PENDING).update(
        status=STOPPED, end_time=now
    ):
        await RetentionTask.filter(execution_id=execution.id, status__in=ACTIVE).update(
            status=STOPPED, end_time=now
        )
    return True


async def tasks(execution_id: int, offset: int, limit: int) -> tuple[list[RetentionTask], int]:
    query = RetentionTask.filter(execution_id=execution_id)
    rows = await query.order_by("id").offset(offset).limit(limit)
    return list(rows), await query.count()


async def task(execution_id: int, task_id: int) -> RetentionTask:
    found = await RetentionTask.get_or_none(id=task_id, execution_id=execution_id)
    if found is None:
        raise TaskUnknown(execution_id, task_id)
    return found


# --- what a run looks at --------------------------------------------------------------------


def inner_name(repository: str) -> str:
    """A repository's name inside its project ("app/web" of "library/app/web"), what
    Harbor's repository selectors match."""
    return repository.partition("/")[2]


async def candidates(repository_id: int, repository: str) -> list[ev.Candidate]:
    """The repository's artifacts a retention rule decides on: every manifest except the
    children of its indexes (they go with their index) and accessories (signatures and
    other referrers, which go with their subject), with their tags and times."""
    children = set(
        await ManifestReference.filter(
            manifest__repository_id=repository_id, kind="manifest"
        ).values_list("digest", flat=True)
    )
    rows = await Manifest.filter(repository_id=repository_id, subject_digest=None).values_list(
        "id", "digest", "created_at"
    )
    ids = [int(i) for i, _, _ in rows]
    tags: dict[int, list[tuple[str, datetime]]] = {}
    for manifest_id, name, updated in await Tag.filter(manifest_id__in=ids).values_list(
        "manifest_id", "name", "updated_at"
    ):
        tags.setdefault(int(manifest_id), []).append((str(name), updated))
    pulled: dict[Any, datetime] = dict(
        await ManifestPull.filter(manifest_id__in=ids).values_list("manifest_id", "pulled_at")
    )
    inner = inner_name(repository)
    return [
        ev.Candidate(
            repository=inner,
            digest=str(digest),
            tags=tuple(sorted(t for t, _ in tags.get(int(i), []))),
            push_time=max([created, *(u for _, u in tags.get(int(i), []))]),
            pull_time=pulled.get(int(i)),
        )
        for i, digest, created in rows
        if str(digest) not in children
    ]


async def immutable_tags(project_id: int, repository: str, tags: list[str]) -> set[str]:
    """Those of tags that a tag immutability rule of the project protects: a run never
    deletes an artifact with one. The one place retention asks."""
    return await immutability.immutable_tags(project_id, repository, tags)
