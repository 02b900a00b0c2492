"""Tag retention jobs: "retention-run" carries out one execution (args {"execution"}),
"retention-schedule" is what a policy's schedule fires, and starts one (trigger SCHEDULE).

A run makes one task per repository of the project that an enabled rule looks at, then
works through the tasks in order: evaluate (core.retention_eval), log every artifact's
verdict, and — unless it is a dry run — delete each artifact not retained through
`core.artifacts.delete_artifact`, the API's own delete path, one transaction each with its
audit row and events (GC frees the blobs later). An artifact with an immutable tag, or one
content trust signs, is kept and said so in the log. Stop is read between artifacts.
Safe to repeat: a final run is left alone; a run whose worker died goes on with the tasks
not yet final, and an artifact deleted meanwhile counts as deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from core import audit, content_trust, events, retention
from core import retention_eval as ev
from core.artifacts import delete_artifact, find_repository
from core.errors import ManifestUnknown
from core.events import transaction
from core.jobs import ClaimedJob
from core.retention_rules import rules_of
from models import Project, Repository, RetentionExecution, RetentionPolicy, RetentionTask
from models.errors import BerthError
from pipelines import PipelineContext, pipeline

log = logging.getLogger("berth.retention")
Progress = Callable[[float], Awaitable[None]]


async def _stopped(job: ClaimedJob, context: PipelineContext) -> None:
    """The run's job was stopped through the job service (and cancelled): the run and its
    unfinished tasks end Stopped."""
    execution_id = int(str(job.args["execution"]))
    now = datetime.now(UTC)
    await RetentionTask.filter(execution_id=execution_id, status__in=retention.ACTIVE).update(
        status=retention.STOPPED, end_time=now
    )
    await RetentionExecution.filter(id=execution_id, status__in=retention.ACTIVE).update(
        status=retention.STOPPED, end_time=now
    )


@pipeline(retention.RUN_JOB, on_stop=_stopped)
async def run_pipeline(job: ClaimedJob, context: PipelineContext) -> None:
    """Carry out the execution args.execution names (nothing when it is final). Its last
    attempt failing marks the run Error, so that it does not stay Running for good."""

    async def progress(fraction: float) -> None:
        await context.queue.progress(job.id, fraction)

    execution_id = int(str(job.args["execution"]))
    try:
        await execute(execution_id, progress)
    except Exception:
        if job.attempt >= retention.RUN_MAX_ATTEMPTS:
            await _give_up(execution_id)
        raise


@pipeline(retention.SCHEDULE_JOB)
async def scheduled_pipeline(job: ClaimedJob, context: PipelineContext) -> None:
    """A fire of a policy's schedule: a new run (not carried out here: its own job)."""
    await start_scheduled(int(str(job.args["policy_id"])))


async def start_scheduled(policy_id: int) -> RetentionExecution | None:
    """A run of the policy triggered by its schedule, with its audit event; None (and a log
    line) when the policy is gone."""
    policy = await RetentionPolicy.get_or_none(id=policy_id)
    if policy is None:
        log.info("retention schedule fired for a deleted policy", extra={"policy": policy_id})
        return None
    event = audit.Event(audit.CREATE, audit.RETENTION, f"retention policy {policy.id}")
    event.project_id, event.description = policy.project_id, "scheduled run"
    async with events.recorded(event) as tx:
        run = await retention.start(tx, policy, retention.SCHEDULED, False, audit.SYSTEM)
        event.resource = f"retention execution {run.id}"
        await events.emit(tx, event)
    return run


async def execute(execution_id: int, progress: Progress | None = None) -> RetentionExecution | None:
    """Carry out the run to a final status; the run as it ended (None when unknown).
    progress: told the fraction of tasks done after each."""
    run = await RetentionExecution.get_or_none(id=execution_id)
    if run is None or run.status in retention.FINAL:
        return run
    if not run.stop_requested:
        await RetentionExecution.filter(id=run.id, status__in=retention.ACTIVE).update(
            status=retention.RUNNING
        )
        project = await Project.get(id=run.project_id)
        rules = rules_of(run.rules)
        tasks = await _tasks(run, project.name, rules)
        for done, task in enumerate(tasks, 1):
            if task.status in retention.FINAL:
                continue
            if await _stopping(int(run.id)):
                break
            await _run_task(run, task, project.name, rules)
            if progress is not None:
                await progress(done / len(tasks))
    return await _finish(int(run.id))


async def _tasks(
    run: RetentionExecution, project: str, rules: list[ev.Rule]
) -> list[RetentionTask]:
    """The run's tasks, made on its first attempt: one per repository a rule looks at."""
    existing = await RetentionTask.filter(execution_id=run.id).order_by("id")
    if existing:
        return list(existing)
    names = (
        await Repository.filter(project_id=run.project_id)
        .order_by("name")
        .values_list("name", flat=True)
    )
    for name in names:
        if ev.rules_for(rules, retention.inner_name(str(name))):
            await RetentionTask.create(execution_id=run.id, repository=str(name))
    return list(await RetentionTask.filter(execution_id=run.id).order_by("id"))


async def _stopping(execution_id: int) -> bool:
    return await RetentionExecution.filter(id=execution_id, stop_requested=True).exists()


