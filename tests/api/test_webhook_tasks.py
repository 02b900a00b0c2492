"""The rest of Harbor's webhook API on a real server and a real receiver (SQLite and
PostgreSQL): an execution's task and its log of attempts, a policy's jobs, the last trigger
of each policy and event type, and who may read them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.factories import admin_client, client_as, new_member, new_project, push_image
from tests.pipelines.webhook_receiver import (
    FAST_RETRIES,
    Receiver,
    add_policy,
    serving_receiver,
)
from tests.support import RunningBerth, running_berth_with, wait_until


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningBerth]:
    data_dir = Path(tmp_path_factory.mktemp(f"hook-tasks-{request.param}"))
    with running_berth_with(request.param, data_dir, FAST_RETRIES) as berth:
        yield berth


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving_receiver() as state:
        yield state


def settled_execution(server: RunningBerth, project: str, policy_id: int) -> dict[str, Any]:
    """The policy's one execution, once it is no longer Pending."""
    base = f"/projects/{project}/webhook/policies/{policy_id}/executions"

    def done() -> dict[str, Any] | None:
        with admin_client(server) as admin:
            listed = admin.get(base).json()
        return listed[0] if listed and listed[0]["status"] != "Pending" else None

    return wait_until("the delivery ended", done, within=40)


def test_a_delivery_has_one_task_whose_log_shows_each_attempt(
    server: RunningBerth, receiver: Receiver
) -> None:
    # Given a receiver that answers 500 once, then takes the event
    _, project = new_project(server, prefix="wt")
    policy_id = add_policy(server, project, receiver)
    receiver.statuses = [500]
    # When an image is pushed and delivered
    push_image(server, f"{project}/app", "v1")
    execution = settled_execution(server, project, policy_id)
    base = f"/projects/{project}/webhook/policies/{policy_id}/executions/{execution['id']}"
    with admin_client(server) as admin:
        tasks = admin.get(f"{base}/tasks")
        [task] = tasks.json()
        log = admin.get(f"{base}/tasks/{task['id']}/log")
        missing = admin.get(f"{base}/tasks/{task['id'] + 1000}/log")
    # Then the one task succeeded on its second run, and its log tells both attempts
    assert tasks.headers["X-Total-Count"] == "1"
    assert (task["status"], task["run_count"], task["execution_id"]) == (
        "Success",
        2,
        execution["id"],
    )
    assert log.headers["Content-Type"].startswith("text/plain")
    lines = log.text.splitlines()
    assert any("attempt 1" in line and "answered 500" in line for line in lines), log.text
    assert any("attempt 2" in line and "answered 200" in line for line in lines), log.text
    assert receiver.url in log.text
    assert missing.status_code == 404


def test_jobs_are_listed_by_policy_and_status(server: RunningBerth, receiver: Receiver) -> None:
    # Given one delivered push
    _, project = new_project(server, prefix="wj")
    policy_id = add_policy(server, project, receiver)
    push_image(server, f"{project}/app", "v1")
    settled_execution(server, project, policy_id)
    with admin_client(server) as admin:
        # When the jobs are listed, of every status, of Success, and of Error
        every = admin.get(f"/projects/{project}/webhook/jobs", params={"policy_id": policy_id})
        ok = admin.get(
            f"/projects/{project}/webhook/jobs",
            params={"policy_id": policy_id, "status": "Success"},
        )
        failed = admin.get(
            f"/projects/{project}/webhook/jobs", params={"policy_id": policy_id, "status": "Error"}
        )
        without = admin.get(f"/projects/{project}/webhook/jobs")
    # Then
    [job] = every.json()
    assert (job["policy_id"], job["event_type"], job["status"]) == (
        policy_id,
        "PUSH_ARTIFACT",
        "Success",
    )
    assert job["notify_type"] == "http" and '"event_data"' in job["job_detail"]
    assert len(ok.json()) == 1 and failed.json() == []
    assert without.status_code == 400


def test_last_trigger_per_policy_and_event_type(server: RunningBerth, receiver: Receiver) -> None:
    # Given a policy for push, pull and delete, and one push delivered
    _, project = new_project(server, prefix="wl")
    policy_id = add_policy(server, project, receiver)
    push_image(server, f"{project}/app", "v1")
    settled_execution(server, project, policy_id)
    # When the last triggers are read
    with admin_client(server) as admin:
        triggers = admin.get(f"/projects/{project}/webhook/lasttrigger").json()
    # Then each event type of the policy is listed, only the push with a time
    by_type = {t["event_type"]: t for t in triggers}
    assert set(by_type) == {"PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT"}
    assert by_type["PUSH_ARTIFACT"]["last_trigger_time"].endswith("Z")
    assert by_type["PULL_ARTIFACT"]["last_trigger_time"] is None
    assert {t["policy_name"] for t in triggers} == {"ci"}
    assert all(t["enabled"] for t in triggers)


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        pytest.param(1, 200, id="project-admin"),
        pytest.param(4, 200, id="maintainer"),
        pytest.param(2, 403, id="developer"),
        pytest.param(3, 403, id="guest"),
    ],
)
def test_who_reads_the_delivery_history(
    server: RunningBerth, receiver: Receiver, role: int, expected: int
) -> None:
    # Given a project's policy and a member of some role
    _, project = new_project(server, prefix="wr")
    policy_id = add_policy(server, project, receiver)
    member = new_member(server, project, role)
    paths = [
        f"/projects/{project}/webhook/lasttrigger",
        f"/projects/{project}/webhook/jobs?policy_id={policy_id}",
    ]
    # When the member, then nobody, reads
    with client_as(server, member) as client:
        statuses = {client.get(p).status_code for p in paths}
    with client_as(server, None) as nobody:
        anonymous = {nobody.get(p).status_code for p in paths}
    # Then the role decides; nobody is 401 or does not see the private project
    assert statuses == {expected}
    assert anonymous <= {401, 404}


def test_unknown_ids_are_404(server: RunningBerth, receiver: Receiver) -> None:
    _, project = new_project(server, prefix="wn")
    policy_id = add_policy(server, project, receiver)
    base = f"/projects/{project}/webhook/policies"
    with admin_client(server) as admin:
        assert admin.get(f"{base}/{policy_id}/executions/99999/tasks").status_code == 404
        assert admin.get(f"{base}/99999/executions/1/tasks").status_code == 404
        assert admin.get(f"{base}/{policy_id}/executions/1/tasks/1/log").status_code == 404
        jobs = admin.get(f"/projects/{project}/webhook/jobs", params={"policy_id": 99999})
        assert jobs.status_code == 404
