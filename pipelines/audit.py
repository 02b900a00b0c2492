"""Audit log pipelines: new events to the search backend (and syslog), old events purged.

"audit-index" drains the events not yet indexed, a batch at a time, for up to DRAIN_SECONDS;
the dispatcher enqueues it whenever events wait and no such job is queued or running, so the
index lags the database by about one dispatcher tick. Indexing is idempotent (by event id):
a batch repeated after a crash replaces itself. "audit-purge" applies the retention age.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import socket
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from core import audit, gc_runs, purge_audit
from core.jobs import ClaimedJob
from core.service import Registry
from pipelines import PipelineContext, pipeline
from search.audit import AuditRecord

log = logging.getLogger("berth.audit")

INDEX_KIND = "audit-index"
PURGE_KIND = "audit-purge"
DRAIN_SECONDS = 30.0
# An indexing job that renewed its lease no later than this ago is alive (it renews after
# every batch, and a batch takes well under a second); after that, the dispatcher starts
# another rather than wait out the lease of one that died with its process.
SILENCE = timedelta(seconds=15)


@pipeline(INDEX_KIND)
async def index_pipeline(job: ClaimedJob, context: PipelineContext) -> None:
    """Index waiting events until none are left or the drain time is up."""
    forwarder = SyslogForwarder.parse(context.registry.audit.syslog_address)
    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline:
        if not await index_batch(context.registry, forwarder):
            return
        await context.queue.progress(job.id, 0.0)  # alive: renews the lease


async def index_batch(registry: Registry, forwarder: SyslogForwarder | None = None) -> int:
    """Index (and forward) the oldest waiting batch, then mark it indexed; the count."""
    records = await audit.pending_events(registry.audit.batch)
    if not records:
        return 0
    await registry.audit_index.index(records)
    if forwarder is not None:
        await forwarder.send(records)
    await audit.mark_indexed([r.id for r in records])
    return len(records)


@pipeline(PURGE_KIND)
async def purge_pipeline(job: ClaimedJob, context: PipelineContext) -> None:
    """The configured retention (audit.retention_days): remove events older than args.days,
    of every operation, as a purge run of its own (so it shows in /system/purgeaudit), or
    nothing but a log line while another purge runs."""
    days = int(str(job.args.get("days", 0)))
    if days <= 0:
        return
    parameters = purge_audit.PurgeParameters(days * 24, audit.OPERATIONS)
    try:
        run = await gc_runs.create(
            gc_runs.SCHEDULE, parameters, audit.SYSTEM, enqueue_job=False,
            kind=purge_audit.PURGE,
        )  # fmt: skip
    except gc_runs.RunActive as exc:
        log.info("audit retention purge skipped: one is running", extra={"run": exc.run_id})
        return
    await execute_purge(context.registry, int(run.id))


async def purge(
    registry: Registry,
    cutoff: datetime,
    operations: frozenset[str] | None = None,
    record: bool = True,
) -> int:
    """Delete events before cutoff (of these operations, when given) from the database (the
    truth), then from the index (backends accept either order, so a crash between the two is
    mended by the next purge); the purge itself is recorded (record=False: the caller
    records it, a purge run at its end)."""
    removed = await audit.delete_before(cutoff, operations=operations)
    await registry.audit_index.delete_before(cutoff, operations)
    if record:
        event = audit.Event(
            audit.DELETE,
            audit.AUDIT_LOG,
            f"events before {cutoff.isoformat(timespec='seconds')}",
            description=f"retention purge removed {removed} events",
        )
        await audit.record(event)
    log.info("audit events purged", extra={"count": removed, "before": cutoff.isoformat()})
    return removed


@pipeline(purge_audit.RUN_KIND)
async def purge_run_pipeline(job: ClaimedJob, context: PipelineContext) -> None:
    """Carry out the purge run args.run names (nothing when it is final already)."""
    await execute_purge(context.registry, int(str(job.args["run"])))


@pipeline(purge_audit.FIRE_KIND)
async def scheduled_purge_pipeline(job: ClaimedJob, context: PipelineContext) -> None:
    """A fire of the purge schedule: a new run (trigger SCHEDULE), or nothing but a log line
    when one is still running."""
    parameters = purge_audit.parse_parameters(job.args.get("parameters"))
    schedule = {"type": job.args.get("type"), "cron": job.args.get("cron")}
    try:
        run = await gc_runs.create(
            gc_runs.SCHEDULE, parameters, audit.SYSTEM, schedule=schedule, kind=purge_audit.PURGE
        )
    except gc_runs.RunActive as exc:
        log.info("scheduled audit purge skipped: one is running", extra={"run": exc.run_id})
        return
    log.info("scheduled audit purge created", extra={"run": run.id})


async def execute_purge(registry: Registry, run_id: int) -> None:
    """Carry out a purge run to a final status, with its log and its one audit event. Safe
    to repeat: a final run is left alone, a Running one (its worker died) done again."""
    kind = purge_audit.PURGE
    run = await gc_runs.start(run_id, kind)
    if run is None:
        return
    parameters = purge_audit.parse_parameters(run.parameters)
    note = functools.partial(_note, run_id)
    if run.stop_requested:
        await note("stopped before it started")
        await gc_runs.finish(run_id, gc_runs.STOPPED, None, kind=kind, values={"events": 0})
        return
    cutoff = datetime.now(UTC) - timedelta(hours=parameters.audit_retention_hour)
    operations = frozenset(parameters.include_operations)
    await note(
        f"audit log purge {run_id} started ({run.trigger}): events before"
        f" {cutoff.isoformat(timespec='seconds')} of {', '.join(sorted(operations))}"
        f" dry_run={parameters.dry_run}"
    )
    status, count, error = gc_runs.SUCCESS, 0, ""
    try:
        if parameters.dry_run:
            count = await audit.count_before(cutoff, operations)
        else:
            count = await purge(registry, cutoff, operations, record=False)
    except Exception as exc:
        log.warning("audit purge failed", extra={"run": run_id}, exc_info=True)
        status, error = gc_runs.ERROR, f"{type(exc).__name__}: {exc}"
    verb = "would remove" if parameters.dry_run else "removed"
    await note(f"failed: {error}" if error else f"done; {verb} {count} events")
    description = f"{status} ({run.trigger}): {verb} {count} events"
    if error:
        description += f"; {error}"
    event = audit.Event(
        audit.DELETE, audit.PURGE_AUDIT, f"audit log purge {run_id}", description=description
    )
    await gc_runs.finish(run_id, status, None, event, kind, {"events": count})


async def _note(run_id: int, text: str) -> None:
    await gc_runs.append_log(run_id, f"{gc_runs.stamp_now()} {text}", purge_audit.PURGE)


class SyslogForwarder:
    """Sends each event as one RFC 5424 message (JSON body) over UDP or TCP."""

    FACILITY_AUDIT = 13

    def __init__(self, scheme: str, host: str, port: int) -> None:
        self.scheme, self.host, self.port = scheme, host, port
        self.hostname = socket.gethostname()

    @classmethod
    def parse(cls, address: str | None) -> SyslogForwarder | None:
        """udp://host:514 or tcp://host:601; None when forwarding is off. ValueError if bad."""
        if not address:
            return None
        parts = urlsplit(address)
        if parts.scheme not in ("udp", "tcp") or not parts.hostname:
            raise ValueError(f"syslog address {address!r}: use udp://HOST:PORT or tcp://HOST:PORT")
        default_port = 514 if parts.scheme == "udp" else 601
        return cls(parts.scheme, parts.hostname, parts.port or default_port)

    def message(self, record: AuditRecord) -> bytes:
        severity = 6 if record.success else 4  # informational / warning
        body = {
            "id": record.id,
            "time": record.occurred_at.isoformat(),
            "username": record.username,
            "operation": record.operation,
            "resource_type": record.resource_type,
            "resource": record.resource,
            "project": record.project,
            "result": "success" if record.success else "failure",
            "client_address": record.client_address,
            "user_agent": record.user_agent,
            "description": record.description,
        }
        stamp = record.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        head = f"<{self.FACILITY_AUDIT * 8 + severity}>1 {stamp} {self.hostname} berth - audit -"
        return f"{head} {json.dumps(body, separators=(',', ':'))}".encode()

    async def send(self, records: Sequence[AuditRecord]) -> None:
        """Send every record; raises OSError when the endpoint cannot be reached (TCP)."""
        messages = [self.message(r) for r in records]
        if self.scheme == "udp":
            await asyncio.to_thread(self._send_udp, messages)
            return
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            # RFC 6587 octet counting: each message is preceded by its length.
            writer.write(b"".join(b"%d %s" % (len(m), m) for m in messages))
            await writer.drain()
        finally:
            writer.close()
            await writer.wait_closed()

    def _send_udp(self, messages: list[bytes]) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            for message in messages:
                sock.sendto(message, (self.host, self.port))
