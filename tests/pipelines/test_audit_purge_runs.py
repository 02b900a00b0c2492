"""The configured audit retention (audit.retention_days, the "audit-purge" cron job) purges
as a run of /system/purgeaudit's history, in-process on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from core.jobs import ClaimedJob, JobQueue
from models import AuditEvent
from pipelines import PipelineContext
from pipelines.audit import purge_pipeline
from tests.factories import AppApi, app_user
from tests.support import InProcessBerth


async def test_the_retention_purge_is_a_run_of_the_history(in_process: InProcessBerth) -> None:
    # Given a user made forty days ago (its event backdated) and one made now
    _, old = await app_user(in_process, prefix="old")
    _, new = await app_user(in_process, prefix="new")
    await AuditEvent.filter(resource=old).update(occurred_at=datetime.now(UTC) - timedelta(40))
    registry = in_process.app.extensions["registry"]
    # When the retention job for 30 days runs
    job = ClaimedJob(0, "audit-purge", {"days": 30}, 1)
    await purge_pipeline(job, PipelineContext(registry, JobQueue("test")))
    # Then the old event is gone, the new one stays
    assert not await AuditEvent.filter(resource=old).exists()
    assert await AuditEvent.filter(resource=new).exists()
    # And the history shows a scheduled run of every operation, with its log
    admin = AppApi(in_process)
    [run] = (await admin.get("/system/purgeaudit")).json()
    assert (run["job_kind"], run["job_status"]) == ("SCHEDULE", "Success")
    parameters = json.loads(run["job_parameters"])
    assert parameters["audit_retention_hour"] == 720
    assert set(parameters["include_operations"].split(",")) >= {"create", "login", "pull"}
    log = (await admin.get(f"/system/purgeaudit/{run['id']}/log")).text
    assert "removed 1 events" in log
