"""Replication executions through Harbor's /api/v2.0/replication/executions (in-process, on
SQLite and PostgreSQL): rights, start, list and filters, tasks and their log, stop, the CI
trigger's secret, the REPLICATION webhook event and the /metrics counters.

The copy engine is not here: tasks are written and finished through core.replication_runs,
as the `replication` pipeline does."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from core import replication_runs, webhooks
from core.events import transaction
from core.replication_events import emit_replication_finished, replicated_artifacts
from models import (
    AuditEvent,
    Job,
    ReplicationExecution,
    ReplicationPolicy,
    ReplicationTask,
    WebhookExecution,
)
from tests.factories import (
    AppApi,
    app_as,
    app_project,
    app_system_robot,
    app_user,
    created,
    error_of,
    replication_policy,
)
from tests.support import InProcessBerth

EXECUTIONS = "/replication/executions"
HARBOR_EXECUTION = {
    "id", "policy_id", "status", "status_text", "trigger", "start_time", "end_time", "total",
    "failed", "succeed", "in_progress", "stopped",
}  # fmt: skip
HARBOR_TASK = {
    "id", "execution_id", "resource_type", "src_resource", "dst_resource", "operation",
    "job_id", "status", "start_time", "end_time",
}  # fmt: skip


async def start(api: AppApi, policy_id: int) -> int:
    return await created(await api.post(EXECUTIONS, json={"policy_id": policy_id}))


async def add_task(execution_id: int, name: str, status: str = "Pending", **fields: Any) -> int:
    """A task row as the engine plans one; its id."""
    task = await ReplicationTask.create(
        execution_id=execution_id,
        src_resource=name,
        dst_resource=name,
        status=status,
        start_time=datetime.now(UTC) if status != "Pending" else None,
        **fields,
    )
    await replication_runs.refresh_counts(execution_id)
    return int(task.id)


async def events_of(resource_type: str) -> list[AuditEvent]:
    return list(await AuditEvent.filter(resource_type=resource_type).order_by("id"))


# --- rights ------------------------------------------------------------------------------


CALLS = [
    ("POST", EXECUTIONS, {"policy_id": 1}),
    ("GET", EXECUTIONS, None),
    ("GET", f"{EXECUTIONS}/1", None),
    ("PUT", f"{EXECUTIONS}/1", None),
    ("GET", f"{EXECUTIONS}/1/tasks", None),
    ("GET", f"{EXECUTIONS}/1/tasks/1/log", None),
    ("POST", "/replication/policies/1/trigger_secret", None),
]


async def test_nobody_must_sign_in_and_a_user_is_refused(held_jobs: InProcessBerth) -> None:
    _, user = await app_user(held_jobs)
    nobody, someone = app_as(held_jobs, None), app_as(held_jobs, user)
    for method, path, body in CALLS:
        anonymous = await nobody.request(method, path, json=body)
        refused = await someone.request(method, path, json=body)
        assert (anonymous.status_code, error_of(anonymous)) == (401, "UNAUTHORIZED"), path
        assert (refused.status_code, error_of(refused)) == (403, "DENIED"), path
        assert "replication" in refused.json()["errors"][0]["message"]
    assert not await ReplicationExecution.all().count()


async def test_a_system_robot_holding_replication_create_starts_and_stops(
    held_jobs: InProcessBerth,
) -> None:
    # Given a policy, a robot that may start executions and one that may only read them
    policy = await replication_policy()
    starter = app_as(held_jobs, *await app_system_robot(held_jobs, "replication:create"))
    reader = app_as(
        held_jobs, *await app_system_robot(held_jobs, "replication:list", "replication:read")
    )
    # When the first starts one (Harbor's StartReplicationExecution) and the second tries to
    answer = await starter.post(EXECUTIONS, json={"policy_id": policy.id})
    refused = await reader.post(EXECUTIONS, json={"policy_id": policy.id})
    execution_id = await created(answer)
    # Then the first gets 201 and the Location of the execution, which the reader can read
    assert answer.headers["Location"] == f"/api/v2.0{EXECUTIONS}/{execution_id}"
    assert refused.status_code == 403
    row = (await reader.get(f"{EXECUTIONS}/{execution_id}")).json()
    assert row["status"] == "InProgress" and row["trigger"] == "manual"
    assert row["operator"].startswith("robot$")
    assert (await reader.get(EXECUTIONS)).status_code == 200
    # And stopping needs replication:create too (as Harbor's StopReplication)
    assert (await reader.put(f"{EXECUTIONS}/{execution_id}")).status_code == 403
    assert (await starter.put(f"{EXECUTIONS}/{execution_id}")).status_code == 200


# --- executions --------------------------------------------------------------------------


async def test_an_execution_is_started_listed_and_filtered_in_harbors_shape(
    held_jobs: InProcessBerth,
) -> None:
    admin = AppApi(held_jobs)
    first, second = await replication_policy(), await replication_policy()
    names = {first.id: first.name, second.id: second.name}
    # When the admin starts the first policy twice and the second once
    one = await start(admin, first.id)
    two = await start(admin, first.id)
    three = await start(admin, second.id)
    # Then each is written with its replication job
    execution = await ReplicationExecution.get(id=one)
    job = await Job.get(id=execution.job_id)
    assert (job.kind, job.args) == ("replication", {"execution_id": one})
    # And the list is Harbor's ReplicationExecution, newest first, with Berth's bytes
    listed = await admin.get(EXECUTIONS, params={"page_size": 2})
    rows = listed.json()
    assert listed.headers["X-Total-Count"] == "3" and 'rel="next"' in listed.headers["Link"]
    assert [r["id"] for r in rows] == [three, two]
    assert set(rows[0]) >= HARBOR_EXECUTION and rows[0]["bytes"] == 0
    assert rows[0]["start_time"].endswith("Z") and rows[0]["end_time"] is None
    # filtered by policy, status and trigger
    mine = await admin.get(EXECUTIONS, params={"policy_id": first.id})
    assert [r["id"] for r in mine.json()] == [two, one]
    await replication_runs.finish(two)
    done = await admin.get(EXECUTIONS, params={"status": "Succeed"})
    assert [r["id"] for r in done.json()] == [two] and done.json()[0]["end_time"]
    webhook = await admin.get(EXECUTIONS, params={"trigger": "webhook"})
    assert webhook.json() == [] and webhook.headers["X-Total-Count"] == "0"
    by_start = await admin.get(EXECUTIONS, params={"sort": "start_time"})
    assert [r["id"] for r in by_start.json()] == [one, two, three]
    # And the start is audited, naming the execution and its policy
    started = await events_of("replication")
    assert [(e.operation, e.resource, e.username, e.success) for e in started] == [
        ("create", f"replication execution {i} of {names[p]}", "admin", True)
        for i, p in ((one, first.id), (two, first.id), (three, second.id))
    ]
    assert started[0].description == "trigger: manual"


BAD_STARTS = [
    ({}, 400),  # no policy
    ({"policy_id": "1"}, 400),
    ({"policy_id": True}, 400),
    ({"policy_id": 1.5}, 400),
    ({"policy_id": 2**63}, 400),
    ({"policy_id": -1}, 400),
    ({"policy_id": 999_999}, 404),
    ([1], 400),
    ({"policy_id": 1, "x": "a\x00b"}, 400),
]


async def test_a_bad_start_is_refused_and_audited(held_jobs: InProcessBerth) -> None:
    for body, status in BAD_STARTS:
        answer = await AppApi(held_jobs).post(EXECUTIONS, json=body)
        assert answer.status_code == status, (body, answer.text)
    assert not await ReplicationExecution.all().count()
    refused = await events_of("replication")
    assert [e.success for e in refused] == [False] * len(BAD_STARTS)


async def test_bad_json_filters_and_ids_are_4xx_not_500(held_jobs: InProcessBerth) -> None:
    admin = AppApi(held_jobs)
    bad_json = await admin.post(
        EXECUTIONS, data=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400
    for params in (
        {"status": "Running"},
        {"trigger": "x" * 300},
        {"policy_id": "one"},
        {"policy_id": str(2**40)},
        {"sort": "operator"},
        {"page": "0"},
    ):
        assert (await admin.get(EXECUTIONS, params=params)).status_code == 400, params
    for path in (f"{EXECUTIONS}/{2**40}", f"{EXECUTIONS}/99999/tasks", f"{EXECUTIONS}/0"):
        assert (await admin.get(path)).status_code == 404, path
    assert (await admin.put(f"{EXECUTIONS}/99999")).status_code == 404
    assert (await admin.get(f"{EXECUTIONS}/1/tasks/{2**40}/log")).status_code == 404


async def test_a_manual_start_of_a_disabled_policy_runs_and_single_active_refuses_a_second(
    held_jobs: InProcessBerth,
) -> None:
    admin = AppApi(held_jobs)
    disabled = await replication_policy(enabled=False)
    single = await replication_policy(single_active_replication=True)
    # A manual start of a disabled policy is allowed (as Harbor)
    assert (await admin.post(EXECUTIONS, json={"policy_id": disabled.id})).status_code == 201
    # One execution at a time: the second is a conflict naming the running one
    first = await start(admin, single.id)
    again = await admin.post(EXECUTIONS, json={"policy_id": single.id})
    assert (again.status_code, error_of(again)) == (409, "CONFLICT")
    assert str(first) in again.json()["errors"][0]["message"]


# --- tasks, log, stop --------------------------------------------------------------------


async def test_tasks_are_listed_filtered_and_paged_with_their_log(
    held_jobs: InProcessBerth,
) -> None:
    admin = AppApi(held_jobs)
    execution_id = await start(admin, (await replication_policy()).id)
    other = await start(admin, (await replication_policy()).id)
    copied = await add_task(execution_id, "library/a:v1", "Succeed", bytes=100, log="copied\n")
    await add_task(execution_id, "library/b:v1", "Failed", log="401 from remote\n")
    await add_task(execution_id, "library/c:v1", resource_type="artifact")
    foreign = await add_task(other, "library/d:v1")
    # When the tasks are listed, all and by status, type and page
    listed = await admin.get(f"{EXECUTIONS}/{execution_id}/tasks")
    failed = await admin.get(f"{EXECUTIONS}/{execution_id}/tasks", params={"status": "Failed"})
    artifacts = await admin.get(
        f"{EXECUTIONS}/{execution_id}/tasks", params={"resource_type": "artifact"}
    )
    page = await admin.get(f"{EXECUTIONS}/{execution_id}/tasks", params={"page_size": 1})
    # Then each is Harbor's ReplicationTask (job_id a string), with bytes
    rows = listed.json()
    assert listed.headers["X-Total-Count"] == "3"
    assert set(rows[0]) >= HARBOR_TASK and rows[0]["id"] == copied
    assert rows[0]["src_resource"] == "library/a:v1" and rows[0]["bytes"] == 100
    assert rows[0]["operation"] == "copy" and isinstance(rows[0]["job_id"], str)
    assert [r["src_resource"] for r in failed.json()] == ["library/b:v1"]
    assert [r["src_resource"] for r in artifacts.json()] == ["library/c:v1"]
    assert len(page.json()) == 1 and page.headers["X-Total-Count"] == "3"
    bad = await admin.get(f"{EXECUTIONS}/{execution_id}/tasks", params={"resource_type": "x"})
    assert bad.status_code == 400
    # And the counts on the execution follow its tasks
    row = (await admin.get(f"{EXECUTIONS}/{execution_id}")).json()
    assert (row["total"], row["succeed"], row["failed"], row["in_progress"]) == (3, 1, 1, 1)
    assert row["bytes"] == 100
    # And a task's log is plain text; a task of another execution is not found there
    log = await admin.get(f"{EXECUTIONS}/{execution_id}/tasks/{copied}/log")
    assert log.status_code == 200 and log.text == "copied\n"
    assert log.headers["Content-Type"].startswith("text/plain")
    wrong = await admin.get(f"{EXECUTIONS}/{execution_id}/tasks/{foreign}/log")
    assert wrong.status_code == 404


async def test_a_stop_stops_the_tasks_not_begun_and_is_audited(
    held_jobs: InProcessBerth,
) -> None:
    admin = AppApi(held_jobs)
    policy = await replication_policy()
    execution_id = await start(admin, policy.id)
    await add_task(execution_id, "library/a:v1", "InProgress")
    waiting = await add_task(execution_id, "library/b:v1")
    # When the admin stops it, twice
    first = await admin.put(f"{EXECUTIONS}/{execution_id}")
    second = await admin.put(f"{EXECUTIONS}/{execution_id}")
    # Then the task not begun is Stopped; the one under way is left to stop itself
    assert (first.status_code, second.status_code) == (200, 200)
    assert (await ReplicationTask.get(id=waiting)).status == "Stopped"
    execution = await ReplicationExecution.get(id=execution_id)
    assert execution.stop_requested and execution.stopped == 1 and execution.in_progress == 1
    # And once the engine finishes it, it is Stopped, and a stop changes nothing
    await replication_runs.finish(execution_id)
    assert (await admin.put(f"{EXECUTIONS}/{execution_id}")).status_code == 200
    assert (await admin.get(f"{EXECUTIONS}/{execution_id}")).json()["status"] == "Stopped"
    stops = [e for e in await events_of("replication") if e.operation == "update"]
    assert [(e.resource, e.description) for e in stops][:1] == [
        (f"replication execution {execution_id} of {policy.name}", "stop requested")
    ]


# --- the CI trigger's secret ---------------------------------------------------------------


async def test_a_trigger_secret_is_shown_once_sealed_and_replaced(
    held_jobs: InProcessBerth,
) -> None:
    admin = AppApi(held_jobs)
    policy = await replication_policy()
    path = f"/replication/policies/{policy.id}/trigger_secret"
    # When the admin makes a secret, then replaces it
    first = await admin.post(path)
    stored_first = (await ReplicationPolicy.get(id=policy.id)).hook_secret
    second = await admin.post(path)
    stored = (await ReplicationPolicy.get(id=policy.id)).hook_secret
    # Then each answer shows the secret and the hook's path; the row holds it sealed
    assert first.status_code == 200 and second.status_code == 200
    assert first.json()["url"] == f"/hooks/replication/{policy.id}"
    secret = second.json()["secret"]
    assert len(secret) >= 32 and secret != first.json()["secret"]
    assert secret not in stored and stored != stored_first
    assert held_jobs.app.extensions["registry"].sealed().unseal(stored) == secret
    # And the audit log says so without the secret
    changed = await events_of("replication_policy")
    assert [e.description for e in changed] == ["trigger secret made", "trigger secret replaced"]
    assert all(first.json()["secret"] not in e.description for e in changed)
    # A robot needs replication-policy:update; an unknown policy is 404
    robot = app_as(held_jobs, *await app_system_robot(held_jobs, "replication:create"))
    assert (await robot.post(path)).status_code == 403
    assert (await admin.post("/replication/policies/99999/trigger_secret")).status_code == 404


# --- the REPLICATION webhook event and the counters -----------------------------------------


async def test_an_ended_execution_sends_harbors_replication_event_to_its_projects(
    held_jobs: InProcessBerth,
) -> None:
    admin = AppApi(held_jobs)
    # Given a project whose webhook policy wants REPLICATION, and one that wants pushes only
    _, wanting = await app_project(held_jobs)
    _, other = await app_project(held_jobs)
    target = [{"type": "http", "address": "http://127.0.0.1:9/hook"}]
    for project, events in ((wanting, ["REPLICATION"]), (other, ["PUSH_ARTIFACT"])):
        body = {"name": "w", "event_types": events, "targets": target, "enabled": True}
        made = await admin.post(f"/projects/{project}/webhook/policies", json=body)
        assert made.status_code == 201, made.text
    # And an execution that copied one artifact of each and failed one of the first
    policy = await replication_policy(description="to the DR site", override=False)
    execution_id = await start(admin, policy.id)
    await add_task(execution_id, f"{wanting}/app:v1", "Succeed", digest="sha256:" + "a" * 64)
    await add_task(execution_id, f"{wanting}/app:v2", "Failed", log="x\n429 from remote\n")
    await add_task(execution_id, f"{other}/app:v1", "Succeed")
    # When the engine finishes it and emits its end
    async with transaction() as tx:
        execution = await replication_runs.end(tx, execution_id)
        assert execution is not None
        artifacts = await replicated_artifacts(execution, policy, tx)
        sent = await emit_replication_finished(tx, execution, policy, artifacts, "berth.example")
    # Then one REPLICATION event goes to the project that wants it, in Harbor's shape
    assert sent == 1
    delivery = await WebhookExecution.get(event_type="REPLICATION")
    payload = delivery.payload
    replication = payload["event_data"]["replication"]
    assert payload["type"] == "REPLICATION" and payload["operator"] == "admin"
    assert replication["harbor_hostname"] == "berth.example"
    assert replication["job_status"] == "Error"  # Harbor's job status for Failed
    assert replication["override_mode"] is False and replication["trigger_type"] == "manual"
    assert replication["policy_creator"] == "admin"
    assert replication["src_resource"]["namespace"] == wanting
    assert replication["dest_resource"]["endpoint"] == "https://registry.example"
    assert [a["name_tag"] for a in replication["successful_artifact"]] == ["app:v1"]
    assert replication["successful_artifact"][0]["references"] == ["sha256:" + "a" * 64]
    assert replication["failed_artifact"][0]["fail_reason"] == "429 from remote"
    assert await Job.filter(kind="webhook").count() == 1
    # (as a CloudEvent: Harbor's type name, the project as the source)
    delivered = webhooks.Delivery(int(delivery.id), "REPLICATION", payload, [], "secret")
    cloud_event = json.loads(webhooks.render_body(delivered, "CloudEvents"))
    assert cloud_event["type"] == "harbor.replication.status.changed"
    assert cloud_event["source"] == f"/projects/{wanting}"
    # And the execution's end is audited as its operator, with its counts
    ended = [e for e in await events_of("replication") if e.operation == "update"]
    assert [(e.username, e.success) for e in ended] == [("admin", False)]
    assert "Failed (manual)" in ended[0].description and "1 failed" in ended[0].description
    # And the event type is offered to webhook policies
    offered = await admin.get(f"/projects/{wanting}/webhook/events")
    assert "REPLICATION" in offered.json()["event_type"]


async def test_metrics_count_executions_tasks_and_bytes(held_jobs: InProcessBerth) -> None:
    admin = AppApi(held_jobs)
    execution_id = await start(admin, (await replication_policy()).id)
    await add_task(execution_id, "library/a:v1", "Succeed", bytes=1500)
    await add_task(execution_id, "library/b:v1", "Succeed", bytes=500)
    await add_task(execution_id, "library/c:v1", "Failed")
    await replication_runs.finish(execution_id)
    await start(admin, (await replication_policy()).id)
    answer = await held_jobs.client.get("/metrics")
    text = (await answer.get_data()).decode()
    assert 'berth_replication_executions_total{status="Failed"} 1.0' in text
    assert 'berth_replication_executions_total{status="InProgress"} 1.0' in text
    assert 'berth_replication_tasks_total{status="Succeed"} 2.0' in text
    assert 'berth_replication_tasks_total{status="Failed"} 1.0' in text
    assert "berth_replication_bytes_total 2000.0" in text
