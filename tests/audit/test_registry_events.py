"""Every registry operation leaves its event in the audit log, as the audit search API shows it:
pushes and pulls by a real Docker engine, deletes through the distribution API and the REST API,
tags created and deleted, repositories deleted, and refused attempts recorded as failed."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import (
    DEVELOPER,
    GUEST,
    PASSWORD,
    add_member,
    artifact_url,
    caller,
    new_member,
    new_project,
    new_user,
    pull_manifest,
    push_image,
    repository_url,
)
from tests.peers import Docker
from tests.support import ADMIN, RunningBerth

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def find_event(
    server: RunningBerth,
    operation: str,
    resource_type: str,
    resource: str,
    project: str = "library",
    only: bool = True,
    timeout: float = 5.0,
) -> dict[str, Any]:
    """The newest event of that kind whose resource contains `resource` (with `only`, the one
    such event), as the system admin finds it; polled up to timeout, since pulls are written
    in batches. It must also be in its project's log, which is selected by the project's id."""
    params = {
        "q": f"operation={operation},resource_type={resource_type},resource=~{resource}",
        "sort": "-op_time",
    }
    deadline = time.monotonic() + timeout
    while True:
        found = _search(server, "/api/v2.0/auditlog-exts", params)
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(found) == 1 if only else found, f"{params['q']}: {found}"
    in_project = _search(server, f"/api/v2.0/projects/{project}/auditlog-exts", params)
    assert found[0]["id"] in [e["id"] for e in in_project]
    return found[0]


def _search(server: RunningBerth, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
    got = httpx.get(server.url + path, params=params, auth=ADMIN, timeout=30)
    assert got.status_code == 200, got.text
    return list(got.json())


def new_repo() -> str:
    return f"library/audit-{uuid.uuid4().hex[:8]}"


# --- a real Docker engine ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build context for a one-file image (nothing to pull: FROM scratch)."""
    context = tmp_path_factory.mktemp("audit-context")
    (context / "hello.txt").write_text(f"audited {uuid.uuid4()}\n")
    (context / "Dockerfile").write_text("FROM scratch\nCOPY hello.txt /hello.txt\n")
    return context


@pytest.fixture
def pusher(berth_server: RunningBerth) -> Iterator[tuple[str, str]]:
    """(project, username): a developer of a new private project, so that the pusher is
    somebody other than the admin."""
    _, project = new_project(berth_server)
    _, name = new_user(berth_server, "pusher")
    add_member(berth_server, project, name, DEVELOPER)
    yield project, name


@pytest.mark.e2e
def test_a_docker_push_and_pull_are_recorded_with_who_and_from_where(
    dockerd: Docker,
    berth_server: RunningBerth,
    tiny_context: Path,
    pusher: tuple[str, str],
) -> None:
    # Given a developer signed in to Docker and an image built locally
    project, user = pusher
    dockerd.login(berth_server.host, user, PASSWORD)
    repo = f"{project}/app"
    ref = f"{berth_server.host}/{repo}:v1"
    dockerd.build(tiny_context, ref)

    # When Docker pushes it
    digest = dockerd.push(ref)

    # Then the push is recorded: the artifact, the pusher, their address and client
    pushed_event = find_event(berth_server, "create", "artifact", f"{repo}:v1@", project)
    assert pushed_event["resource"] == f"{repo}:v1@{digest}"
    assert pushed_event["username"] == user
    assert pushed_event["operation_result"] is True
    assert pushed_event["project"] == project
    assert pushed_event["client_ip"] == "127.0.0.1"
    assert "docker" in pushed_event["user_agent"].lower()

    # When the local copy is removed and Docker pulls the image back
    dockerd.remove(ref)
    dockerd("pull", ref)

    # Then the pull is recorded too (within the batching interval), by the same user
    # (Docker may read the manifest by tag, then by digest: each read is a pull.)
    pulled = find_event(berth_server, "pull", "artifact", repo, project, only=False)
    assert pulled["resource"].endswith(f"@{digest}")
    assert pulled["username"] == user
    assert pulled["operation_result"] is True
    assert pulled["client_ip"] == "127.0.0.1"
    assert "docker" in pulled["user_agent"].lower()
    dockerd.remove(ref)


# --- deletes through the distribution API -------------------------------------------------


def test_an_artifact_deleted_through_the_v2_api_is_recorded(berth_server: RunningBerth) -> None:
    # Given a pushed artifact
    repo = new_repo()
    digest = push_image(berth_server, repo, "v1")
    # When it is deleted by digest through the distribution API
    with caller(berth_server, "admin") as admin:
        deleted = admin.delete(f"/v2/{repo}/manifests/{digest}")
    # Then it is gone and its deletion is recorded, by whom and from where
    assert deleted.status_code == 202, deleted.text
    assert pull_manifest(berth_server, repo, digest).status_code == 404
    event = find_event(berth_server, "delete", "artifact", repo)
    assert event["resource"] == f"{repo}@{digest}"
    assert (event["username"], event["project"]) == ("admin", "library")
    assert event["operation_result"] is True
    assert event["client_ip"] == "127.0.0.1"
    assert "httpx" in event["user_agent"]


def test_a_tag_deleted_through_the_v2_api_is_recorded(berth_server: RunningBerth) -> None:
    # Given an artifact tagged v1
    repo = new_repo()
    digest = push_image(berth_server, repo, "v1")
    # When the tag is deleted through the distribution API
    with caller(berth_server, "admin") as admin:
        deleted = admin.delete(f"/v2/{repo}/manifests/v1")
    # Then the tag is gone, the artifact stays, and a tag deletion is recorded
    assert deleted.status_code == 202, deleted.text
    assert pull_manifest(berth_server, repo, "v1").status_code == 404
    assert pull_manifest(berth_server, repo, digest).status_code == 200
    event = find_event(berth_server, "delete", "tag", repo)
    assert event["resource"] == f"{repo}:v1"
    assert (event["username"], event["operation_result"]) == ("admin", True)


