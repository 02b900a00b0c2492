"""Tag retention runs, in process with jobs held (the test carries out each run itself with
pipelines.retention.execute, so nothing races it): a run over a table of tags whose push and
pull times are set in the database keeps exactly what the rules say; a dry run deletes
nothing but logs what it would; deletions are audited like an API delete; stop; and a
scheduled policy's fire makes a run.

Times are set directly: a push time is the manifest's created_at and its tags' updated_at
(Harbor's artifact and tag push times, the later counts), a pull time is manifest_pull's
pulled_at (what the pull log's flush writes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from core import retention
from core.schedules import fire_due
from models import AuditEvent, Job, Manifest, ManifestPull, RetentionExecution, Tag
from pipelines.retention import execute, start_scheduled
from tests.factories import (
    AppApi,
    app_image,
    app_project,
    created,
    repository_url,
    retention_policy_body,
)
from tests.support import InProcessBerth
from web.api.schemas.retention import RetentionExecution as ExecutionShape
from web.api.schemas.retention import RetentionExecutionTask

NOW = datetime.now(UTC)


async def image(berth: InProcessBerth, repo: str, tag: str, pushed: int, pulled: int | None) -> str:
    """Push repo:tag, then make it pushed `pushed` days ago and pulled `pulled` days ago."""
    digest = await app_image(berth, repo, tag)
    when = NOW - timedelta(days=pushed)
    manifest = await Manifest.get(repository__name=repo, digest=digest)
    await Manifest.filter(id=manifest.id).update(created_at=when)
    await Tag.filter(manifest_id=manifest.id).update(updated_at=when)
    if pulled is not None:
        await ManifestPull.create(manifest_id=manifest.id, pulled_at=NOW - timedelta(days=pulled))
    return digest


async def tags_left(api: AppApi, repo: str) -> list[str]:
    answer = await api.get(f"{repository_url(repo)}/artifacts", params={"page_size": "100"})
    assert answer.status_code == 200, answer.text
    return sorted(t["name"] for a in answer.json() for t in a.get("tags") or [])


def two_rules(project_id: int) -> dict[str, Any]:
    """Keep the 2 most recently pushed v* of app, and whatever was pulled within 7 days."""
    body = retention_policy_body(project_id)
    keep_pushed = body["rules"][0]
    keep_pushed["params"] = {"latestPushedK": 2}
    keep_pushed["tag_selectors"][0].update(pattern="v*", extras='{"untagged":false}')
    keep_pushed["scope_selectors"]["repository"][0]["pattern"] = "app"
    pulled = {
        **keep_pushed,
        "template": "nDaysSinceLastPull",
        "params": {"nDaysSinceLastPull": 7},
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}],
        "scope_selectors": {
            "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]
        },
    }
    body["rules"] = [keep_pushed, pulled]
    return body


async def seeded(berth: InProcessBerth) -> tuple[int, str, int]:
    """A project with app (v1..v4 pushed 4..1 days ago, dev-1 pushed 30 days ago but pulled
    yesterday, old pushed 20 days ago) and tools (a pulled 3 days ago, b pulled 9 days ago,
    c never); its two-rule policy. (project id, name, policy id)."""
    project_id, project = await app_project(berth)
    for n in range(1, 5):
        await image(berth, f"{project}/app", f"v{n}", pushed=5 - n, pulled=None)
    await image(berth, f"{project}/app", "dev-1", pushed=30, pulled=1)
    await image(berth, f"{project}/app", "old", pushed=20, pulled=None)
    await image(berth, f"{project}/tools", "a", pushed=50, pulled=3)
    await image(berth, f"{project}/tools", "b", pushed=50, pulled=9)
    await image(berth, f"{project}/tools", "c", pushed=50, pulled=None)
    answer = await AppApi(berth).post("/retentions", json=two_rules(project_id))
    return project_id, project, await created(answer)


async def run(api: AppApi, policy_id: int, dry_run: bool) -> dict[str, Any]:
    """Trigger and carry out a run; the run as the executions list shows it."""
    answer = await api.post(f"/retentions/{policy_id}/executions", json={"dry_run": dry_run})
    execution_id = await created(answer)
    await execute(execution_id)
    listed = (await api.get(f"/retentions/{policy_id}/executions")).json()
    for one in listed:
        ExecutionShape.model_validate(one)
    return next(e for e in listed if e["id"] == execution_id)


async def test_a_run_keeps_exactly_what_the_rules_say_and_audits_each_deletion(
    held_jobs: InProcessBerth,
) -> None:
    admin = AppApi(held_jobs)
    project_id, project, policy_id = await seeded(held_jobs)
    # When the policy runs for real
    execution = await run(admin, policy_id, dry_run=False)
    # Then the run succeeded, manually triggered, not a dry run
    assert execution["status"] == "Success"
    assert (execution["trigger"], execution["dry_run"]) == ("MANUAL", False)
    assert execution["end_time"]
    # And app keeps v3, v4 (latest 2 pushed v*) and dev-1 (pulled yesterday); tools keeps a
    assert await tags_left(admin, f"{project}/app") == ["dev-1", "v3", "v4"]
    assert await tags_left(admin, f"{project}/tools") == ["a"]
    # One task per repository, with Harbor's counts
    tasks = (await admin.get(f"/retentions/{policy_id}/executions/{execution['id']}/tasks")).json()
    for one in tasks:
        RetentionExecutionTask.model_validate(one)
    by_repo = {t["repository"]: t for t in tasks}
    assert set(by_repo) == {f"{project}/app", f"{project}/tools"}
    assert (by_repo[f"{project}/app"]["total"], by_repo[f"{project}/app"]["retained"]) == (6, 3)
    assert (by_repo[f"{project}/tools"]["total"], by_repo[f"{project}/tools"]["retained"]) == (3, 1)
    assert {t["status"] for t in tasks} == {"Success"}
    assert {t["status_code"] for t in tasks} == {3}
    # Each deletion is an artifact delete in the audit log, as an API delete is
    deletes = await AuditEvent.filter(
        project_id=project_id, resource_type="artifact", operation="delete"
    )
    assert len(deletes) == 5
    assert all(d.success and f"execution {execution['id']}" in d.description for d in deletes)
    # The task log shows each verdict
    log = await admin.get(
        f"/retentions/{policy_id}/executions/{execution['id']}/tasks/{by_repo[f'{project}/tools']['id']}"
    )
    assert log.status_code == 200
    assert log.headers["Content-Type"].startswith("text/plain")
    assert log.text.count("RETAIN ") == 1 and log.text.count("DELETE ") == 2
    assert log.text.count("deleted sha256:") == 2


async def test_a_dry_run_deletes_nothing_but_logs_what_it_would(
    held_jobs: InProcessBerth,
) -> None:
    admin = AppApi(held_jobs)
    _, project, policy_id = await seeded(held_jobs)
    execution = await run(admin, policy_id, dry_run=True)
    assert (execution["status"], execution["dry_run"]) == ("Success", True)
    assert await tags_left(admin, f"{project}/app") == ["dev-1", "old", "v1", "v2", "v3", "v4"]
    assert await tags_left(admin, f"{project}/tools") == ["a", "b", "c"]
    tasks = (await admin.get(f"/retentions/{policy_id}/executions/{execution['id']}/tasks")).json()
    app = next(t for t in tasks if t["repository"] == f"{project}/app")
    assert (app["total"], app["retained"]) == (6, 3)
    log = (
        await admin.get(f"/retentions/{policy_id}/executions/{execution['id']}/tasks/{app['id']}")
    ).text
    assert log.count("DELETE ") == 3
    assert "deleted " not in log


async def test_untagged_artifacts_go_unless_a_rule_takes_them(held_jobs: InProcessBerth) -> None:
    admin = AppApi(held_jobs)
    project_id, project = await app_project(held_jobs)
    await image(held_jobs, f"{project}/app", "keep", pushed=1, pulled=None)
    gone = await image(held_jobs, f"{project}/app", "untag-me", pushed=2, pulled=None)
    await Tag.filter(name="untag-me", repository__name=f"{project}/app").delete()
    body = retention_policy_body(project_id, template="always", params={})
    body["rules"][0]["tag_selectors"][0]["extras"] = '{"untagged":false}'
    policy_id = await created(await admin.post("/retentions", json=body))
    assert (await run(admin, policy_id, dry_run=False))["status"] == "Success"
    assert await tags_left(admin, f"{project}/app") == ["keep"]
    assert not await Manifest.exists(repository__name=f"{project}/app", digest=gone)


async def test_a_stopped_run_deletes_nothing(held_jobs: InProcessBerth) -> None:
    admin = AppApi(held_jobs)
    _, project, policy_id = await seeded(held_jobs)
    answer = await admin.post(f"/retentions/{policy_id}/executions", json={"dry_run": False})
    execution_id = await created(answer)
    stop = await admin.request(
        "PATCH", f"/retentions/{policy_id}/executions/{execution_id}", json={"action": "stop"}
    )
    assert stop.status_code == 200
    await execute(execution_id)  # the job, delivered after the stop
    listed = (await admin.get(f"/retentions/{policy_id}/executions")).json()
    assert listed[0]["status"] == "Stopped"
    assert len(await tags_left(admin, f"{project}/app")) == 6
    # a policy whose run ended may be deleted; one in progress may not
    running = await created(
        await admin.post(f"/retentions/{policy_id}/executions", json={"dry_run": True})
    )
    refused = await admin.delete(f"/retentions/{policy_id}")
    assert refused.status_code == 412
    await execute(running)
    assert (await admin.delete(f"/retentions/{policy_id}")).status_code == 200


async def test_a_scheduled_policy_is_run_by_the_scheduler(held_jobs: InProcessBerth) -> None:
    admin = AppApi(held_jobs)
    project_id, project, _ = await seeded(held_jobs)
    policy = await retention.get(
        int((await admin.get(f"/projects/{project}")).json()["metadata"]["retention_id"])
    )
    body = two_rules(project_id)
    body["trigger"]["settings"]["cron"] = "0 0 * * * *"  # hourly
    assert (await admin.put(f"/retentions/{policy.id}", json=body)).status_code == 200
    # When the scheduler's clock passes the next hour
    fired = await fire_due(NOW + timedelta(hours=2))
    assert f"retention-{policy.id}" in fired
    job = await Job.filter(kind="retention-schedule").order_by("-id").first()
    assert job is not None and job.args == {"policy_id": policy.id}
    # Then its job makes a run triggered by the schedule, which a worker carries out
    made = await start_scheduled(int(str(job.args["policy_id"])))
    assert made is not None and made.trigger == "SCHEDULE"
    assert await Job.exists(kind="retention-run", args={"execution": made.id})
    await execute(int(made.id))
    assert await tags_left(admin, f"{project}/tools") == ["a"]


async def test_a_running_run_stops_before_its_next_artifact(held_jobs: InProcessBerth) -> None:
    admin = AppApi(held_jobs)
    _, project, policy_id = await seeded(held_jobs)
    answer = await admin.post(f"/retentions/{policy_id}/executions", json={"dry_run": False})
    execution_id = await created(answer)
    # a worker has it (Running) when the stop comes
    await RetentionExecution.filter(id=execution_id).update(status="Running")
    path = f"/retentions/{policy_id}/executions/{execution_id}"
    assert (await admin.request("PATCH", path, json={"action": "stop"})).status_code == 200
    await execute(execution_id)
    listed = (await admin.get(f"/retentions/{policy_id}/executions")).json()
    assert listed[0]["status"] == "Stopped"
    tasks = (await admin.get(f"{path}/tasks")).json()
    assert {t["status"] for t in tasks} <= {"Stopped"}
    assert len(await tags_left(admin, f"{project}/app")) == 6


async def test_a_change_naming_another_project_is_404(held_jobs: InProcessBerth) -> None:
    admin = AppApi(held_jobs)
    project_id, _ = await app_project(held_jobs)
    other_id, _ = await app_project(held_jobs)
    policy_id = await created(
        await admin.post("/retentions", json=retention_policy_body(project_id))
    )
    moved = await admin.put(f"/retentions/{policy_id}", json=retention_policy_body(other_id))
    assert moved.status_code == 404
    read = (await admin.get(f"/retentions/{policy_id}")).json()
    assert read["scope"]["ref"] == project_id


async def test_an_immutable_tag_is_never_deleted(held_jobs: InProcessBerth) -> None:
    admin = AppApi(held_jobs)
    project_id, project = await app_project(held_jobs)
    for n in range(1, 4):
        await image(held_jobs, f"{project}/app", f"v{n}", pushed=10 - n, pulled=None)
    await image(held_jobs, f"{project}/app", "rc-1", pushed=20, pulled=None)
    rule = {
        "action": "immutable",
        "template": "immutable_template",
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v1"}],
        "scope_selectors": {
            "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]
        },
    }
    made = await admin.post(f"/projects/{project}/immutabletagrules", json=rule)
    assert made.status_code == 201, made.text
    body = retention_policy_body(project_id)
    body["rules"][0]["params"] = {"latestPushedK": 1}
    policy_id = await created(await admin.post("/retentions", json=body))
    # When a run keeps only the latest push
    execution = await run(admin, policy_id, dry_run=False)
    # Then v3 stays by the rule, v1 because it is immutable; v2 and rc-1 go
    assert execution["status"] == "Success"
    assert await tags_left(admin, f"{project}/app") == ["v1", "v3"]
    tasks = (await admin.get(f"/retentions/{policy_id}/executions/{execution['id']}/tasks")).json()
    assert (tasks[0]["total"], tasks[0]["retained"]) == (4, 2)
    log = await admin.get(
        f"/retentions/{policy_id}/executions/{execution['id']}/tasks/{tasks[0]['id']}"
    )
    assert "IMMUTABLE" in log.text
