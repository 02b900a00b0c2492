"""Operations endpoints: Harbor's GET /api/v2.0/health and Prometheus' GET /metrics.

Both read shared state (the database, storage, the broker) at request time, so every replica
answers the same whichever process takes the request.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from quart import Blueprint, Response, current_app
from tortoise.functions import Count, Sum

from models import GcRun, Job, ReplicationExecution, ReplicationTask, Signature, fetch
from web.api import api
from web.api.common import json_response
from web.api.openapi import operation
from web.api.schemas.system import OverallHealthStatus

CHECK_TIMEOUT_SECONDS = 3.0  # per component, all at once: /health answers within this
PROBE_PREFIX = "_health/probe-"  # small keys outside blobs/ and uploads/, removed per check
DURATION_WINDOW = timedelta(hours=1)

Check = Callable[[], Awaitable[None]]


async def _database() -> None:
    await fetch("SELECT 1 FROM project LIMIT 1")


async def _storage() -> None:
    """Write, read back and delete a small object: the registry can store blobs."""
    storage = current_app.extensions["registry"].storage
    key = f"{PROBE_PREFIX}{uuid.uuid4().hex}"  # per check: replicas probe at the same time
    data = str(time.time()).encode()
    await storage.write_all(key, data)
    try:
        if await storage.read_all(key) != data:
            raise OSError("storage returned other bytes than were written")
    finally:
        await storage.delete(key)


async def _broker() -> None:
    """The embedded broker lives in this process; a Redis broker must answer PING."""
    jobs = current_app.extensions.get("jobs")
    if jobs is None or getattr(jobs, "embedded", True):
        return
    client = jobs.broker.client
    if not await asyncio.to_thread(client.ping):
        raise ConnectionError("broker did not answer PING")


async def _trust() -> None:
    """The Docker Content Trust tables answer: the signed tags the pull path reads, and the
    trust data Notary serves (the Notary server's own health is /_notary_server/health)."""
    await fetch("SELECT 1 FROM trust_target LIMIT 1")
    await fetch("SELECT 1 FROM trust_file LIMIT 1")


async def _search() -> None:
    """The audit search backend answers one cheap request (Elasticsearch: its root)."""
    await current_app.extensions["registry"].audit_index.ping()


CHECKS: dict[str, Check] = {
    "database": _database,
    "storage": _storage,
    "broker": _broker,
    "search": _search,
    "notary": _trust,  # Harbor's name for its trust service
}


async def _component(name: str, check: Check) -> dict[str, str]:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        error = f"no answer within {CHECK_TIMEOUT_SECONDS:g}s"
        return {"name": name, "status": "unhealthy", "error": error}
    except Exception as exc:
        return {"name": name, "status": "unhealthy", "error": f"{type(exc).__name__}: {exc}"}
    return {"name": name, "status": "healthy"}


@api.get("/health")
@operation("getHealth", "health", responses={200: OverallHealthStatus})
async def health() -> Response:
    """Harbor's overall health: 200 always, with the status of each component."""
    components = await asyncio.gather(*(_component(n, c) for n, c in CHECKS.items()))
    healthy = all(c["status"] == "healthy" for c in components)
    return json_response(
        {"status": "healthy" if healthy else "unhealthy", "components": list(components)}
    )


# ---- Prometheus -------------------------------------------------------------------------

metrics = Blueprint("metrics", __name__)
REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "berth_http_requests",
    "HTTP requests this process answered, by route class and status",
    ["route", "status"],
    registry=REGISTRY,
)


class JobTableCollector:
    """Job gauges computed from the job table (the same on every replica) at scrape time."""

    def __init__(self) -> None:
        self.counts: list[tuple[str, str, int]] = []
        self.durations: dict[tuple[str, str], list[float]] = {}

    async def refresh(self) -> None:
        rows = (
            await Job.annotate(n=Count("id"))
            .group_by("kind", "status")
            .values_list("kind", "status", "n")
        )
        self.counts = [(str(k), str(s), int(n)) for k, s, n in rows]
        since = datetime.now(UTC) - DURATION_WINDOW
        finished = await Job.filter(finished_at__gte=since).values_list(
            "kind", "status", "created_at", "finished_at"
        )
        durations: dict[tuple[str, str], list[float]] = {}
        for kind, status, created, done in finished:
            durations.setdefault((kind, status), []).append((done - created).total_seconds())
        self.durations = durations

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(
            "berth_jobs", "Jobs in the job table by kind and status", labels=["kind", "status"]
        )
        for kind, status, n in self.counts:
            jobs.add_metric([kind, status], n)
        yield jobs
        took = SummaryMetricFamily(
            "berth_job_duration_seconds",
            "Enqueue-to-finish time of the jobs that finished in the last hour",
            labels=["kind", "status"],
        )
        for (kind, status), values in self.durations.items():
            took.add_metric([kind, status], count_value=len(values), sum_value=sum(values))
        yield took


