"""Webhook delivery to a real HTTP receiver on loopback: push, pull and delete events, the
signature, CloudEvents, and retries recorded in the executions history."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import admin_client, new_project, push_image
from tests.pipelines.webhook_receiver import (
    FAST_RETRIES,
    Receiver,
    add_policy,
    serving_receiver,
)
from tests.support import (
    ADMIN,
    RunningBerth,
    running_berth_on,
    running_berth_with,
    wait_until,
)

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving_receiver() as state:
        yield state


@pytest.fixture(scope="module", params=["sqlite", "sqlite-redis", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningBerth]:
    """A Berth whose job retries back off for 50 ms, not seconds; jobs on the embedded
    broker, or on Redis with a `berth worker` process."""
    data_dir = Path(tmp_path_factory.mktemp(f"hooks-{request.param}"))
    if request.param.startswith("sqlite"):
        broker = "redis" if request.param.endswith("redis") else "embedded"
        with running_berth_on(data_dir, broker, FAST_RETRIES) as berth:
            yield berth
        return
    with running_berth_with("postgres", data_dir, FAST_RETRIES) as berth:
        yield berth


def digest_of(server: RunningBerth, repository: str, tag: str) -> str:
    with httpx.Client(base_url=server.url, auth=ADMIN) as client:
        head = client.head(f"/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST})
    return head.headers["Docker-Content-Digest"]


def executions(server: RunningBerth, project: str, policy_id: int) -> list[dict[str, Any]]:
    with admin_client(server) as admin:
        listed = admin.get(f"/projects/{project}/webhook/policies/{policy_id}/executions")
    assert listed.status_code == 200, listed.text
    return list(listed.json())


def test_a_push_is_posted_signed_with_the_policy_secret(
    server: RunningBerth, receiver: Receiver
) -> None:
    # Given a project with a webhook policy that sends an Authorization header
    _, project = new_project(server, public=False, prefix="wh")
    add_policy(server, project, receiver, target={"auth_header": "Bearer xyz"})
    # When an image is pushed
    push_image(server, f"{project}/app", "v1")
    # Then the receiver gets Harbor's PUSH_ARTIFACT payload, signed with the secret
    event = receiver.wait_for(1)[0]
    payload = event.json
    assert payload["type"] == "PUSH_ARTIFACT" and payload["operator"] == ADMIN[0]
    resource = payload["event_data"]["resources"][0]
    assert resource["digest"] == digest_of(server, f"{project}/app", "v1")
    assert resource["tag"] == "v1" and resource["resource_url"].endswith(f"{project}/app:v1")
    assert payload["event_data"]["repository"] == {
        "name": "app",
        "namespace": project,
        "repo_full_name": f"{project}/app",
        "repo_type": "private",
    }
    expected = hmac.new(b"s3cret", event.body, hashlib.sha256).hexdigest()
    assert event.headers["X-Berth-Signature"] == f"sha256={expected}"
    assert event.headers["Authorization"] == "Bearer xyz"


def test_a_cloudevents_policy_gets_a_structured_cloudevent(
    server: RunningBerth, receiver: Receiver
) -> None:
    # Given a policy asking for CloudEvents
    _, project = new_project(server, public=True, prefix="wh")
    add_policy(server, project, receiver, target={"payload_format": "CloudEvents"})
    # When an image is pushed
    push_image(server, f"{project}/app", "v2")
    # Then the receiver gets a CloudEvents 1.0 envelope around the event data
    event = receiver.wait_for(1)[0]
    body = event.json
    assert event.headers["Content-Type"] == "application/cloudevents+json"
    assert body["specversion"] == "1.0" and body["type"] == "harbor.artifact.pushed"
    assert body["id"] and body["source"] and body["time"]
    assert body["datacontenttype"] == "application/json"
    assert body["data"]["resources"][0]["tag"] == "v2"
    assert body["data"]["repository"]["repo_type"] == "public"


def test_a_failing_receiver_gets_the_event_again_until_it_takes_it(
    server: RunningBerth, receiver: Receiver
) -> None:
    # Given a receiver that answers 500 twice, then 200
    _, project = new_project(server, public=False, prefix="wh")
    policy_id = add_policy(server, project, receiver)
    receiver.statuses = [500, 500]
    # When an image is pushed
    push_image(server, f"{project}/app", "v1")
    # Then the event arrives three times, the same bytes each time
    received = receiver.wait_for(3)
    # And the history shows one execution that succeeded at the third attempt (after which
    # nothing is sent again)
    history = wait_until(
        "the execution succeeded",
        lambda: (h := executions(server, project, policy_id)) and h[0]["status"] == "Success" and h,
        within=10,
    )
    assert len(received) == 3 and len({r.body for r in received}) == 1
    assert len(history) == 1
    assert (history[0]["attempts"], history[0]["response_code"]) == (3, 200)
    assert history[0]["event_type"] == "PUSH_ARTIFACT"


def test_a_receiver_that_never_takes_it_leaves_a_failed_execution(
    server: RunningBerth, receiver: Receiver
) -> None:
    # Given a receiver that always answers 503
    _, project = new_project(server, public=False, prefix="wh")
    policy_id = add_policy(server, project, receiver)
    receiver.statuses = [503] * 100
    # When an image is pushed
    push_image(server, f"{project}/app", "v1")
    # Then after the last attempt the execution is failed with the receiver's answer
    deadline = time.monotonic() + 40
    while not (history := executions(server, project, policy_id)) or (
        history[0]["status"] != "Error"
    ):
        assert time.monotonic() < deadline, history
        time.sleep(0.2)
    assert (history[0]["attempts"], history[0]["response_code"]) == (5, 503)
    assert "503" in history[0]["status_message"]
    assert len(receiver.received) == 5


def test_pulls_and_deletes_are_sent_too(server: RunningBerth, receiver: Receiver) -> None:
    # Given a pushed image and a policy created after the push (with a Redis worker the push
    # job may still be running, so its PUSH_ARTIFACT may or may not arrive: it is left out)
    _, project = new_project(server, public=False, prefix="wh")
    push_image(server, f"{project}/app", "v1")
    digest = digest_of(server, f"{project}/app", "v1")
    add_policy(server, project, receiver)

    def events(kind: str) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = [r.json for r in receiver.received if r.json["type"] == kind]
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no {kind} among {[r.json['type'] for r in receiver.received]}")

    with httpx.Client(base_url=server.url, auth=ADMIN) as client:
        # When the image is pulled by tag, then deleted by digest
        pulled = client.get(f"/v2/{project}/app/manifests/v1", headers={"Accept": MANIFEST})
        assert pulled.status_code == 200
        (pull,) = events("PULL_ARTIFACT")
        deleted = client.delete(f"/v2/{project}/app/manifests/{digest}")
        assert deleted.status_code == 202
    # Then the receiver hears of both, with who did them
    (delete,) = events("DELETE_ARTIFACT")
    assert pull["operator"] == ADMIN[0]
    assert pull["event_data"]["resources"][0] == {
        "digest": digest,
        "tag": "v1",
        "resource_url": f"{server.host}/{project}/app:v1",
    }
    assert delete["event_data"]["resources"][0]["digest"] == digest


@pytest.mark.parametrize(
    "policy",
    [
        pytest.param({"enabled": False}, id="disabled-policy"),
        pytest.param({"event_types": ["DELETE_ARTIFACT"]}, id="other-event-types"),
    ],
)
def test_a_policy_that_does_not_want_the_event_gets_nothing(
    server: RunningBerth, receiver: Receiver, policy: dict[str, Any]
) -> None:
    # Given a policy that is disabled or wants other events
    _, project = new_project(server, public=False, prefix="wh")
    policy_id = add_policy(server, project, receiver, **policy)
    # (and a policy that wants everything, whose deliveries say the events were handled)
    sentinel = {"address": f"{receiver.url}?sentinel"}
    add_policy(server, project, receiver, name="sentinel", target=sentinel)
    # When an image is pushed and pulled
    push_image(server, f"{project}/app", "v1")
    with httpx.Client(base_url=server.url, auth=ADMIN) as client:
        client.get(f"/v2/{project}/app/manifests/v1", headers={"Accept": MANIFEST})
    receiver.wait_for(2)  # the sentinel's push and pull
    # Then nothing is sent for the policy and it has no execution
    assert [r.path for r in receiver.received] == ["/hook?sentinel"] * 2
    assert executions(server, project, policy_id) == []
