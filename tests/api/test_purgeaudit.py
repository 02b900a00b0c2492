"""The audit log purge through Harbor's /api/v2.0/system/purgeaudit on a real server (its
own, per database): run now, dry run, the operations it keeps, history and log, the
schedule and its validation, stop, rights."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.factories import admin_client, client_as, id_from_location, new_user, unique
from tests.support import RunningBerth, berth_worker, run_sql, wait_until

PURGE = "/system/purgeaudit"
SCHEDULE = "/system/purgeaudit/schedule"
FINAL = ("Success", "Error", "Stopped")


def manual(**parameters: Any) -> dict[str, Any]:
    return {"schedule": {"type": "Manual"}, "parameters": parameters}


def run_now(client: httpx.Client, **parameters: Any) -> dict[str, Any]:
    """Start a purge, wait for its end; its history row."""
    answer = client.post(SCHEDULE, json=manual(**parameters))
    assert answer.status_code == 201, answer.text
    return ended(client, id_from_location(answer.headers["Location"]))


def ended(client: httpx.Client, run_id: int) -> dict[str, Any]:
    """The run's history row once it reached a final status."""

    def final() -> dict[str, Any] | None:
        row: dict[str, Any] = client.get(f"{PURGE}/{run_id}").json()
        return row if row["job_status"] in FINAL else None

    return wait_until(f"purge {run_id} ends", final, 60)


def aged_events(server: RunningBerth, days: int) -> tuple[str, str]:
    """Two events made `days` ago: a user's creation and its update; (resource, username)."""
    user_id, name = new_user(server, prefix="old")
    with admin_client(server) as admin:
        admin.put(f"/users/{user_id}", json={"realname": "Old Timer"}).raise_for_status()
    then = datetime.now(UTC) - timedelta(days=days)
    run_sql(server, "UPDATE audit_event SET occurred_at = ? WHERE resource = ?", then, name)
    return name, name


def events_of(server: RunningBerth, resource: str) -> list[str]:
    rows = run_sql(
        server, "SELECT operation FROM audit_event WHERE resource = ? ORDER BY id", resource
    )
    return [str(r[0]) for r in rows]


def test_a_dry_run_counts_and_a_run_removes_old_events_of_the_operations(
    gc_server: RunningBerth,
) -> None:
    # Given a user's creation and update, thirty days ago
    resource, _ = aged_events(gc_server, days=30)
    assert events_of(gc_server, resource) == ["create", "update"]
    with admin_client(gc_server) as admin:
        # When a dry run, then a real run, purge creations older than a week
        dry = run_now(admin, audit_retention_hour=168, include_operations="create", dry_run=True)
        after_dry = events_of(gc_server, resource)
        done = run_now(admin, audit_retention_hour=168, include_operations="create")
        log = admin.get(f"{PURGE}/{done['id']}/log")
        history = admin.get(PURGE)
    # Then the dry run removed nothing, the run removed the old creation only
    assert dry["job_status"] == "Success" and after_dry == ["create", "update"]
    assert events_of(gc_server, resource) == ["update"]
    assert done["job_status"] == "Success" and done["job_name"] == "PURGE_AUDIT_LOG"
    assert done["job_kind"] == "MANUAL"
    assert done["job_parameters"] == (
        '{"audit_retention_hour":168,"dry_run":false,"include_operations":"create"}'
    )
    assert log.headers["Content-Type"].startswith("text/plain")
    assert "removed" in log.text and "create" in log.text
    assert [r["id"] for r in history.json()][:2] == [done["id"], dry["id"]]
    # And the purge is in the log: asked for (create), then done (delete)
    with admin_client(gc_server) as admin:
        query = f"resource=audit log purge {done['id']},resource_type=purge_audit"
        events = admin.get("/audit-logs", params={"q": query}).json()
    assert [e["operation"] for e in events] == ["delete", "create"]


def test_recent_events_stay(gc_server: RunningBerth) -> None:
    _, name = new_user(gc_server, prefix="new")
    with admin_client(gc_server) as admin:
        run_now(admin, audit_retention_hour=1, include_operations="create,update,delete,pull")
    assert events_of(gc_server, name) == ["create"]


