"""Garbage collection through Harbor's /api/v2.0/system/gc on a real server: rights, run now,
history and log, one run at a time, stop, the schedule and its validation, metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.values import parse_time
from tests.api.gc_support import FINAL, GC, SCHEDULE, finished, manual, run_now
from tests.factories import (
    API,
    admin_client,
    client_as,
    error_of,
    id_from_location,
    new_user,
    push_blob,
    registry_client,
    system_entry,
    system_robot_body,
)
from tests.support import RunningBerth, berth_worker, running_berth_with, wait_until


def system_robot(server: RunningBerth, *pairs: str) -> httpx.Client:
    with admin_client(server) as admin:
        made = admin.post("/robots", json=system_robot_body(system_entry(*pairs)))
    assert made.status_code == 201, made.text
    return client_as(server, made.json()["name"], made.json()["secret"])


# --- rights ------------------------------------------------------------------------------


CALLS = [
    pytest.param("GET", GC, None, id="history"),
    pytest.param("GET", f"{GC}/1", None, id="run"),
    pytest.param("GET", f"{GC}/1/log", None, id="log"),
    pytest.param("PUT", f"{GC}/1", None, id="stop"),
    pytest.param("GET", SCHEDULE, None, id="schedule"),
    pytest.param("POST", SCHEDULE, manual(dry_run=True), id="run-now"),
    pytest.param("PUT", SCHEDULE, {"schedule": {"type": "None"}}, id="set-schedule"),
]


@pytest.mark.parametrize(("method", "path", "body"), CALLS)
def test_nobody_must_sign_in_and_a_user_is_refused(
    gc_server: RunningBerth, method: str, path: str, body: Any
) -> None:
    _, user = new_user(gc_server, prefix="gcu")
    with client_as(gc_server, None) as nobody, client_as(gc_server, user) as someone:
        anonymous = nobody.request(method, path, json=body)
        refused = someone.request(method, path, json=body)
    assert (anonymous.status_code, error_of(anonymous)) == (401, "UNAUTHORIZED")
    assert (refused.status_code, error_of(refused)) == (403, "DENIED")
    assert "garbage-collection:" in refused.json()["errors"][0]["message"]


def test_a_system_robot_does_what_its_gc_permissions_allow(gc_server: RunningBerth) -> None:
    # Given a robot that may list and read, and one that may also create and stop
    with system_robot(gc_server, "garbage-collection:list", "garbage-collection:read") as reader:
        listed = reader.get(GC)
        schedule = reader.get(SCHEDULE)
        refused = reader.post(SCHEDULE, json=manual(dry_run=True))
    pairs = [f"garbage-collection:{a}" for a in ("list", "read", "create", "stop")]
    with system_robot(gc_server, *pairs) as operator:
        run_id = run_now(operator, dry_run=True)
        row = operator.get(f"{GC}/{run_id}").json()
        stopped = operator.put(f"{GC}/{run_id}")
        changed = operator.put(SCHEDULE, json={"schedule": {"type": "Daily"}})
    # Then each does what it holds and nothing more
    assert (listed.status_code, schedule.status_code) == (200, 200)
    assert (refused.status_code, error_of(refused)) == (403, "DENIED")
    assert row["job_status"] == "Success" and stopped.status_code == 200
    assert changed.status_code == 403  # update was not given


# --- runs --------------------------------------------------------------------------------


def test_a_manual_run_is_listed_in_harbors_shape_with_its_results_and_log(
    gc_server: RunningBerth,
) -> None:
    with admin_client(gc_server) as admin:
        # When the admin starts a dry run with two workers
        started = admin.post(SCHEDULE, json=manual(dry_run=True, workers=2))
        run_id = id_from_location(started.headers["Location"])
        row = finished(admin, run_id)
        history = admin.get(GC, params={"page_size": 1})
        log = admin.get(f"{GC}/{run_id}/log")
        events = admin.get(
            "/auditlog-exts", params={"q": "resource_type=garbage_collection", "page_size": 50}
        )
    # Then it answered 201 naming the run, which succeeded
    assert started.status_code == 201
    assert started.headers["Location"] == f"{API}{GC}/{run_id}"
    assert row["job_status"] == "Success"
    # And its row is Harbor's GCHistory with the parameters as a JSON string, plus the results
    assert (row["id"], row["job_name"], row["job_kind"]) == (run_id, "GARBAGE_COLLECTION", "MANUAL")
    parameters = json.loads(row["job_parameters"])
    assert parameters == {"delete_untagged": False, "dry_run": True, "workers": 2}
    assert row["schedule"] is None and row["deleted"] is False and row["trigger"] == "MANUAL"
    assert row["creation_time"].endswith("Z") and row["update_time"].endswith("Z")
    assert parse_time("t", row["update_time"]) > parse_time("t", row["creation_time"])
    assert all(isinstance(row[k], int) for k in ("freed_bytes", "blobs", "manifests", "uploads"))
    # And the newest run comes first in the history
    assert history.status_code == 200 and history.json()[0]["id"] == run_id
    assert int(history.headers["X-Total-Count"]) >= 1
    # And its log is plain text, from start to end
    assert log.headers["content-type"].startswith("text/plain")
    assert f"garbage collection {run_id} started (MANUAL)" in log.text
    assert "dry_run=True workers=2" in log.text and "would free" in log.text
    # And the audit log has who started it, and what it did, by the admin
    mine = [e for e in events.json() if e["resource"] == f"garbage collection {run_id}"]
    assert sorted(e["operation"] for e in mine) == ["create", "delete"]
    assert all(e["username"] == "admin" for e in mine)


def test_the_history_is_paged_newest_first(gc_server: RunningBerth) -> None:
    with admin_client(gc_server) as admin:
        ids = [run_now(admin, dry_run=True) for _ in range(3)]
        first = admin.get(GC, params={"page": 1, "page_size": 2})
        second = admin.get(GC, params={"page": 2, "page_size": 2})
    total = int(first.headers["X-Total-Count"])
    assert total >= 3 and [r["id"] for r in first.json()] == ids[::-1][:2]
    assert second.json()[0]["id"] == ids[0]
    assert 'rel="next"' in first.headers["Link"] and 'rel="prev"' in second.headers["Link"]


def test_an_unknown_run_is_404(gc_server: RunningBerth) -> None:
    with admin_client(gc_server) as admin:
        answers = [admin.get(f"{GC}/999999"), admin.get(f"{GC}/999999/log")]
        answers.append(admin.put(f"{GC}/999999"))
    assert [(a.status_code, error_of(a)) for a in answers] == [(404, "NOT_FOUND")] * 3


def test_one_run_at_a_time_and_a_pending_run_stops(
    queued_server: tuple[RunningBerth, dict[str, str]],
) -> None:
    server, env = queued_server
    with admin_client(server) as admin:
        # Given a run whose job waits for a worker
        first = id_from_location(admin.post(SCHEDULE, json=manual()).headers["Location"])
        # When another is asked for, it is refused with 409
        second = admin.post(SCHEDULE, json=manual(dry_run=True))
        assert (second.status_code, error_of(second)) == (409, "CONFLICT")
        assert f"garbage collection {first} is still running" in second.text
        # When the waiting run is stopped, it ends at once, having done nothing
        assert admin.get(f"{GC}/{first}").json()["job_status"] == "Pending"
        assert admin.put(f"{GC}/{first}").status_code == 200
        stopped = admin.get(f"{GC}/{first}").json()
        assert stopped["job_status"] == "Stopped" and stopped["freed_bytes"] == 0
        assert "stopped before it started" in admin.get(f"{GC}/{first}/log").text
        # Then a new run may start, and runs once a worker takes its job
        third = admin.post(SCHEDULE, json=manual(dry_run=True))
        assert third.status_code == 201
        with berth_worker(server.data_dir, env):
            row = finished(admin, id_from_location(third.headers["Location"]))
        first_after = admin.get(f"{GC}/{first}").json()
    assert row["job_status"] == "Success"
    assert first_after["job_status"] == "Stopped"  # its job found it final


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_configured_window_decides_what_a_run_frees(tmp_path: Path, backend: str) -> None:
    # Given a server whose window is zero, and a blob that no manifest names
    env = {"BERTH_GC__WINDOW_SECONDS": "0"}
    with (
        running_berth_with(backend, tmp_path, env) as server,
        registry_client(server) as registry,
        admin_client(server) as admin,
    ):
        orphan = push_blob(registry, "library/gc-orphan", b"orphan" * 1000)
        url = f"/v2/library/gc-orphan/blobs/{orphan['digest']}"
        # When a dry run and then a real run collect
        dry = finished(admin, run_id_of(admin.post(SCHEDULE, json=manual(dry_run=True))))
        kept = registry.head(url)
        real = finished(admin, run_id_of(admin.post(SCHEDULE, json=manual())))
        gone = registry.head(url)
    # Then both count the blob, and the real run deleted it
    for row in (dry, real):
        assert row["job_status"] == "Success"
        assert row["blobs"] >= 1 and row["freed_bytes"] >= orphan["size"]
    assert kept.status_code == 200 and gone.status_code == 404  # a dry run deletes nothing


def run_id_of(answer: httpx.Response) -> int:
    assert answer.status_code == 201, answer.text
    return id_from_location(answer.headers["Location"])


# --- schedule ----------------------------------------------------------------------------


def test_the_schedule_is_set_read_changed_and_removed(gc_server: RunningBerth) -> None:
    with admin_client(gc_server) as admin:
        empty = admin.get(SCHEDULE).json()
        body = {"schedule": {"type": "Daily"}, "parameters": {"delete_untagged": True}}
        made = admin.post(SCHEDULE, json=body)
        daily = admin.get(SCHEDULE).json()
        again = admin.post(SCHEDULE, json=body)
        custom = {"schedule": {"type": "Custom", "cron": "0 30 2 * * 1"}, "parameters": {}}
        changed = admin.put(SCHEDULE, json=custom)
        weekly = admin.get(SCHEDULE).json()
        removed = admin.put(SCHEDULE, json={"schedule": {"type": "None"}})
        gone = admin.get(SCHEDULE).json()
        query = {"q": "resource_type=garbage_collection", "page_size": 100}
        events = admin.get("/auditlog-exts", params=query).json()
    assert empty["schedule"]["type"] == "None" and empty["schedule"]["next_scheduled_time"] is None
    assert made.status_code == 201
    assert daily["schedule"]["type"] == "Daily" and daily["schedule"]["cron"] == "0 0 0 * * *"
    assert daily["schedule"]["next_scheduled_time"].endswith("T00:00:00Z")
    assert daily["parameters"] == {"delete_untagged": True, "dry_run": False, "workers": 1}
    assert daily["creation_time"].endswith("Z") and daily["update_time"].endswith("Z")
    assert (again.status_code, error_of(again)) == (409, "CONFLICT")
    assert changed.status_code == 200
    assert (weekly["schedule"]["type"], weekly["schedule"]["cron"]) == ("Custom", "0 30 2 * * 1")
    assert re.search(r"T02:30:00Z$", weekly["schedule"]["next_scheduled_time"])
    assert removed.status_code == 200 and gone["schedule"]["type"] == "None"
    # And each change has its audit event saying what changed
    said = [
        e["operation_description"]
        for e in events
        if e["resource"] == "garbage collection schedule" and e["operation_result"]
    ]
    assert any("type: Daily -> Custom" in d and "delete_untagged: true -> false" in d for d in said)
    assert any("type: Custom -> None" in d for d in said)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        pytest.param({"schedule": {"type": "Monthly"}}, "schedule.type", id="unknown-type"),
        pytest.param({}, "schedule", id="no-schedule"),
        pytest.param({"schedule": "Daily"}, "schedule", id="schedule-not-object"),
        pytest.param({"schedule": {"type": "Custom"}}, "schedule.cron", id="custom-no-cron"),
        pytest.param(
            {"schedule": {"type": "Custom", "cron": "61 * * * *"}}, "cron", id="bad-minute"
        ),
        pytest.param(
            {"schedule": {"type": "Custom", "cron": "0 0 0 * * * 2030"}}, "cron", id="7-fields"
        ),
        pytest.param(
            {"schedule": {"type": "Custom", "cron": "0 0 0 31 2 *"}}, "never fires", id="feb-31"
        ),
        pytest.param(manual(workers=0), "parameters.workers", id="workers-0"),
        pytest.param(manual(workers=11), "parameters.workers", id="workers-11"),
        pytest.param(manual(dry_run="yes"), "parameters.dry_run", id="dry-run-text"),
        pytest.param(manual(delete_untagged=1), "parameters.delete_untagged", id="untagged-int"),
        pytest.param({"schedule": {"type": "Manual"}, "parameters": []}, "parameters", id="list"),
    ],
)
@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_a_bad_schedule_body_is_400_naming_the_field(
    gc_server: RunningBerth, method: str, body: dict[str, Any], says: str
) -> None:
    with admin_client(gc_server) as admin:
        before = admin.get(GC).headers["X-Total-Count"]
        answer = admin.request(method, SCHEDULE, json=body)
        after = admin.get(GC).headers["X-Total-Count"]
    assert (answer.status_code, error_of(answer)) == (400, "BAD_REQUEST")
    assert says in answer.json()["errors"][0]["message"]
    assert before == after  # no run was started


def test_a_custom_schedule_fires_runs(gc_server: RunningBerth) -> None:
    # Given a schedule every three seconds, in Harbor's six fields (seconds first)
    cron = {"type": "Custom", "cron": "*/3 * * * * *"}
    every = {"schedule": cron, "parameters": {"dry_run": True}}
    with admin_client(gc_server) as admin:
        assert admin.put(SCHEDULE, json=every).status_code == 200

        def scheduled() -> dict[str, Any] | None:
            rows = admin.get(GC, params={"page_size": 5}).json()
            return next((r for r in rows if r["job_kind"] == "SCHEDULE"), None)

        # When the scheduler's next tick comes, a run is created by the schedule
        try:
            row = wait_until("a scheduled garbage collection", scheduled, within=60)
        finally:
            assert admin.put(SCHEDULE, json={"schedule": {"type": "None"}}).status_code == 200
        # Then its row names the schedule, and it runs like any other
        done = finished(admin, row["id"])
        wait_until("no run active", lambda: _quiet(admin))
    assert row["schedule"]["type"] == "Custom" and row["schedule"]["cron"] == "*/3 * * * * *"
    assert json.loads(row["job_parameters"])["dry_run"] is True
    assert done["job_status"] == "Success" and done["trigger"] == "SCHEDULE"


def _quiet(admin: httpx.Client) -> bool:
    return all(r["job_status"] in FINAL for r in admin.get(GC, params={"page_size": 10}).json())


# --- metrics -----------------------------------------------------------------------------


def test_metrics_count_runs_by_status_and_what_they_freed(gc_server: RunningBerth) -> None:
    with admin_client(gc_server) as admin:
        run_now(admin)  # a real run: what it frees is counted (a dry run's is not)
    text = httpx.get(f"{gc_server.url}/metrics").text
    success = re.search(r'^berth_gc_runs_total\{status="Success"\} (\S+)$', text, re.M)
    assert success and float(success.group(1)) >= 1
    for name in ("freed_bytes", "deleted_blobs", "deleted_manifests", "deleted_uploads"):
        assert re.search(rf"^berth_gc_{name}_total \d", text, re.M), name