JOB_TABLE = JobTableCollector()
REGISTRY.register(JOB_TABLE)


class GcRunCollector:
    """GC counters from the gc_run table (the same on every replica) at scrape time: runs by
    status, and what the finished real (not dry) runs freed."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, int]] = []
        self.freed = {"bytes": 0, "blobs": 0, "manifests": 0, "uploads": 0}

    async def refresh(self) -> None:
        rows = await GcRun.annotate(n=Count("id")).group_by("status").values_list("status", "n")
        self.runs = [(str(s), int(n)) for s, n in rows]
        freed = dict.fromkeys(self.freed, 0)
        for parameters, results in await GcRun.filter(results__not_isnull=True).values_list(
            "parameters", "results"
        ):
            if not (parameters or {}).get("dry_run"):
                for key in freed:
                    freed[key] += int((results or {}).get(key, 0))
        self.freed = freed

    def collect(self) -> Iterator[Metric]:
        runs = CounterMetricFamily(
            "berth_gc_runs", "Garbage-collection runs by status", labels=["status"]
        )
        for status, n in self.runs:
            runs.add_metric([status], n)
        yield runs
        yield CounterMetricFamily(
            "berth_gc_freed_bytes", "Bytes freed by garbage collection", self.freed["bytes"]
        )
        for key in ("blobs", "manifests", "uploads"):
            yield CounterMetricFamily(
                f"berth_gc_deleted_{key}", f"{key.capitalize()} deleted by garbage collection",
                self.freed[key],
            )  # fmt: skip


GC_RUNS = GcRunCollector()
REGISTRY.register(GC_RUNS)


class ReplicationCollector:
    """Replication counters from the execution and task tables (the same on every replica)
    at scrape time: executions and tasks by status, and the bytes the tasks copied."""

    def __init__(self) -> None:
        self.executions: list[tuple[str, int]] = []
        self.tasks: list[tuple[str, int]] = []
        self.bytes = 0

    async def refresh(self) -> None:
        executions = ReplicationExecution.annotate(n=Count("id")).group_by("status")
        self.executions = [(str(s), int(n)) for s, n in await executions.values_list("status", "n")]
        tasks = ReplicationTask.annotate(n=Count("id"), moved=Sum("bytes")).group_by("status")
        rows = await tasks.values_list("status", "n", "moved")
        self.tasks = [(str(s), int(n)) for s, n, _ in rows]
        self.bytes = sum(int(moved or 0) for _, _, moved in rows)

    def collect(self) -> Iterator[Metric]:
        executions = CounterMetricFamily(
            "berth_replication_executions", "Replication executions by status", labels=["status"]
        )
        for status, n in self.executions:
            executions.add_metric([status], n)
        yield executions
        tasks = CounterMetricFamily(
            "berth_replication_tasks", "Replication tasks by status", labels=["status"]
        )
        for status, n in self.tasks:
            tasks.add_metric([status], n)
        yield tasks
        yield CounterMetricFamily(
            "berth_replication_bytes", "Bytes copied by replication tasks", self.bytes
        )


REPLICATION = ReplicationCollector()
REGISTRY.register(REPLICATION)

REFUSED_PULLS = Counter(
    "berth_pulls_refused_unsigned",
    "Manifest pulls this process refused for want of a signature, by the project policy that"
    " refused them: cosign (enable_content_trust_cosign: a signature from a trusted key) or"
    " notary (enable_content_trust: Docker Content Trust data signing what is served)",
    ["policy"],
    registry=REGISTRY,
)
REFUSED_COSIGN = REFUSED_PULLS.labels("cosign")  # both series exist from the start (0)
REFUSED_NOTARY = REFUSED_PULLS.labels("notary")


class SignatureCollector:
    """The signatures Berth holds, by format and verdict (the same on every replica)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, int]] = []

    async def refresh(self) -> None:
        query = Signature.annotate(n=Count("id")).group_by("format", "status")
        self.rows = [
            (str(f), str(s), int(n)) for f, s, n in await query.values_list("format", "status", "n")
        ]

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "berth_signatures",
            "Signatures held, by format and verdict",
            labels=["format", "status"],
        )
        for fmt, status, n in self.rows:
            family.add_metric([fmt, status], n)
        yield family


SIGNATURES = SignatureCollector()
REGISTRY.register(SIGNATURES)


def count_request(route: str | None, status: int) -> None:
    """Count one answered request (route class: the blueprint that served it)."""
    REQUESTS.labels(route or "other", str(status)).inc()


@metrics.get("/metrics")
async def scrape() -> Response:
    await JOB_TABLE.refresh()
    await GC_RUNS.refresh()
    await REPLICATION.refresh()
    await SIGNATURES.refresh()
    return Response(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
