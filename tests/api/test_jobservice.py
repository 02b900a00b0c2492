"""Harbor's job service monitor over Berth's job table: queues (paused ones really hold
their jobs, on the embedded broker and on Redis, until resumed; stop drops pending jobs),
worker pools by heartbeat and the job each worker runs, stopping a running job, its log;
and who may do each (system admin only)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.jobs import ClaimedJob, enqueue
from core.service import close_registry, open_registry
from models import AuditEvent, Job
from pipelines import PipelineContext, pipeline
from storage import build_driver
from tests.factories import AppApi, admin_client, app_as, app_user, push_image
from tests.support import (
    REDIS,
    InProcessBerth,
    RunningBerth,
    berth_worker,
    redis_answers,
    require,
    run_sql,
    wait_until,
    waited_for,
)
from web.api.schemas.jobservice import JobQueue, Worker, WorkerPool
from workers.runtime import JobRuntime

QUEUES = "/jobservice/queues"


async def queue(api: AppApi, job_type: str) -> dict[str, object]:
    answer = await api.get(QUEUES)
    assert answer.status_code == 200, answer.text
    return next(q for q in answer.json() if q["job_type"] == job_type)


async def status_of(job_id: int) -> str:
    return (await Job.get(id=job_id)).status


async def test_queues_list_every_kind_with_its_pending_count(in_process: InProcessBerth) -> None:
    admin = AppApi(in_process)
    assert (await admin.put(f"{QUEUES}/SLEEP", json={"action": "pause"})).status_code == 200
    await enqueue("sleep", {"seconds": 0})
    await enqueue("sleep", {"seconds": 0})
    listed = await queue(admin, "SLEEP")
    assert listed["count"] == 2
    assert listed["paused"] is True
    listing = (await admin.get(QUEUES)).json()
    assert all(JobQueue.model_validate(q) for q in listing)
    types = {q["job_type"] for q in listing}
    assert {"GARBAGE_COLLECTION", "REPLICATION", "WEBHOOK", "SCHEDULER", "PUSH"} <= types


async def test_a_paused_queue_keeps_its_job_pending_until_resumed(
    in_process: InProcessBerth,
) -> None:
    admin = AppApi(in_process)
    assert (await admin.put(f"{QUEUES}/sleep", json={"action": "pause"})).status_code == 200
    job_id = await enqueue("sleep", {"seconds": 0})
    other = await enqueue("no-pipeline", {}, max_attempts=1)  # fails at once
    # the dispatcher ticks every second: another kind's job runs meanwhile, ours does not
    await waited_for("the unpaused job ran", lambda: _final(other), within=30)
    assert await status_of(job_id) == "pending"
    assert (await queue(admin, "SLEEP"))["latency"] >= 0
    assert (await admin.put(f"{QUEUES}/sleep", json={"action": "resume"})).status_code == 200
    await waited_for("the resumed job ran", lambda: _succeeded(job_id), within=30)
    assert (await queue(admin, "SLEEP"))["paused"] is False


async def _final(job_id: int) -> bool | None:
    return (await status_of(job_id)) in ("succeeded", "failed") or None


async def _succeeded(job_id: int) -> bool | None:
    return (await status_of(job_id)) == "succeeded" or None


async def test_stop_drops_the_pending_jobs_of_its_queue(in_process: InProcessBerth) -> None:
    admin = AppApi(in_process)
    await admin.put(f"{QUEUES}/sleep", json={"action": "pause"})
    job_id = await enqueue("sleep", {"seconds": 0})
    assert (await admin.put(f"{QUEUES}/SLEEP", json={"action": "stop"})).status_code == 200
    job = await Job.get(id=job_id)
    assert (job.status, job.last_error) == ("failed", "stopped through the job service")
    assert (await queue(admin, "SLEEP"))["count"] == 0
    log = await admin.get(f"/jobservice/jobs/{job_id}/log")
    assert log.status_code == 200
    assert f"job {job_id} (SLEEP)" in log.text
    assert "stopped through the job service" in log.text
    events = await AuditEvent.filter(resource_type="jobservice").order_by("id")
    assert [(e.username, e.description) for e in events][-1] == (
        "admin",
        "stop: 1 pending job(s) dropped",
    )
    assert events[-1].resource == "job queue SLEEP"


async def test_pause_all_pauses_the_scheduler_too(in_process: InProcessBerth) -> None:
    admin = AppApi(in_process)
    _, name = await app_user(in_process)
    user = app_as(in_process, name)
    assert (await user.get("/schedules/all/paused")).json() == {"paused": False}
    assert (await admin.put(f"{QUEUES}/all", json={"action": "pause"})).status_code == 200
    assert (await user.get("/schedules/all/paused")).json() == {"paused": True}
    assert all(q["paused"] for q in (await admin.get(QUEUES)).json())
    assert (await admin.put(f"{QUEUES}/all", json={"action": "resume"})).status_code == 200
    assert (await user.get("/schedules/all/paused")).json() == {"paused": False}


async def test_queue_actions_are_checked(in_process: InProcessBerth) -> None:
    admin = AppApi(in_process)
    bad = await admin.put(f"{QUEUES}/sleep", json={"action": "explode"})
    assert bad.status_code == 400
    assert "action" in bad.text
    assert (await admin.put(f"{QUEUES}/NO_SUCH_TYPE", json={"action": "pause"})).status_code == 404


async def test_a_running_job_is_listed_on_its_worker_and_stops(in_process: InProcessBerth) -> None:
    admin = AppApi(in_process)
    job_id = await enqueue("sleep", {"seconds": 60})

    async def pool_running() -> list[dict[str, object]] | None:
        pools = (await admin.get("/jobservice/pools")).json()
        if not pools:
            return None
        workers = (await admin.get("/jobservice/pools/all/workers")).json()
        busy = [w for w in workers if w.get("job_id") == str(job_id)]
        return pools if busy and busy[0].get("start_at") else None

    (pool,) = await waited_for("the job runs on a listed pool", pool_running, within=30)
    WorkerPool.model_validate(pool)
    assert pool["concurrency"] == 2
    assert isinstance(pool["pid"], int) and pool["pid"] > 0
    workers = (await admin.get(f"/jobservice/pools/{pool['worker_pool_id']}/workers")).json()
    assert len(workers) == 2
    assert all(Worker.model_validate(w) for w in workers)
    (busy,) = [w for w in workers if w.get("job_id") == str(job_id)]
    assert busy["job_name"] == "SLEEP"
    assert (
        await admin.put(f"/jobservice/jobs/{job_id}", json={"action": "stop"})
    ).status_code == 200
    assert await status_of(job_id) == "failed"

    async def idle() -> bool | None:
        workers = (await admin.get("/jobservice/pools/all/workers")).json()
        return not any(w.get("job_id") == str(job_id) for w in workers) or None

    await waited_for("the stopped job leaves its worker", idle, within=15)
    job = await Job.get(id=job_id)
    assert job.status == "failed" and job.progress < 1.0  # cancelled, not finished


STOPPED: set[int] = set()


async def _after_stop(job: ClaimedJob, context: PipelineContext) -> None:
    STOPPED.add(job.id)


@pipeline("test-stoppable", on_stop=_after_stop)
async def _stoppable(job: ClaimedJob, context: PipelineContext) -> None:
    await asyncio.sleep(120)


async def test_a_stopped_jobs_kind_gets_to_close_its_records(in_process: InProcessBerth) -> None:
    """As a GC run ends Stopped when its job is stopped (pipelines/gc.py)."""
    job_id = await enqueue("test-stoppable", {})

    async def running() -> bool | None:
        return (await status_of(job_id)) == "running" or None

    await waited_for("the job runs", running, within=30)
    assert (await AppApi(in_process).put(f"/jobservice/jobs/{job_id}")).status_code == 200

    async def closed() -> bool | None:
        return job_id in STOPPED or None

    await waited_for("the kind's on_stop ran", closed, within=15)
    assert await status_of(job_id) == "failed"


async def test_unknown_jobs_and_pools_are_404(in_process: InProcessBerth) -> None:
    admin = AppApi(in_process)
    assert (await admin.get("/jobservice/jobs/987654321/log")).status_code == 404
    assert (await admin.get("/jobservice/jobs/abc/log")).status_code == 404
    assert (
        await admin.put("/jobservice/jobs/987654321", json={"action": "stop"})
    ).status_code == 404
    assert (await admin.get("/jobservice/pools/nobody:1/workers")).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/jobservice/pools"),
        ("GET", "/jobservice/pools/all/workers"),
        ("GET", QUEUES),
        ("PUT", f"{QUEUES}/sleep"),
        ("PUT", "/jobservice/jobs/1"),
        ("GET", "/jobservice/jobs/1/log"),
    ],
)
async def test_the_job_service_is_for_system_admins(
    in_process: InProcessBerth, method: str, path: str
) -> None:
    _, name = await app_user(in_process)
    body = {"json": {"action": "pause"}} if method == "PUT" else {}
    assert (await app_as(in_process, name).request(method, path, **body)).status_code == 403
    assert (await app_as(in_process, None).request(method, path, **body)).status_code == 401


# --- the pause holds on both brokers, for a runtime of its own --------------------------------


@pytest.fixture(params=["embedded", "redis"])
async def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[JobRuntime]:
    broker_url = None
    if request.param == "redis":
        require(redis_answers(REDIS), "Redis is not running on 127.0.0.1:6379")
        broker_url = REDIS
    registry = await open_registry(
        build_driver("filesystem", tmp_path / "storage"), f"sqlite://{tmp_path / 'b.db'}", 1 << 20
    )
    jobs = JobRuntime(
        broker_url, f"berth-test-{uuid.uuid4().hex[:8]}", registry, asyncio.get_running_loop()
    )
    jobs.start_workers()
    try:
        yield jobs
    finally:
        await asyncio.to_thread(jobs.stop)
        await close_registry()


async def test_a_paused_kind_is_not_run_by_the_broker_even_when_sent(runtime: JobRuntime) -> None:
    from core.jobservice import set_paused

    await set_paused(["sleep"], True)
    job_id = await enqueue("sleep", {"seconds": 0})
    assert await runtime.dispatch_once() == 0  # not due while paused
    runtime.actor.send(job_id)  # sent anyway (before the pause, say): its claim refuses it
    done = await enqueue("no-pipeline", {}, max_attempts=1)
    runtime.actor.send(done)
    await waited_for("the other job was tried", lambda: _final(done), within=20)
    assert await status_of(job_id) == "pending"
    await set_paused(["sleep"], False)
    assert await runtime.dispatch_once() == 1  # resumed: sent again at once
    await waited_for("the resumed job ran", lambda: _succeeded(job_id), within=20)


# --- a real server on Redis, its jobs run by a `berth worker` process --------------------------


def test_a_worker_process_is_a_pool_and_a_paused_queue_holds_its_jobs(
    queued_server: tuple[RunningBerth, dict[str, str]],
) -> None:
    server, env = queued_server
    with admin_client(server) as admin, berth_worker(server.data_dir, env) as worker:
        paused = admin.put(f"{QUEUES}/PUSH", json={"action": "pause"})
        assert paused.status_code == 200, paused.text

        def the_pool() -> dict[str, object] | None:
            pools = admin.get("/jobservice/pools").json()
            return next((p for p in pools if p["pid"] == worker.pid), None)

        pool = wait_until("the worker process lists itself as a pool", the_pool)
        assert pool["concurrency"] == 2
        push_image(server, "library/held", "v1")
        (push_job,) = run_sql(server, "SELECT max(id) FROM job WHERE kind = 'push'")[0]

        def later_job_done() -> bool | None:
            done = run_sql(
                server, "SELECT id FROM job WHERE id > ? AND status = 'succeeded'", push_job
            )
            return bool(done) or None

        # the worker runs what came after (audit indexing), not the paused push job
        wait_until("a later job of another kind ran on the worker", later_job_done)
        assert run_sql(server, "SELECT status FROM job WHERE id = ?", push_job) == [("pending",)]
        held = next(q for q in admin.get(QUEUES).json() if q["job_type"] == "PUSH")
        assert held["count"] >= 1 and held["paused"] is True
        assert admin.put(f"{QUEUES}/PUSH", json={"action": "resume"}).status_code == 200

        def pushed() -> bool | None:
            rows = run_sql(server, "SELECT status FROM job WHERE id = ?", push_job)
            return rows == [("succeeded",)] or None

        wait_until("the resumed push job ran", pushed)
    with admin_client(server) as admin:
        gone = wait_until(
            "the stopped worker leaves the pools",
            lambda: (
                all(p["pid"] != worker.pid for p in admin.get("/jobservice/pools").json()) or None
            ),
        )
        assert gone


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        pytest.param("PUT", f"{QUEUES}/sleep", b"not json", 400, id="body-not-json"),
        pytest.param("PUT", f"{QUEUES}/sleep", b'{"action": 5}', 400, id="action-not-a-string"),
        pytest.param("PUT", f"{QUEUES}/sleep", b"{}", 400, id="action-missing"),
        pytest.param("PUT", f"{QUEUES}/{'x' * 200}", b'{"action":"pause"}', 404, id="long-type"),
        pytest.param("PUT", f"{QUEUES}/{'x' * 300}", b'{"action":"pause"}', 400, id="too-long"),
        pytest.param("GET", f"/jobservice/jobs/{'9' * 25}/log", None, 404, id="huge-id"),
        pytest.param("GET", "/jobservice/jobs/-1/log", None, 404, id="negative-id"),
        pytest.param("GET", "/jobservice/pools/%00/workers", None, 400, id="nul-pool"),
        pytest.param("GET", "/schedules/%00/paused", None, 400, id="nul-job-type"),
    ],
)
async def test_odd_input_is_refused_plainly(
    in_process: InProcessBerth, method: str, path: str, body: bytes | None, status: int
) -> None:
    kwargs = {"data": body, "headers": {"Content-Type": "application/json"}} if body else {}
    answer = await AppApi(in_process).request(method, path, **kwargs)
    assert answer.status_code == status, answer.text
    assert answer.json()["errors"][0]["message"]
