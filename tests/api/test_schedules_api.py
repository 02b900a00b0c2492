"""Harbor's /schedules (the cron triggers Berth runs) and /schedules/all/paused, in process
on both databases: what they list, paging, the scheduler's pause holding fires back, rights."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.schedules import fire_due
from models import Schedule
from tests.factories import AppApi, app_as, app_user
from tests.support import InProcessBerth, waited_for
from web.api.schemas.jobservice import ScheduleTask


async def schedules(api: AppApi, **params: object) -> list[dict[str, object]]:
    answer = await api.get("/schedules", params={"page_size": 100, **params})
    assert answer.status_code == 200, answer.text
    listed: list[dict[str, object]] = answer.json()
    assert all(ScheduleTask.model_validate(row) for row in listed)  # as openapi.json says
    return listed


async def test_the_gc_and_scrub_schedules_are_listed(in_process: InProcessBerth) -> None:
    admin = AppApi(in_process)
    body = {"schedule": {"type": "Custom", "cron": "0 30 4 * * *"}}
    assert (await admin.post("/system/gc/schedule", json=body)).status_code == 201

    async def listed() -> dict[str, dict[str, object]] | None:
        rows = {str(r["vendor_type"]): r for r in await schedules(admin)}
        return rows if "SCRUB" in rows else None  # made when the dispatcher starts

    rows = await waited_for("the scrub schedule exists", listed, within=15)
    gc = rows["GARBAGE_COLLECTION"]
    assert (gc["cron"], gc["vendor_id"]) == ("0 30 4 * * *", -1)
    assert isinstance(gc["id"], int)
    assert isinstance(gc["extra_attrs"], dict) and gc["extra_attrs"]["cron"] == "0 30 4 * * *"
    assert rows["SCRUB"]["cron"] == "0 0 3 * * *"  # settings' "0 3 * * *", seconds first
    assert str(gc["update_time"]).endswith("Z")


async def test_a_replication_schedule_names_its_policy(in_process: InProcessBerth) -> None:
    await Schedule.create(
        name="replication-42",
        cron="*/5 * * * *",
        kind="replication-schedule",
        args={"policy_id": 42},
        last_fire=datetime.now(UTC),
    )
    await Schedule.create(
        name="replication-43",
        cron="* * * * *",
        kind="x",
        enabled=False,
        last_fire=datetime.now(UTC),
    )
    rows = [r for r in await schedules(AppApi(in_process)) if r["vendor_type"] == "REPLICATION"]
    assert [(r["vendor_id"], r["cron"]) for r in rows] == [(42, "0 */5 * * * *")]  # enabled only


async def test_schedules_are_paged(in_process: InProcessBerth) -> None:
    now = datetime.now(UTC)
    for n in range(3):
        await Schedule.create(name=f"test-{n}", cron="0 0 1 1 *", kind="sleep", last_fire=now)
    admin = AppApi(in_process)
    total = len(await schedules(admin))
    answer = await admin.get("/schedules", params={"page": 2, "page_size": 1})
    assert answer.headers["X-Total-Count"] == str(total)
    assert len(answer.json()) == 1
    assert 'rel="next"' in answer.headers["Link"] and 'rel="prev"' in answer.headers["Link"]
    assert (await admin.get("/schedules", params={"page_size": 1000})).status_code == 400


async def test_a_paused_scheduler_fires_nothing_until_resumed(in_process: InProcessBerth) -> None:
    admin = AppApi(in_process)
    await admin.put("/jobservice/queues/SCHEDULER", json={"action": "pause"})
    past = datetime.now(UTC) - timedelta(hours=1)
    await Schedule.create(name="test-due", cron="* * * * *", kind="sleep", last_fire=past)
    assert await fire_due() == []
    assert (await Schedule.get(name="test-due")).last_fire == past
    await admin.put("/jobservice/queues/SCHEDULER", json={"action": "resume"})

    async def fired() -> bool | None:
        await fire_due()  # or the in-process scheduler does, whichever comes first
        return (await Schedule.get(name="test-due")).last_fire > past or None

    await waited_for("the schedule fires once resumed", fired, within=15)


async def test_the_paused_state_is_for_signed_in_callers_and_all_only(
    in_process: InProcessBerth,
) -> None:
    _, name = await app_user(in_process)
    user = app_as(in_process, name)
    assert (await user.get("/schedules/all/paused")).json() == {"paused": False}
    assert (await user.get("/schedules/GARBAGE_COLLECTION/paused")).status_code == 400
    assert (await app_as(in_process, None).get("/schedules/all/paused")).status_code == 401


async def test_the_schedule_list_is_for_system_admins(in_process: InProcessBerth) -> None:
    _, name = await app_user(in_process)
    assert (await app_as(in_process, name).get("/schedules")).status_code == 403
    assert (await app_as(in_process, None).get("/schedules")).status_code == 401
