"""GC run records: one at a time, a dead run does not block, stop, log, finish once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core import audit, gc_runs, gc_schedule
from core.gc import RUN_LEASE, GcResult, GcRunning
from core.gc_runs import GcParameters, GcRunUnknown
from core.service import Registry
from models import AuditEvent, GcRun, Job
from models.values import ParameterInvalid


async def test_a_run_is_created_with_its_job_and_blocks_a_second(registry: Registry) -> None:
    # When a manual run is created
    run = await gc_runs.create(gc_runs.MANUAL, GcParameters(dry_run=True), "alice")
    # Then it is Pending with its gc job, in the same transaction
    job = await Job.get(id=run.job_id)
    assert (run.status, run.operator, run.parameters["dry_run"]) == ("Pending", "alice", True)
    assert (job.kind, job.args) == ("gc", {"run": run.id})
    # And a second run, whatever its trigger, is refused while it is pending
    with pytest.raises(GcRunning) as refused:
        await gc_runs.create(gc_runs.SCHEDULE, GcParameters(), audit.SYSTEM)
    assert refused.value.run_id == run.id
    assert await GcRun.all().count() == 1


async def test_a_running_run_whose_heartbeat_lapsed_is_dead(registry: Registry) -> None:
    # Given a CLI run (Running at once, no job) whose process stopped beating
    first = await gc_runs.create(gc_runs.CLI, GcParameters(), audit.SYSTEM, enqueue_job=False)
    assert (first.status, first.job_id) == ("Running", None)
    with pytest.raises(GcRunning):
        await gc_runs.create(gc_runs.MANUAL, GcParameters(), "admin")
    lapsed = datetime.now(UTC) - RUN_LEASE - timedelta(seconds=5)
    await GcRun.filter(id=first.id).update(heartbeat_at=lapsed)
    # When another run is asked for
    second = await gc_runs.create(gc_runs.MANUAL, GcParameters(), "admin")
    # Then it is created, and the dead one is marked Error with a line saying why
    dead = await gc_runs.get(first.id)
    assert second.status == "Pending" and dead.status == "Error"
    assert "stopped answering" in dead.log


async def test_a_pending_run_whose_job_gave_up_does_not_block(registry: Registry) -> None:
    # Given a run whose job failed for good before it could start the run
    first = await gc_runs.create(gc_runs.MANUAL, GcParameters(), "admin")
    await Job.filter(id=first.job_id).update(status="failed")
    # When another run is asked for, it is created and the stuck one is Error
    second = await gc_runs.create(gc_runs.MANUAL, GcParameters(), "admin")
    assert second.status == "Pending"
    assert (await gc_runs.get(first.id)).status == "Error"


async def test_stopping_a_pending_run_ends_it_and_a_running_one_is_asked(
    registry: Registry,
) -> None:
    pending = await gc_runs.create(gc_runs.MANUAL, GcParameters(), "admin")
    stopped = await gc_runs.request_stop(pending.id)
    assert stopped.status == "Stopped" and "stopped before it started" in stopped.log
    assert await gc_runs.start(pending.id) is None  # its job finds it final
    running = await gc_runs.create(gc_runs.CLI, GcParameters(), audit.SYSTEM, enqueue_job=False)
    assert not await gc_runs.stop_wanted(running.id)
    asked = await gc_runs.request_stop(running.id)
    assert asked.status == "Running" and asked.stop_requested
    assert await gc_runs.stop_wanted(running.id)
    with pytest.raises(GcRunUnknown):
        await gc_runs.request_stop(999_999)


async def test_a_run_finishes_once_with_one_audit_event(registry: Registry) -> None:
    run = await gc_runs.create(gc_runs.CLI, GcParameters(), "bob", enqueue_job=False)
    event = audit.Event(audit.DELETE, audit.GARBAGE_COLLECTION, f"garbage collection {run.id}")
    result = GcResult(blobs=3, bytes=300, manifests=1, uploads=2)
    assert await gc_runs.finish(run.id, "Success", result, event)
    assert not await gc_runs.finish(run.id, "Error", None, event)  # a repeat changes nothing
    done = await gc_runs.get(run.id)
    assert (done.status, done.results) == ("Success", result.as_dict())
    events = await AuditEvent.filter(resource_type=audit.GARBAGE_COLLECTION)
    assert [(e.username, e.resource) for e in events] == [("bob", f"garbage collection {run.id}")]


async def test_the_log_is_appended_and_kept_within_its_limit(registry: Registry) -> None:
    run = await gc_runs.create(gc_runs.CLI, GcParameters(), audit.SYSTEM, enqueue_job=False)
    await gc_runs.append_log(run.id, "one")
    await gc_runs.append_log(run.id, "two\nthree\n")
    assert (await gc_runs.get(run.id)).log == "one\ntwo\nthree\n"
    await gc_runs.append_log(run.id, "x" * (gc_runs.MAX_LOG_CHARS + 10))
    await gc_runs.append_log(run.id, "after")
    log = (await gc_runs.get(run.id)).log
    assert len(log) < gc_runs.MAX_LOG_CHARS + 100 and log.endswith("(log truncated)\n")


async def test_history_is_newest_first_with_its_total(registry: Registry) -> None:
    ids = []
    for _ in range(3):
        run = await gc_runs.create(gc_runs.MANUAL, GcParameters(), "admin")
        await gc_runs.finish(run.id, "Success", GcResult())
        ids.append(run.id)
    rows, total = await gc_runs.history(0, 2)
    assert total == 3 and [r.id for r in rows] == ids[::-1][:2]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"workers": 0}, "parameters.workers", id="workers-0"),
        pytest.param({"workers": 11}, "parameters.workers", id="workers-11"),
        pytest.param({"workers": "2"}, "parameters.workers", id="workers-text"),
        pytest.param({"workers": True}, "parameters.workers", id="workers-bool"),
        pytest.param({"dry_run": "yes"}, "parameters.dry_run", id="dry-run-text"),
        pytest.param({"delete_untagged": 1}, "parameters.delete_untagged", id="untagged-int"),
        pytest.param({"purge": True}, "parameters.purge", id="unknown"),
        pytest.param([], "parameters", id="not-an-object"),
    ],
)
def test_bad_parameters_name_the_field(body: object, field: str) -> None:
    with pytest.raises(ParameterInvalid) as refused:
        gc_runs.parse_parameters(body)
    assert refused.value.parameter == field


@pytest.mark.parametrize(
    ("cron", "table"),
    [
        pytest.param("0 0 0 * * *", "0 0 * * * 0", id="harbor-daily"),
        pytest.param("*/5 * * * * *", "* * * * * */5", id="every-5-seconds"),
        pytest.param("30 2 * * 1", "30 2 * * 1", id="five-fields"),
    ],
)
def test_crons_of_six_fields_have_their_seconds_first(cron: str, table: str) -> None:
    assert gc_schedule.table_cron(cron) == table


@pytest.mark.parametrize(
    "cron",
    ["61 * * * *", "* * *", "0 0 0 * * * 2030", "every day", "0 0 0 32 * *"],
)
def test_bad_crons_are_refused(cron: str) -> None:
    with pytest.raises(ParameterInvalid) as refused:
        gc_schedule.table_cron(cron)
    assert refused.value.parameter == "schedule.cron"