# --- changes through the REST API ---------------------------------------------------------


def test_an_artifact_deleted_through_the_rest_api_is_recorded_once(
    berth_server: RunningBerth,
) -> None:
    # Given a pushed artifact
    repo = new_repo()
    digest = push_image(berth_server, repo, "v1")
    # When it is deleted through the REST API, named by its tag
    with caller(berth_server, "admin") as admin:
        deleted = admin.delete(artifact_url(repo, "v1"))
    # Then it is gone, and exactly one deletion is recorded, naming its digest
    assert deleted.status_code == 200, deleted.text
    assert pull_manifest(berth_server, repo, digest).status_code == 404
    event = find_event(berth_server, "delete", "artifact", repo)
    assert event["resource"] == f"{repo}@{digest}"
    assert (event["username"], event["project"], event["operation_result"]) == (
        "admin",
        "library",
        True,
    )


def test_a_tag_created_through_the_rest_api_is_recorded(berth_server: RunningBerth) -> None:
    # Given a pushed artifact
    repo = new_repo()
    digest = push_image(berth_server, repo, "v1")
    # When a tag is added to it through the REST API
    with caller(berth_server, "admin") as admin:
        created = admin.post(f"{artifact_url(repo, 'v1')}/tags", json={"name": "v2"})
    # Then the registry serves the artifact under the new tag, and the creation is recorded
    assert created.status_code == 201, created.text
    assert pull_manifest(berth_server, repo, "v2").headers["Docker-Content-Digest"] == digest
    event = find_event(berth_server, "create", "tag", repo)
    assert event["resource"] == f"{repo}:v2"
    assert digest in event["operation_description"]
    assert (event["username"], event["project"], event["operation_result"]) == (
        "admin",
        "library",
        True,
    )


def test_a_tag_deleted_through_the_rest_api_is_recorded(berth_server: RunningBerth) -> None:
    # Given an artifact tagged v1 and v2
    repo = new_repo()
    digest = push_image(berth_server, repo, "v1")
    with caller(berth_server, "admin") as admin:
        assert admin.post(f"{artifact_url(repo, digest)}/tags", json={"name": "v2"}).is_success
        # When v1 is removed through the REST API
        deleted = admin.delete(f"{artifact_url(repo, digest)}/tags/v1")
    # Then v1 is gone, v2 stays, and the tag deletion is recorded
    assert deleted.status_code == 200, deleted.text
    assert pull_manifest(berth_server, repo, "v1").status_code == 404
    assert pull_manifest(berth_server, repo, "v2").status_code == 200
    event = find_event(berth_server, "delete", "tag", repo)
    assert event["resource"] == f"{repo}:v1"
    assert (event["username"], event["operation_result"]) == ("admin", True)


def test_a_repository_deleted_through_the_rest_api_is_recorded(berth_server: RunningBerth) -> None:
    # Given a repository with an artifact
    repo = new_repo()
    digest = push_image(berth_server, repo, "v1")
    # When the repository is deleted through the REST API
    with caller(berth_server, "admin") as admin:
        deleted = admin.delete(repository_url(repo))
        tags = admin.get(f"/v2/{repo}/tags/list")
    # Then it is gone, and its deletion is recorded under its name
    assert deleted.status_code == 200, deleted.text
    assert tags.status_code == 404
    assert pull_manifest(berth_server, repo, digest).status_code == 404
    event = find_event(berth_server, "delete", "repository", repo)
    assert event["resource"] == repo
    assert (event["username"], event["project"], event["operation_result"]) == (
        "admin",
        "library",
        True,
    )


# --- refused attempts -----------------------------------------------------------------------


def test_a_refused_push_is_recorded_as_failed(berth_server: RunningBerth) -> None:
    # Given a repository, when a malformed manifest is pushed to it
    repo = new_repo()
    with caller(berth_server, "admin") as admin:
        refused = admin.put(
            f"/v2/{repo}/manifests/v1",
            content=json.dumps({"schemaVersion": 2, "layers": "not a list"}).encode(),
            headers={"Content-Type": OCI_MANIFEST},
        )
    # Then the push is refused, nothing is stored, and the attempt is recorded as failed
    assert refused.status_code == 400, refused.text
    assert pull_manifest(berth_server, repo, "v1").status_code == 404
    event = find_event(berth_server, "create", "artifact", repo)
    assert event["resource"].startswith(f"{repo}:v1")
    assert event["operation_result"] is False
    assert (event["username"], event["project"]) == ("admin", "library")
    assert "manifest invalid" in event["operation_description"]


def test_a_tag_delete_denied_to_a_guest_is_recorded_as_failed(berth_server: RunningBerth) -> None:
    # Given a tagged image in a private project, and a Guest of that project
    _, project = new_project(berth_server)
    repo = f"{project}/app"
    digest = push_image(berth_server, repo, "v1")
    guest = new_member(berth_server, project, GUEST)
    # When the Guest tries to delete the tag
    with caller(berth_server, guest) as client:
        denied = client.delete(f"{artifact_url(repo, digest)}/tags/v1")
    # Then it is denied, the tag stays, and the attempt is recorded as failed, by the Guest
    assert denied.status_code == 403, denied.text
    assert pull_manifest(berth_server, repo, "v1").status_code == 200
    event = find_event(berth_server, "delete", "tag", repo, project)
    assert event["resource"] == f"{repo}:v1"
    assert event["operation_result"] is False
    assert (event["username"], event["project"]) == (guest, project)
    assert "tag:delete" in event["operation_description"]