class TaskLog:
    """A task's log, kept in memory and written with the task's counts."""

    def __init__(self, task: RetentionTask) -> None:
        self.task = task
        self.lines: list[str] = [task.log] if task.log else []

    def line(self, text: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.lines.append(f"{stamp} {text}\n")

    async def save(self, **columns: object) -> None:
        text = "".join(self.lines)[: retention.MAX_LOG_CHARS]
        await RetentionTask.filter(id=self.task.id).update(log=text, **columns)


async def _run_task(
    run: RetentionExecution, task: RetentionTask, project: str, rules: list[ev.Rule]
) -> None:
    """One repository: evaluate, log, delete; the task's final status and counts."""
    status_revision = task.status_revision + 1
    await RetentionTask.filter(id=task.id).update(
        status=retention.RUNNING, start_time=datetime.now(UTC), status_revision=status_revision
    )
    out = TaskLog(task)
    out.line(f"retention of {task.repository} (execution {run.id}, dry run: {run.dry_run})")
    repo = await find_repository(task.repository)
    found = await retention.candidates(repo.id, task.repository) if repo else []
    verdict = ev.evaluate(rules, found, datetime.now(UTC))
    kept = await _protected(run, task.repository, verdict.deleted, out)
    doomed = [c for c in verdict.deleted if c.digest not in kept]
    out.line(
        f"{len(found)} artifacts, {len(found) - len(doomed)} retained, {len(doomed)} to delete"
    )
    for c in found:
        action = "DELETE" if c in doomed else "RETAIN"
        out.line(f"{action} {c.digest} tags={','.join(c.tags) or '<none>'}")
    await out.save(total=len(found))
    deleted, failed, stopped = 0, 0, False
    for c in [] if run.dry_run else doomed:
        if await _stopping(int(run.id)):
            stopped = True
            out.line("stopped")
            break
        if await _delete(run, project, task.repository, c, out):
            deleted += 1
        else:
            failed += 1
        await out.save(retained=len(found) - deleted)
    status = retention.STOPPED if stopped else retention.ERROR if failed else retention.SUCCESS
    retained = len(found) - (len(doomed) if run.dry_run else deleted)
    out.line(f"done: {status}, {retained} of {len(found)} retained")
    await out.save(
        status=status,
        retained=retained,
        end_time=datetime.now(UTC),
        status_revision=status_revision + 1,
    )


async def _protected(
    run: RetentionExecution, repository: str, doomed: list[ev.Candidate], out: TaskLog
) -> set[str]:
    """Digests of doomed artifacts a tag immutability rule protects (they stay)."""
    tags = sorted({t for c in doomed for t in c.tags})
    immutable = await retention.immutable_tags(run.project_id, repository, tags) if tags else set()
    kept = {c.digest for c in doomed if immutable & set(c.tags)}
    for digest in sorted(kept):
        out.line(f"IMMUTABLE {digest}: an immutable tag keeps it")
    return kept


async def _delete(
    run: RetentionExecution, project: str, repository: str, c: ev.Candidate, out: TaskLog
) -> bool:
    """Delete one artifact as the API's delete does; whether it is gone."""
    resource = f"{repository}@{c.digest}"
    event = audit.Event(audit.DELETE, audit.ARTIFACT, resource, project, run.project_id)
    event.description = f"by tag retention execution {run.id}"
    try:
        await content_trust.refuse_artifact_delete(repository, c.digest)
        async with transaction() as tx:
            repo = await find_repository(repository)
            if repo is None:
                raise ManifestUnknown(c.digest)
            await delete_artifact(tx, event, repo.id, repository, c.digest)
    except ManifestUnknown:
        out.line(f"deleted {c.digest} (gone already)")
        return True
    except BerthError as exc:
        await audit.record_failure(event, exc)
        out.line(f"FAILED {c.digest}: {exc}")
        return False
    out.line(f"deleted {c.digest}")
    return True


async def _give_up(execution_id: int) -> None:
    """The run's job failed for good: the run and its unfinished tasks are Error."""
    now = datetime.now(UTC)
    await RetentionTask.filter(execution_id=execution_id, status__in=retention.ACTIVE).update(
        status=retention.ERROR, end_time=now
    )
    await RetentionExecution.filter(id=execution_id, status__in=retention.ACTIVE).update(
        status=retention.ERROR, end_time=now
    )


async def _finish(execution_id: int) -> RetentionExecution:
    """The run's final status from its tasks' (Stopped when asked to stop)."""
    run = await RetentionExecution.get(id=execution_id)
    if run.status in retention.FINAL:
        return run
    now = datetime.now(UTC)
    if run.stop_requested:
        await RetentionTask.filter(execution_id=run.id, status__in=retention.ACTIVE).update(
            status=retention.STOPPED, end_time=now
        )
        status = retention.STOPPED
    else:
        failed = await RetentionTask.filter(execution_id=run.id, status=retention.ERROR).exists()
        status = retention.ERROR if failed else retention.SUCCESS
    await RetentionExecution.filter(id=run.id).update(status=status, end_time=now)
    return await RetentionExecution.get(id=execution_id)
