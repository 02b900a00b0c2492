"""The artifacts API's changes on a real server: deleting a repository or an artifact, adding
and removing tags, and who may do which."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.factories import (
    DEVELOPER,
    GUEST,
    MAINTAINER,
    artifact_url,
    caller,
    error_of,
    manifest_digest,
    new_member,
    new_project,
    new_user,
    pull_manifest,
    push_image,
    repository_url,
)
from tests.support import RunningBerth

# --- what each endpoint does --------------------------------------------------------------


def test_deleting_a_repository_removes_its_artifacts_and_tags(berth_server: RunningBerth) -> None:
    # Given a nested repository with two tagged artifacts
    repo = f"library/write-{uuid.uuid4().hex[:8]}/app"
    first, second = push_image(berth_server, repo, "v1"), push_image(berth_server, repo, "v2")
    assert first != second
    # When it is deleted through the REST API
    with caller(berth_server, "admin") as admin:
        deleted = admin.delete(repository_url(repo))
        listed = admin.get(f"{repository_url(repo)}/artifacts")
        tags = admin.get(f"/v2/{repo}/tags/list")
    # Then it is gone, with every manifest and tag
    assert deleted.status_code == 200, deleted.text
    assert listed.status_code == 404
    assert tags.status_code == 404
    assert [pull_manifest(berth_server, repo, d).status_code for d in (first, second)] == [404, 404]


def test_an_artifact_deleted_by_tag_is_gone_with_all_its_tags(berth_server: RunningBerth) -> None:
    # Given an artifact with two tags, and another artifact beside it
    repo = f"library/write-{uuid.uuid4().hex[:8]}"
    digest = push_image(berth_server, repo, "v1")
    kept = push_image(berth_server, repo, "other")
    with caller(berth_server, "admin") as admin:
        tagged = admin.post(f"{artifact_url(repo, 'v1')}/tags", json={"name": "v1b"})
        assert tagged.status_code == 201, tagged.text
        # When the artifact is deleted by one of its tags
        deleted = admin.delete(artifact_url(repo, "v1"))
    # Then the artifact and both tags are gone, and the other artifact stays
    assert deleted.status_code == 200, deleted.text
    assert pull_manifest(berth_server, repo, digest).status_code == 404
    assert pull_manifest(berth_server, repo, "v1b").status_code == 404
    assert manifest_digest(berth_server, repo, "other") == kept


def test_a_new_tag_names_the_artifact_and_a_deleted_one_no_longer_does(
    berth_server: RunningBerth,
) -> None:
    # Given an artifact
    repo = f"library/write-{uuid.uuid4().hex[:8]}"
    digest = push_image(berth_server, repo, "v1")
    with caller(berth_server, "admin") as admin:
        # When a tag is added by digest
        created = admin.post(f"{artifact_url(repo, digest)}/tags", json={"name": "stable"})
        # Then the registry serves the artifact under it, and the API lists it
        assert created.status_code == 201, created.text
        assert created.headers["Location"].endswith(f"/artifacts/{digest}/tags/stable")
        assert manifest_digest(berth_server, repo, "stable") == digest
        tags = admin.get(artifact_url(repo, digest)).json()["tags"]
        assert sorted(t["name"] for t in tags) == ["stable", "v1"]
        # When the original tag is removed
        removed = admin.delete(f"{artifact_url(repo, 'stable')}/tags/v1")
    # Then the tag is gone and the artifact stays under its other tag
    assert removed.status_code == 200, removed.text
    assert pull_manifest(berth_server, repo, "v1").status_code == 404
    assert manifest_digest(berth_server, repo, "stable") == digest


# --- bad requests ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, status, code",
    [
        pytest.param({"name": "v1"}, 409, "CONFLICT", id="tag-exists"),
        pytest.param({"name": "other"}, 409, "CONFLICT", id="tag-on-another-artifact"),
        pytest.param({"name": "-bad"}, 400, "BAD_REQUEST", id="invalid-name"),
        pytest.param({"name": "x" * 129}, 400, "BAD_REQUEST", id="name-too-long"),
        pytest.param({}, 400, "BAD_REQUEST", id="no-name"),
        pytest.param({"name": 7}, 400, "BAD_REQUEST", id="name-not-a-string"),
    ],
)
def test_a_tag_that_cannot_be_created_gets_a_harbor_error(
    berth_server: RunningBerth, body: dict[str, object], status: int, code: str
) -> None:
    # Given two artifacts, tagged v1 and other
    repo = f"library/write-{uuid.uuid4().hex[:8]}"
    digest = push_image(berth_server, repo, "v1")
    push_image(berth_server, repo, "other")
    # When a tag is asked for that is taken or malformed
    with caller(berth_server, "admin") as admin:
        answer = admin.post(f"{artifact_url(repo, digest)}/tags", json=body)
    # Then it is refused with Harbor's code, and the tags are as they were
    assert answer.status_code == status, answer.text
    assert error_of(answer) == code
    assert manifest_digest(berth_server, repo, "v1") == digest


@pytest.mark.parametrize(
    "method, path",
    [
        pytest.param("DELETE", "/api/v2.0/projects/library/repositories/nothing-here", id="repo"),
        pytest.param("DELETE", "/api/v2.0/projects/no-such-project/repositories/x", id="project"),
        pytest.param("DELETE", "{artifact}/sha256:" + "0" * 64, id="artifact-digest"),
        pytest.param("DELETE", "{artifact}/nope", id="artifact-tag"),
        pytest.param("POST", "{artifact}/nope/tags", id="tag-on-unknown-artifact"),
        pytest.param("DELETE", "{artifact}/v1/tags/nope", id="unknown-tag"),
        pytest.param("DELETE", "{artifact}/v1/tags/other", id="tag-of-another-artifact"),
    ],
)
def test_what_does_not_exist_is_404(berth_server: RunningBerth, method: str, path: str) -> None:
    # Given a repository with two artifacts, tagged v1 and other
    repo = f"library/write-{uuid.uuid4().hex[:8]}"
    push_image(berth_server, repo, "v1")
    kept = push_image(berth_server, repo, "other")
    url = path.format(artifact=f"{repository_url(repo)}/artifacts")
    # When a missing thing is deleted or tagged
    with caller(berth_server, "admin") as admin:
        answer = admin.request(method, url, json={"name": "new"} if method == "POST" else None)
    # Then it is not found, and nothing changed
    assert answer.status_code == 404, answer.text
    assert error_of(answer) == "NOT_FOUND"
    assert manifest_digest(berth_server, repo, "other") == kept


# --- who may ----------------------------------------------------------------------------------

ENDPOINTS = [
    pytest.param("DELETE", "", id="delete-repository"),
    pytest.param("DELETE", "/artifacts/v1", id="delete-artifact"),
    pytest.param("POST", "/artifacts/v1/tags", id="create-tag"),
    pytest.param("DELETE", "/artifacts/v1/tags/v1", id="delete-tag"),
]


def _attempt(client: httpx.Client, method: str, repo: str, suffix: str) -> httpx.Response:
    body = {"name": "new"} if method == "POST" else None
    return client.request(method, repository_url(repo) + suffix, json=body)


@pytest.mark.parametrize("method, suffix", ENDPOINTS)
def test_anonymous_callers_must_sign_in_on_a_public_project(
    berth_server: RunningBerth, method: str, suffix: str
) -> None:
    # Given an image in a public project
    repo = f"{new_project(berth_server, public=True)[1]}/app"
    digest = push_image(berth_server, repo, "v1")
    # When an anonymous caller changes it
    with caller(berth_server, None) as anonymous:
        answer = _attempt(anonymous, method, repo, suffix)
    # Then they are asked to sign in, and the image is untouched
    assert answer.status_code == 401, answer.text
    assert manifest_digest(berth_server, repo, "v1") == digest


@pytest.mark.parametrize("method, suffix", ENDPOINTS)
def test_a_private_project_is_hidden_from_outsiders(
    berth_server: RunningBerth, method: str, suffix: str
) -> None:
    # Given an image in a private project, and a signed-in user who is no member
    repo = f"{new_project(berth_server)[1]}/app"
    digest = push_image(berth_server, repo, "v1")
    _, outsider = new_user(berth_server, "o")
    # When the outsider, or an anonymous caller, changes it
    with caller(berth_server, outsider) as user, caller(berth_server, None) as anonymous:
        answers = [_attempt(user, method, repo, suffix), _attempt(anonymous, method, repo, suffix)]
    # Then the project does not exist for them
    assert [a.status_code for a in answers] == [404, 404]
    assert manifest_digest(berth_server, repo, "v1") == digest


@pytest.mark.parametrize(
    "role, method, suffix, status",
    [
        pytest.param(GUEST, "DELETE", "", 403, id="guest-delete-repository"),
        pytest.param(GUEST, "DELETE", "/artifacts/v1", 403, id="guest-delete-artifact"),
        pytest.param(GUEST, "POST", "/artifacts/v1/tags", 403, id="guest-create-tag"),
        pytest.param(GUEST, "DELETE", "/artifacts/v1/tags/v1", 403, id="guest-delete-tag"),
        pytest.param(DEVELOPER, "DELETE", "", 403, id="developer-delete-repository"),
        pytest.param(DEVELOPER, "DELETE", "/artifacts/v1", 403, id="developer-delete-artifact"),
        pytest.param(DEVELOPER, "POST", "/artifacts/v1/tags", 201, id="developer-create-tag"),
        pytest.param(DEVELOPER, "DELETE", "/artifacts/v1/tags/v1", 403, id="developer-delete-tag"),
        pytest.param(MAINTAINER, "DELETE", "", 200, id="maintainer-repository"),
        pytest.param(MAINTAINER, "DELETE", "/artifacts/v1", 200, id="maintainer-artifact"),
        pytest.param(MAINTAINER, "DELETE", "/artifacts/v1/tags/v1", 200, id="maintainer-tag"),
    ],
)
def test_roles_decide_who_may_change_what(
    berth_server: RunningBerth, role: int, method: str, suffix: str, status: int
) -> None:
    # Given an image in a private project and a member holding a role there
    _, project = new_project(berth_server)
    repo = f"{project}/app"
    digest = push_image(berth_server, repo, "v1")
    name = new_member(berth_server, project, role, "w")
    # When the member changes it
    with caller(berth_server, name) as client:
        answer = _attempt(client, method, repo, suffix)
    # Then the role decides, and a refusal leaves the image as it was
    assert answer.status_code == status, answer.text
    if status == 403:
        assert error_of(answer) == "DENIED"
        assert manifest_digest(berth_server, repo, "v1") == digest