def test_the_schedule_is_set_read_changed_and_removed(gc_server: RunningBerth) -> None:
    body = {
        "schedule": {"type": "Custom", "cron": "0 0 3 * * *"},
        "parameters": {"audit_retention_hour": 720, "include_operations": "pull", "dry_run": False},
    }
    with admin_client(gc_server) as admin:
        admin.put(SCHEDULE, json={"schedule": {"type": "None"}})
        made = admin.post(SCHEDULE, json=body)
        again = admin.post(SCHEDULE, json=body)
        shown = admin.get(SCHEDULE).json()
        changed = admin.put(SCHEDULE, json={**body, "schedule": {"type": "Daily"}})
        daily = admin.get(SCHEDULE).json()
        removed = admin.put(SCHEDULE, json={"schedule": {"type": "None"}})
        gone = admin.get(SCHEDULE).json()
    assert made.status_code == 201 and again.status_code == 409
    assert shown["schedule"]["type"] == "Custom" and shown["schedule"]["cron"] == "0 0 3 * * *"
    assert shown["schedule"]["next_scheduled_time"].endswith("Z")
    assert '"audit_retention_hour":720' in shown["job_parameters"]
    assert changed.status_code == 200 and daily["schedule"]["type"] == "Daily"
    assert removed.status_code == 200 and gone["schedule"]["type"] == "None"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(manual(), "audit_retention_hour", id="no-age"),
        pytest.param(manual(audit_retention_hour="24"), "audit_retention_hour", id="age-text"),
        pytest.param(manual(audit_retention_hour=240_001), "audit_retention_hour", id="too-old"),
        pytest.param(
            manual(audit_retention_hour=1, include_operations="explode"), "include_operations",
            id="unknown-operation",
        ),
        pytest.param(manual(audit_retention_hour=1, dry_run="yes"), "dry_run", id="dry-run"),
        pytest.param(manual(audit_retention_hour=1, workers=2), "workers", id="unknown-key"),
        pytest.param({"schedule": {"type": "Sometimes"}}, "schedule.type", id="type"),
        pytest.param(
            {"schedule": {"type": "Custom", "cron": "every day"},
             "parameters": {"audit_retention_hour": 1}},
            "schedule.cron", id="cron",
        ),
    ],
)  # fmt: skip
def test_bad_requests_name_the_field(gc_server: RunningBerth, body: Any, field: str) -> None:
    with admin_client(gc_server) as admin:
        answer = admin.post(SCHEDULE, json=body)
    assert answer.status_code == 400, answer.text
    assert field in answer.text


def test_unknown_runs_are_404_and_a_final_run_stays_when_stopped(gc_server: RunningBerth) -> None:
    with admin_client(gc_server) as admin:
        done = run_now(admin, audit_retention_hour=10_000)
        stopped = admin.put(f"{PURGE}/{done['id']}")
        after = admin.get(f"{PURGE}/{done['id']}").json()
        assert admin.get(f"{PURGE}/999999").status_code == 404
        assert admin.get(f"{PURGE}/999999/log").status_code == 404
        assert admin.put(f"{PURGE}/999999").status_code == 404
        # a GC run's id is no purge run
        assert admin.get("/system/gc/999999").status_code == 404
    assert stopped.status_code == 200 and after["job_status"] == "Success"


CALLS = [
    pytest.param("GET", PURGE, None, id="history"),
    pytest.param("GET", f"{PURGE}/1", None, id="run"),
    pytest.param("GET", f"{PURGE}/1/log", None, id="log"),
    pytest.param("PUT", f"{PURGE}/1", None, id="stop"),
    pytest.param("GET", SCHEDULE, None, id="schedule"),
    pytest.param("POST", SCHEDULE, manual(audit_retention_hour=1), id="run-now"),
    pytest.param("PUT", SCHEDULE, {"schedule": {"type": "None"}}, id="set-schedule"),
]


@pytest.mark.parametrize(("method", "path", "body"), CALLS)
def test_nobody_must_sign_in_and_a_user_is_refused(
    gc_server: RunningBerth, method: str, path: str, body: Any
) -> None:
    _, user = new_user(gc_server, prefix=unique("p")[:8])
    with client_as(gc_server, None) as nobody:
        anonymous = nobody.request(method, path, json=body)
    with client_as(gc_server, user) as client:
        as_user = client.request(method, path, json=body)
    assert (anonymous.status_code, as_user.status_code) == (401, 403)


def test_one_purge_at_a_time_and_a_waiting_one_stops_at_once(
    queued_server: tuple[RunningBerth, dict[str, str]],
) -> None:
    server, env = queued_server
    with admin_client(server) as admin:
        # Given a purge whose job waits for a worker
        answer = admin.post(SCHEDULE, json=manual(audit_retention_hour=24))
        first = id_from_location(answer.headers["Location"])
        # When another is asked for, it is refused; a GC may still start meanwhile
        second = admin.post(SCHEDULE, json=manual(audit_retention_hour=24))
        gc = admin.post("/system/gc/schedule", json={"schedule": {"type": "Manual"}})
        # When the waiting purge is stopped, it ends at once, having done nothing
        pending = admin.get(f"{PURGE}/{first}").json()["job_status"]
        stopped = admin.put(f"{PURGE}/{first}")
        after = admin.get(f"{PURGE}/{first}").json()
        log = admin.get(f"{PURGE}/{first}/log").text
        # Then a worker leaves it Stopped and carries out a new one
        third = admin.post(SCHEDULE, json=manual(audit_retention_hour=24))
        with berth_worker(server.data_dir, env):
            done = ended(admin, id_from_location(third.headers["Location"]))
        first_after = admin.get(f"{PURGE}/{first}").json()
    assert second.status_code == 409 and f"audit log purge {first} is still running" in second.text
    assert gc.status_code == 201
    assert pending == "Pending" and stopped.status_code == 200
    assert after["job_status"] == "Stopped" and "stopped before it started" in log
    assert done["job_status"] == "Success" and first_after["job_status"] == "Stopped"
