"""The webhook policies API on a real server: CRUD, executions, events, roles, bad input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import (
    API,
    add_member,
    admin_client,
    client_as,
    error_of,
    new_project,
    new_user,
)
from tests.support import RunningBerth

TARGET = {"type": "http", "address": "http://127.0.0.1:9/hook", "payload_format": "Default"}


def policy_body(name: str = "ci", **extra: Any) -> dict[str, Any]:
    return {"name": name, "event_types": ["PUSH_ARTIFACT"], "targets": [TARGET], **extra}


def test_a_policy_is_created_read_changed_and_deleted(berth_server: RunningBerth) -> None:
    # Given a project
    project_id, project = new_project(berth_server, public=False, prefix="whapi")
    with admin_client(berth_server) as admin:
        # When the admin creates a policy with a secret
        created = admin.post(
            f"/projects/{project}/webhook/policies",
            json=policy_body(description="to CI", secret="s3cret"),
        )
        location = created.headers["Location"].removeprefix(API)
        read = admin.get(location)
        # Then it reads back as Harbor's WebhookPolicy, without the secret
        assert created.status_code == 201 and created.json()["secret"] == "s3cret"
        policy = read.json()
        assert (policy["name"], policy["description"], policy["enabled"]) == ("ci", "to CI", True)
        assert policy["project_id"] == project_id and policy["creator"] == "admin"
        assert policy["event_types"] == ["PUSH_ARTIFACT"]
        assert policy["targets"] == [{**TARGET, "auth_header": "", "skip_cert_verify": False}]
        assert "secret" not in policy and "s3cret" not in read.text
        # When it is changed, then listed by the project's id
        changed = admin.put(
            location, json=policy_body("cd", enabled=False, event_types=["PULL_ARTIFACT"])
        )
        listed = admin.get(f"/projects/{project_id}/webhook/policies")
        # Then the list shows the change
        assert changed.status_code == 200
        assert listed.headers["X-Total-Count"] == "1"
        assert [(p["name"], p["enabled"], p["event_types"]) for p in listed.json()] == [
            ("cd", False, ["PULL_ARTIFACT"])
        ]
        # When it is deleted, then it is gone
        assert admin.delete(location).status_code == 200
        assert admin.get(location).status_code == 404
        assert admin.get(f"/projects/{project}/webhook/policies").json() == []


def test_a_policy_without_a_secret_gets_one_shown_once(berth_server: RunningBerth) -> None:
    _, project = new_project(berth_server, public=False, prefix="whapi")
    with admin_client(berth_server) as admin:
        created = admin.post(f"/projects/{project}/webhook/policies", json=policy_body())
        secret = created.json()["secret"]
        read = admin.get(created.headers["Location"].removeprefix(API))
    assert len(secret) >= 32 and secret not in read.text


def test_a_project_is_named_by_name_or_by_id(berth_server: RunningBerth) -> None:
    # Given a project, named with X-Is-Resource-Name or by its id
    project_id, project = new_project(berth_server, public=False, prefix="whapi")
    with admin_client(berth_server) as admin:
        by_name = admin.get(
            f"/projects/{project}/webhook/policies", headers={"X-Is-Resource-Name": "true"}
        )
        by_id = admin.get(f"/projects/{project_id}/webhook/policies")
    assert by_name.status_code == by_id.status_code == 200


def test_the_supported_events_are_listed(berth_server: RunningBerth) -> None:
    _, project = new_project(berth_server, public=False, prefix="whapi")
    with admin_client(berth_server) as admin:
        events = admin.get(f"/projects/{project}/webhook/events").json()
    assert {"PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT"} <= set(events["event_type"])
    assert events["notify_type"] == ["http"]
    assert events["payload_formats"] == [
        {"notify_type": "http", "formats": ["Default", "CloudEvents"]}
    ]


def test_executions_of_a_new_policy_are_empty_and_paged(berth_server: RunningBerth) -> None:
    _, project = new_project(berth_server, public=False, prefix="whapi")
    with admin_client(berth_server) as admin:
        created = admin.post(f"/projects/{project}/webhook/policies", json=policy_body())
        path = created.headers["Location"].removeprefix(API) + "/executions"
        listed = admin.get(path, params={"page": 1, "page_size": 5})
        bad_page = admin.get(path, params={"page_size": 0})
        missing = admin.get(f"/projects/{project}/webhook/policies/999999/executions")
    assert listed.status_code == 200 and listed.json() == []
    assert listed.headers["X-Total-Count"] == "0"
    assert bad_page.status_code == 400 and missing.status_code == 404


ROLES = {"projectAdmin": 1, "developer": 2, "guest": 3, "maintainer": 4}


@pytest.mark.parametrize(
    ("role", "can_list", "can_create"),
    [
        pytest.param("projectAdmin", True, True, id="project-admin-manages"),
        pytest.param("maintainer", True, False, id="maintainer-only-lists"),
        pytest.param("developer", False, False, id="developer-cannot"),
        pytest.param("guest", False, False, id="guest-cannot"),
    ],
)
def test_roles_decide_who_manages_policies(
    berth_server: RunningBerth, role: str, can_list: bool, can_create: bool
) -> None:
    # Given a member of a project that has a policy
    _, project = new_project(berth_server, public=False, prefix="whapi")
    _, user = new_user(berth_server, "wh")
    add_member(berth_server, project, user, ROLES[role])
    with admin_client(berth_server) as admin:
        existing = admin.post(f"/projects/{project}/webhook/policies", json=policy_body())
    path = existing.headers["Location"].removeprefix(API)
    with client_as(berth_server, user) as client:
        # When they list, create, change and delete policies
        listed = client.get(f"/projects/{project}/webhook/policies")
        created = client.post(f"/projects/{project}/webhook/policies", json=policy_body("own"))
        changed = client.put(path, json=policy_body("renamed"))
        deleted = client.delete(path)
    # Then their role decides
    assert listed.status_code == (200 if can_list else 403)
    assert created.status_code == (201 if can_create else 403)
    assert changed.status_code == (200 if can_create else 403)
    assert deleted.status_code == (200 if can_create else 403)
    if not can_create:
        assert error_of(created) == "DENIED"


@pytest.mark.parametrize(
    ("auth", "status"),
    [
        pytest.param("outsider", 404, id="outsider-of-private-project-sees-nothing"),
        pytest.param(None, 404, id="anonymous-sees-nothing"),
    ],
)
def test_strangers_do_not_learn_of_a_private_project(
    berth_server: RunningBerth, auth: str | None, status: int
) -> None:
    _, project = new_project(berth_server, public=False, prefix="whapi")
    user = new_user(berth_server, "wh")[1] if auth else None
    with client_as(berth_server, user) as client:
        listed = client.get(f"/projects/{project}/webhook/policies")
    assert listed.status_code == status


def test_anonymous_callers_must_sign_in_on_a_public_project(berth_server: RunningBerth) -> None:
    _, project = new_project(berth_server, public=True, prefix="whapi")
    with httpx.Client(base_url=berth_server.url + API) as client:
        created = client.post(f"/projects/{project}/webhook/policies", json=policy_body())
    assert created.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"event_types": ["PUSH_ARTIFACT"], "targets": [TARGET]}, id="no-name"),
        pytest.param(policy_body(event_types=[]), id="no-event-types"),
        pytest.param(policy_body(event_types=["TAG_RETENTION"]), id="unknown-event-type"),
        pytest.param(policy_body(targets=[]), id="no-targets"),
        pytest.param(policy_body(targets=["http://x"]), id="target-not-an-object"),
        pytest.param(policy_body(targets=[{**TARGET, "address": "ftp://x"}]), id="bad-address"),
        pytest.param(policy_body(targets=[{**TARGET, "type": "slack"}]), id="unsupported-type"),
        pytest.param(
            policy_body(targets=[{**TARGET, "payload_format": "XML"}]), id="bad-payload-format"
        ),
        pytest.param(policy_body(enabled="yes"), id="enabled-not-a-boolean"),
        pytest.param(policy_body(secret=""), id="empty-secret"),
        pytest.param([1, 2], id="not-an-object"),
    ],
)
def test_bad_policies_are_refused(berth_server: RunningBerth, body: Any) -> None:
    _, project = new_project(berth_server, public=False, prefix="whapi")
    with admin_client(berth_server) as admin:
        created = admin.post(f"/projects/{project}/webhook/policies", json=body)
    assert created.status_code == 400 and error_of(created) == "BAD_REQUEST", created.text


def test_a_second_policy_of_the_same_name_conflicts(berth_server: RunningBerth) -> None:
    _, project = new_project(berth_server, public=False, prefix="whapi")
    with admin_client(berth_server) as admin:
        first = admin.post(f"/projects/{project}/webhook/policies", json=policy_body("same"))
        second = admin.post(f"/projects/{project}/webhook/policies", json=policy_body("same"))
        other = admin.post(f"/projects/{project}/webhook/policies", json=policy_body("other"))
        renamed = admin.put(other.headers["Location"].removeprefix(API), json=policy_body("same"))
    assert first.status_code == 201 and other.status_code == 201
    assert second.status_code == 409 and error_of(second) == "CONFLICT"
    assert renamed.status_code == 409


def test_a_policy_of_another_project_is_not_found(berth_server: RunningBerth) -> None:
    _, mine = new_project(berth_server, public=False, prefix="whapi")
    _, theirs = new_project(berth_server, public=False, prefix="whapi")
    with admin_client(berth_server) as admin:
        created = admin.post(f"/projects/{theirs}/webhook/policies", json=policy_body())
        policy_id = created.json()["id"]
        read = admin.get(f"/projects/{mine}/webhook/policies/{policy_id}")
        deleted = admin.delete(f"/projects/{mine}/webhook/policies/{policy_id}")
    assert read.status_code == 404 and deleted.status_code == 404
    assert error_of(read) == "NOT_FOUND"
