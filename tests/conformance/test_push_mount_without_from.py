"""OCI Distribution Spec, workflow category "Push", "Mounting a blob from another repository"
without `from` (endpoint end-11): "The registry MAY treat the from parameter as optional, and
it MAY cross-mount the blob if it can be found."

Berth mounts it when the caller may pull some repository that holds it — by role, a public
project, a robot's permissions, and with a bearer token only what the token grants too — and
otherwise opens an upload session (202), as it does for a blob no repository holds, so the
answer never tells whether a repository the caller cannot read has the blob.
"""

from __future__ import annotations

import httpx
import pytest

from tests.conformance.oci import Registry, digest_of, random_layer
from tests.factories import (
    DEVELOPER,
    LIMITED_GUEST,
    PASSWORD,
    access,
    add_member,
    admin_client,
    caller,
    new_member,
    new_project,
    system_robot_body,
)
from tests.support import RunningBerth


def mount(client: httpx.Client, repo: str, digest: str) -> httpx.Response:
    return client.post(f"/v2/{repo}/blobs/uploads/", params={"mount": digest})


def blob_in(client: httpx.Client, repo: str, digest: str) -> int:
    return client.head(f"/v2/{repo}/blobs/{digest}").status_code


def as_client(server: RunningBerth, auth: tuple[str, str]) -> httpx.Client:
    return httpx.Client(base_url=server.url, auth=auth, timeout=30)


@pytest.fixture
def held(registry, berth_server) -> tuple[str, str, bytes]:
    """A blob held only by a repository of a new private project: (repository, digest, data)."""
    _, project = new_project(berth_server)
    data = random_layer(900).data
    source = f"{project}/src"
    return source, registry.push_blob(source, data), data


@pytest.fixture
def pusher(berth_server) -> tuple[str, str]:
    """A Developer of a new private project of their own: (username, their repository)."""
    _, project = new_project(berth_server)
    return new_member(berth_server, project, DEVELOPER), f"{project}/app"


def test_mounting_blob_without_from_returns_201(registry, http, repo, other_repo):
    # Given a blob in another repository of the registry
    data = random_layer(700).data
    digest = registry.push_blob(other_repo, data)

    # When it is mounted into this repository without naming where from
    response = mount(http, repo, digest)

    # Then it is created without an upload, and is pullable from this repository
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"/v2/{repo}/blobs/{digest}"
    assert response.headers["Docker-Content-Digest"] == digest
    assert http.get(f"/v2/{repo}/blobs/{digest}").content == data


def test_mounting_blob_without_from_that_no_repository_holds_opens_an_upload(registry, http, repo):
    # Given a blob that no repository holds
    data = random_layer(300).data

    # When it is mounted without from
    response = mount(http, repo, digest_of(data))

    # Then an upload session opens instead, and the client uploads through it
    assert response.status_code == 202, response.text
    closed = registry.finish_upload(response.headers["Location"], data, digest_of(data))
    assert closed.status_code == 201


def test_mounting_blob_without_from_by_a_member_who_may_pull_the_source(berth_server, held, pusher):
    # Given a blob in a private project where the caller holds the least role that pulls
    source, digest, data = held
    user, target = pusher
    add_member(berth_server, source.split("/")[0], user, LIMITED_GUEST)

    # When the caller mounts it into their own repository without from
    with caller(berth_server, user) as client:
        response = mount(client, target, digest)

        # Then it is mounted and pullable there
        assert response.status_code == 201, response.text
        assert client.get(f"/v2/{target}/blobs/{digest}").content == data


def test_mounting_blob_without_from_is_refused_when_the_caller_may_not_pull_it(
    berth_server, held, pusher
):
    # Given a blob only a private project the caller is no member of holds
    _, digest, data = held
    user, target = pusher

    with caller(berth_server, user) as client:
        # When the caller mounts it without from
        response = mount(client, target, digest)

        # Then it is answered as a blob no repository holds: an upload session, nothing linked
        assert response.status_code == 202, response.text
        assert response.headers["Location"].startswith(f"/v2/{target}/blobs/uploads/")
        assert blob_in(client, target, digest) == 404
        # And the caller, who has the bytes, uploads it as usual
        closed = Registry(client).finish_upload(response.headers["Location"], data, digest)
        assert closed.status_code == 201


def test_mounting_blob_without_from_out_of_a_public_project(registry, berth_server, pusher):
    # Given a blob in a public project the caller is no member of
    _, public = new_project(berth_server, public=True)
    data = random_layer(400).data
    digest = registry.push_blob(f"{public}/base", data)
    user, target = pusher

    # When the caller mounts it without from
    with caller(berth_server, user) as client:
        response = mount(client, target, digest)

        # Then it is mounted: anybody may pull a public project
        assert response.status_code == 201, response.text
        assert client.get(f"/v2/{target}/blobs/{digest}").content == data


@pytest.mark.parametrize(
    ("source_access", "status"),
    [
        pytest.param(["repository:pull"], 201, id="robot-may-pull-the-source"),
        pytest.param(None, 202, id="robot-not-given-the-source"),
    ],
)
def test_mounting_blob_without_from_by_a_robot_follows_its_permissions(
    berth_server, held, source_access, status
):
    # Given a robot that pushes to its own project, and pulls from the blob's only when given
    source, digest, _ = held
    _, own = new_project(berth_server)
    pushes = access("repository:push", "repository:pull")
    entries = [{"kind": "project", "namespace": own, "access": pushes}]
    if source_access:
        project = source.split("/")[0]
        entries.append({"kind": "project", "namespace": project, "access": access(*source_access)})
    with admin_client(berth_server) as admin:
        made = admin.post("/robots", json=system_robot_body(*entries))
    assert made.status_code == 201, made.text
    robot = (made.json()["name"], made.json()["secret"])

    # When the robot mounts the blob without from
    with as_client(berth_server, robot) as client:
        response = mount(client, f"{own}/app", digest)

    # Then it is mounted only when the robot may pull the source
    assert response.status_code == status, response.text


def bearer(server: RunningBerth, user: str, *scopes: str) -> httpx.Client:
    """The registry as user through a bearer token for the scopes."""
    answer = httpx.get(
        f"{server.url}/service/token",
        params=[("service", "berth-registry"), *(("scope", s) for s in scopes)],
        auth=(user, PASSWORD),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    headers = {"Authorization": f"Bearer {answer.json()['token']}"}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30)


@pytest.mark.parametrize(
    ("source_scope", "status"),
    [
        pytest.param(False, 202, id="token-for-the-target-only"),
        pytest.param(True, 201, id="token-granting-pull-on-the-source"),
    ],
)
def test_mounting_blob_without_from_with_a_token_needs_the_token_to_grant_the_source(
    berth_server, held, pusher, source_scope, status
):
    # Given a caller who may pull the blob's repository by role
    source, digest, _ = held
    user, target = pusher
    add_member(berth_server, source.split("/")[0], user, LIMITED_GUEST)
    scopes = [f"repository:{target}:pull,push"]
    if source_scope:
        scopes.append(f"repository:{source}:pull")

    # When they mount it without from, with a token for those scopes
    with bearer(berth_server, user, *scopes) as client:
        response = mount(client, target, digest)

    # Then it is mounted only when the token grants pull on the source too
    assert response.status_code == status, response.text
