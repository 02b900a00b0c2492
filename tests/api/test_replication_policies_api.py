"""Replication policies through Harbor's /api/v2.0/replication/policies, in process: CRUD in
push and pull mode with both sides rendered as Harbor renders them, the schedule row of a
scheduled trigger, deletion refused while an execution runs, rights, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from models import AuditEvent, ReplicationExecution, ReplicationTask, Schedule
from tests.factories import API, AppApi, app_as, app_system_robot, app_user, created, error_of
from tests.support import InProcessBerth

SECRET = "s3cret-Pa55"
POLICIES = "/replication/policies"


async def new_registry(api: AppApi, name: str = "dc2") -> int:
    body = {
        "name": name,
        "url": "https://registry.dc2.example.com",
        "type": "harbor",
        "credential": {"type": "basic", "access_key": "replicator", "access_secret": SECRET},
    }
    return await created(await api.post("/registries", json=body))


def push_policy(registry_id: int, name: str = "to-dc2", **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": "nightly copy",
        "src_registry": None,
        "dest_registry": {"id": registry_id},
        "dest_namespace": "mirror",
        "dest_namespace_replace_count": 1,
        "filters": [
            {"type": "name", "value": "library/**"},
            {"type": "tag", "value": "v*", "decoration": "matches"},
        ],
        "trigger": {"type": "manual", "trigger_settings": {"cron": ""}},
        "override": True,
        "replicate_deletion": False,
        "enabled": True,
        "speed": 1024,
        "copy_by_chunk": True,
        "single_active_replication": False,
        **fields,
    }


def scheduled(cron: str) -> dict[str, Any]:
    return {"type": "scheduled", "trigger_settings": {"cron": cron}}


async def test_a_push_policy_is_created_read_listed_changed_and_deleted(
    in_process: InProcessBerth,
) -> None:
    admin = AppApi(in_process)
    registry_id = await new_registry(admin)
    # When the admin creates a push policy
    answer = await admin.post(POLICIES, json=push_policy(registry_id))
    policy_id = await created(answer)
    assert answer.headers["Location"] == f"{API}{POLICIES}/{policy_id}"
    read = await admin.get(f"{POLICIES}/{policy_id}")
    # Then it reads back as Harbor's ReplicationPolicy
    assert read.status_code == 200
    policy = read.json()
    sent = push_policy(registry_id)
    for key in ("name", "description", "dest_namespace", "dest_namespace_replace_count"):
        assert policy[key] == sent[key], key
    assert policy["filters"] == [
        {"type": "name", "value": "library/**"},
        {"type": "tag", "value": "v*", "decoration": "matches"},
    ]
    assert policy["trigger"] == {"type": "manual", "trigger_settings": {"cron": ""}}
    assert (policy["speed"], policy["copy_by_chunk"], policy["override"]) == (1024, True, True)
    assert policy["replicate_deletion"] is False and policy["deletion"] is False
    assert policy["creation_time"].endswith("Z") and policy["update_time"].endswith("Z")
    # with the remote side a full Registry without its secret, this Berth as Harbor's local one
    assert policy["dest_registry"]["id"] == registry_id
    assert policy["dest_registry"]["name"] == "dc2"
    assert policy["dest_registry"]["credential"]["access_secret"] == "*****"
    local = policy["src_registry"]
    assert (local["id"], local["name"], local["type"], local["status"]) == (
        0,
        "Local",
        "harbor",
        "healthy",
    )
    assert local["url"].startswith("http")
    assert SECRET not in read.text
    # When it is changed: only what the body names changes
    changed = await admin.put(f"{POLICIES}/{policy_id}", json={"enabled": False, "deletion": True})
    assert changed.status_code == 200, changed.text
    after = (await admin.get(f"{POLICIES}/{policy_id}")).json()
    assert (after["enabled"], after["replicate_deletion"], after["speed"]) == (False, True, 1024)
    # When it is listed, then deleted
    listed = await admin.get(POLICIES)
    assert listed.headers["X-Total-Count"] == "1" and listed.json()[0]["id"] == policy_id
    assert (await admin.delete(f"{POLICIES}/{policy_id}")).status_code == 200
    assert (await admin.get(f"{POLICIES}/{policy_id}")).status_code == 404
    # and each change has its audit event
    operations = await AuditEvent.filter(resource_type="replication_policy").values_list(
        "operation", "resource", "success"
    )
    assert sorted(operations) == [
        ("create", "to-dc2", True),
        ("delete", "to-dc2", True),
        ("update", "to-dc2", True),
    ]


async def test_a_pull_policy_has_this_berth_as_its_destination(
    in_process: InProcessBerth,
) -> None:
    admin = AppApi(in_process)
    registry_id = await new_registry(admin)
    body = {"name": "from-dc2", "src_registry": {"id": registry_id}, "dest_registry": {"id": 0}}
    policy_id = await created(await admin.post(POLICIES, json=body))
    policy = (await admin.get(f"{POLICIES}/{policy_id}")).json()
    assert policy["src_registry"]["id"] == registry_id
    assert (policy["dest_registry"]["id"], policy["dest_registry"]["name"]) == (0, "Local")
    # Harbor's defaults for what the body left out
    assert (policy["override"], policy["enabled"], policy["speed"]) == (True, True, 0)
    assert policy["dest_namespace_replace_count"] == -1 and policy["filters"] == []


async def test_a_scheduled_policy_keeps_a_schedule_row(in_process: InProcessBerth) -> None:
    admin = AppApi(in_process)
    registry_id = await new_registry(admin)
    body = push_policy(registry_id, trigger=scheduled("0 30 2 * * *"))
    policy_id = await created(await admin.post(POLICIES, json=body))
    name = f"replication-{policy_id}"
    # Then a schedule row fires a replication-schedule job with the policy's id
    row = await Schedule.get(name=name)
    assert (row.cron, row.kind, row.args, row.enabled) == (
        "30 2 * * * 0",
        "replication-schedule",
        {"policy_id": policy_id},
        True,
    )
    read = (await admin.get(f"{POLICIES}/{policy_id}")).json()
    assert read["trigger"] == scheduled("0 30 2 * * *")
    # When the cron changes and the policy is disabled, the row follows
    await admin.put(f"{POLICIES}/{policy_id}", json={"trigger": scheduled("0 0 4 * * 1")})
    await admin.put(f"{POLICIES}/{policy_id}", json={"enabled": False})
    row = await Schedule.get(name=name)
    assert (row.cron, row.enabled) == ("0 4 * * 1 0", False)
    # When the trigger becomes manual, the row goes; scheduled again, it is back
    await admin.put(f"{POLICIES}/{policy_id}", json={"trigger": {"type": "manual"}})
    assert not await Schedule.filter(name=name).exists()
    await admin.put(f"{POLICIES}/{policy_id}", json={"trigger": scheduled("0 0 1 * * *")})
    assert await Schedule.filter(name=name).exists()
    # When the policy is deleted, so is its schedule
    assert (await admin.delete(f"{POLICIES}/{policy_id}")).status_code == 200
    assert not await Schedule.filter(name=name).exists()


async def test_a_policy_with_a_running_execution_is_not_deleted(
    in_process: InProcessBerth,
) -> None:
    admin = AppApi(in_process)
    policy_id = await created(
        await admin.post(POLICIES, json=push_policy(await new_registry(admin)))
    )
    running = await ReplicationExecution.create(policy_id=policy_id, heartbeat_at=datetime.now(UTC))
    await ReplicationTask.create(
        execution_id=running.id, src_resource="library/a:v1", dst_resource="mirror/a:v1"
    )
    # While an execution is in progress, DELETE is Harbor's 412
    refused = await admin.delete(f"{POLICIES}/{policy_id}")
    assert (refused.status_code, error_of(refused)) == (412, "PRECONDITION")
    assert (await admin.get(f"{POLICIES}/{policy_id}")).status_code == 200
    # Once it ended, the policy goes with its executions and their tasks
    await ReplicationExecution.filter(id=running.id).update(status="Succeed")
    assert (await admin.delete(f"{POLICIES}/{policy_id}")).status_code == 200
    assert not await ReplicationExecution.filter(policy_id=policy_id).exists()
    assert not await ReplicationTask.filter(execution_id=running.id).exists()
    failed = await AuditEvent.get(resource_type="replication_policy", success=False)
    assert failed.operation == "delete" and "in progress" in failed.description


async def test_the_list_filters_sorts_and_pages(in_process: InProcessBerth) -> None:
    admin = AppApi(in_process)
    registry_id = await new_registry(admin)
    for name in ("nightly-a", "nightly-b", "hourly"):
        await created(await admin.post(POLICIES, json=push_policy(registry_id, name)))
    fuzzy = await admin.get(POLICIES, params={"q": "name=~nightly", "sort": "-name"})
    by_registry = await admin.get(POLICIES, params={"q": f"dest_registry_id={registry_id}"})
    legacy = await admin.get(POLICIES, params={"name": "hour"})
    page = await admin.get(POLICIES, params={"page": 1, "page_size": 2, "sort": "name"})
    assert [p["name"] for p in fuzzy.json()] == ["nightly-b", "nightly-a"]
    assert by_registry.headers["X-Total-Count"] == "3"
    assert [p["name"] for p in legacy.json()] == ["hourly"]
    assert [p["name"] for p in page.json()] == ["hourly", "nightly-a"]
    assert 'rel="next"' in page.headers["Link"]
    for params in (
        {"q": "secret=x"},
        {"sort": "speed"},
        {"q": "enabled=perhaps"},
        {"q": "dest_registry_id=99999999999999"},
    ):
        bad = await admin.get(POLICIES, params=params)
        assert (bad.status_code, error_of(bad)) == (400, "BAD_REQUEST"), params


async def test_policies_need_the_system_rights(in_process: InProcessBerth) -> None:
    admin = AppApi(in_process)
    registry_id = await new_registry(admin)
    policy_id = await created(await admin.post(POLICIES, json=push_policy(registry_id)))
    _, name = await app_user(in_process, "rep")
    for api, status in ((app_as(in_process, name), 403), (app_as(in_process, None), 401)):
        for answer in (
            await api.get(POLICIES),
            await api.get(f"{POLICIES}/{policy_id}"),
            await api.post(POLICIES, json=push_policy(registry_id, "x")),
            await api.put(f"{POLICIES}/{policy_id}", json={"enabled": False}),
            await api.delete(f"{POLICIES}/{policy_id}"),
        ):
            assert answer.status_code == status, answer.text
    # A system robot with replication-policy:* manages policies
    robot, secret = await app_system_robot(in_process, "replication-policy:*")
    bot = AppApi(in_process, (robot, secret))
    made = await created(await bot.post(POLICIES, json=push_policy(registry_id, "by-robot")))
    assert (await bot.put(f"{POLICIES}/{made}", json={"speed": 10})).status_code == 200
    assert (await bot.get(f"{POLICIES}/{made}")).json()["speed"] == 10
    assert (await bot.delete(f"{POLICIES}/{made}")).status_code == 200
    # One holding only the list right lists and may not create
    robot, secret = await app_system_robot(in_process, "replication-policy:list")
    lister = AppApi(in_process, (robot, secret))
    assert (await lister.get(POLICIES)).status_code == 200
    refused = await lister.post(POLICIES, json=push_policy(registry_id, "y"))
    assert (refused.status_code, error_of(refused)) == (403, "DENIED")


BAD_BODIES = [  # (what is wrong, fields changed, status, Harbor's code)
    ("nul-in-name", {"name": "a\x00b"}, 400, "BAD_REQUEST"),
    ("long-name", {"name": "x" * 1000}, 400, "BAD_REQUEST"),
    ("nul-in-filter", {"filters": [{"type": "name", "value": "a\x00"}]}, 400, "BAD_REQUEST"),
    ("neither-side", {"dest_registry": None}, 400, "BAD_REQUEST"),
    ("both-sides", {"src_registry": {"id": 1}}, 400, "BAD_REQUEST"),
    ("unknown-registry", {"dest_registry": {"id": 4242}}, 404, "NOT_FOUND"),
    ("bad-cron", {"trigger": scheduled("every night")}, 400, "BAD_REQUEST"),
    ("never-fires", {"trigger": scheduled("0 0 0 31 2 *")}, 400, "BAD_REQUEST"),
    ("every-minute", {"trigger": scheduled("0 * * * * *")}, 400, "BAD_REQUEST"),
    (
        "namespace-too-deep",
        {"filters": [{"type": "name", "value": "library/app"}], "dest_namespace_replace_count": 2},
        400,
        "BAD_REQUEST",
    ),
    ("bad-pattern", {"filters": [{"type": "tag", "value": "[v"}]}, 400, "BAD_REQUEST"),
    ("bad-namespace", {"dest_namespace": "../etc"}, 400, "BAD_REQUEST"),
    ("not-json-types", {"override": "sometimes"}, 400, "BAD_REQUEST"),
]


async def test_bad_policy_bodies_answer_harbors_errors(in_process: InProcessBerth) -> None:
    admin = AppApi(in_process)
    registry_id = await new_registry(admin)
    policy_id = await created(await admin.post(POLICIES, json=push_policy(registry_id)))
    for case, fields, status, code in BAD_BODIES:
        body = push_policy(registry_id, "other") | fields
        posted = await admin.post(POLICIES, json=body)
        put = await admin.put(f"{POLICIES}/{policy_id}", json=body)
        for answer in (posted, put):
            assert (answer.status_code, error_of(answer)) == (status, code), (case, answer.text)
    taken = await admin.post(POLICIES, json=push_policy(registry_id))
    assert (taken.status_code, error_of(taken)) == (409, "CONFLICT")
    not_json = await admin.post(POLICIES, data=b"{", headers={"Content-Type": "application/json"})
    assert (not_json.status_code, error_of(not_json)) == (400, "BAD_REQUEST")
    for answer in (
        await admin.get(f"{POLICIES}/999"),
        await admin.put(f"{POLICIES}/999", json={"enabled": True}),
        await admin.delete(f"{POLICIES}/999"),
        await admin.get(f"{POLICIES}/99999999999"),
    ):
        assert (answer.status_code, error_of(answer)) == (404, "NOT_FOUND"), answer.text
    # Nothing of the refused bodies was stored
    assert (await admin.get(POLICIES)).headers["X-Total-Count"] == "1"
    assert (await admin.get(f"{POLICIES}/{policy_id}")).json()["name"] == "to-dc2"


@pytest.mark.parametrize("mode", ["push", "pull"])
async def test_a_literal_name_too_deep_for_the_destination_is_refused(
    in_process: InProcessBerth, mode: str
) -> None:
    admin = AppApi(in_process)
    registry_id = await new_registry(admin)
    side = (
        {"dest_registry": {"id": registry_id}}
        if mode == "push"
        else {
            "src_registry": {"id": registry_id},
            "dest_registry": None,
        }
    )
    body = {
        "name": f"{mode}-deep",
        **side,
        "filters": [{"type": "name", "value": "{library,team}/app"}],
        "dest_namespace": "mirror",
        "dest_namespace_replace_count": 3,
    }
    refused = await admin.post(POLICIES, json=body)
    assert (refused.status_code, error_of(refused)) == (400, "BAD_REQUEST")
    assert "dest_namespace_replace_count" in refused.json()["errors"][0]["message"]
    # A glob is checked per repository when the policy runs, so it is accepted
    body["filters"] = [{"type": "name", "value": "library/**"}]
    assert (await admin.post(POLICIES, json=body)).status_code == 201
