"""Harbor's job service monitor over Berth's job table (jobservice-monitor:list to read,
:stop to act): /jobservice/pools and their workers, /jobservice/queues (pause, resume,
drop pending), /jobservice/jobs/{id} (stop) and its log."""

from __future__ import annotations

from quart import Response

import services.jobservice
from core import jobservice
from core.jobservice import QueueInfo, WorkerInfo
from models import WorkerPool
from pipelines import PIPELINES, load_pipelines
from web.api import api
from web.api.calls import api_call
from web.api.common import current_identity, json_response, wake_jobs
from web.api.openapi import Content, operation
from web.api.schemas.jobservice import ActionRequest, JobQueue, Worker
from web.api.schemas.jobservice import WorkerPool as WorkerPoolModel
from web.params import api_time


def registered_kinds() -> list[str]:
    load_pipelines()  # imported once; the kinds every worker runs
    return list(PIPELINES)


@api.get("/jobservice/pools")
@operation("getWorkerPools", "jobservice", responses={200: list[WorkerPoolModel]})
async def get_worker_pools() -> Response:
    services.jobservice.require(await current_identity())
    return json_response([pool_json(p) for p in await jobservice.pools()])


@api.get("/jobservice/pools/<pool_id>/workers")
@operation("getWorkers", "jobservice", responses={200: list[Worker]})
async def get_workers(pool_id: str) -> Response:
    services.jobservice.require(await current_identity())
    return json_response([worker_json(w) for w in await jobservice.workers(pool_id)])


@api.get("/jobservice/queues")
@operation("listJobQueues", "jobservice", responses={200: list[JobQueue]})
async def list_job_queues() -> Response:
    services.jobservice.require(await current_identity())
    kinds = await jobservice.known_kinds(registered_kinds())
    return json_response([queue_json(q) for q in await jobservice.queues(kinds)])


@api.put("/jobservice/queues/<job_type>")
@operation("actionPendingJobs", "jobservice", body=ActionRequest, responses={200: None})
async def action_pending_jobs(job_type: str) -> Response:
    await services.jobservice.act_on_queue(await api_call(), job_type, registered_kinds())
    wake_jobs(True)  # a resumed queue's jobs are dispatched now
    return Response("", status=200)


@api.put("/jobservice/jobs/<job_id>")
@operation("stopRunningJob", "jobservice", responses={200: None})
async def stop_running_job(job_id: str) -> Response:
    await services.jobservice.stop_job(await api_call(), job_id)
    return Response("", status=200)


@api.get("/jobservice/jobs/<job_id>/log")
@operation("actionGetJobLog", "jobservice", responses={200: Content({"text/plain": str})})
async def get_job_log(job_id: str) -> Response:
    services.jobservice.require(await current_identity())
    return Response(await jobservice.job_log(job_id), content_type="text/plain; charset=utf-8")


def pool_json(pool: WorkerPool) -> dict[str, object]:
    return {
        "pid": pool.pid,
        "worker_pool_id": pool.id,
        "start_at": api_time(pool.started_at),
        "heartbeat_at": api_time(pool.heartbeat_at),
        "concurrency": pool.concurrency,
        "host": pool.host,
    }


def worker_json(worker: WorkerInfo) -> dict[str, object]:
    """Harbor's Worker: the job fields only while it runs one."""
    body: dict[str, object] = {"id": worker.id, "pool_id": worker.pool_id}
    if worker.job is not None:
        body.update(
            job_name=jobservice.job_type(worker.job.kind),
            job_id=str(worker.job.id),
            start_at=api_time(worker.started_at),
            check_in=f"progress {round(worker.job.progress * 100)}%",
            checkin_at=api_time(worker.job.updated_at),
        )
    return body


def queue_json(queue: QueueInfo) -> dict[str, object]:
    return {
        "job_type": queue.job_type,
        "count": queue.count,
        "latency": queue.latency,
        "paused": queue.paused,
    }
