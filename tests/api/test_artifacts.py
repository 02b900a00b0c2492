"""The artifacts API on a real server: listing, one artifact, tags, index references, access."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.factories import (
    GZIP_LAYER,
    OCI_MANIFEST,
    artifact_url,
    client_as,
    new_user,
    push_layers,
    registry_client,
    settled,
    sha256,
)
from tests.support import RunningBerth, wait_until

OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def list_url(repo: str) -> str:
    return artifact_url(repo, "").rstrip("/")


def test_listing_shows_tags_size_push_time_and_media_types(berth_server: RunningBerth) -> None:
    # Given a repository with two images, one tagged twice
    repo = f"library/art-{uuid.uuid4().hex[:8]}/app"
    with registry_client(berth_server) as client:
        first, _ = push_layers(client, repo, "v1", [GZIP_LAYER])
        client.put(
            f"/v2/{repo}/manifests/latest",
            content=client.get(f"/v2/{repo}/manifests/v1").content,
            headers={"Content-Type": OCI_MANIFEST},
        ).raise_for_status()
        second, _ = push_layers(client, repo, "v2", [GZIP_LAYER, GZIP_LAYER])
        # When the artifacts are listed
        listed = client.get(list_url(repo))
    # Then both are there, newest first, with their tags, sizes and types
    assert listed.status_code == 200, listed.text
    assert listed.headers["X-Total-Count"] == "2"
    items = listed.json()
    assert [a["digest"] for a in items] == [second, first]
    by_digest = {a["digest"]: a for a in items}
    assert sorted(t["name"] for t in by_digest[first]["tags"]) == ["latest", "v1"]
    assert [t["name"] for t in by_digest[second]["tags"]] == ["v2"]
    for artifact in items:
        assert artifact["type"] == "IMAGE"
        assert artifact["media_type"] == "application/vnd.oci.image.config.v1+json"
        assert artifact["manifest_media_type"] == OCI_MANIFEST
        assert artifact["size"] > 200_000
        assert artifact["push_time"].endswith("Z")
        assert all(t["artifact_id"] == artifact["id"] for t in artifact["tags"])
        assert all(t["immutable"] is False for t in artifact["tags"])
    assert by_digest[second]["size"] > by_digest[first]["size"]


def test_a_pull_sets_the_pull_time(berth_server: RunningBerth) -> None:
    # Given a pushed image, never pulled
    repo = f"library/art-{uuid.uuid4().hex[:8]}"
    with registry_client(berth_server) as client:
        digest, _ = push_layers(client, repo, "v1", [GZIP_LAYER])
        assert client.get(artifact_url(repo, digest)).json()["pull_time"] is None
        # When it is pulled by tag
        pulled = client.get(f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert pulled.status_code == 200

        # Then its pull time appears (pulls are written in batches, off the pull path)
        def pull_time() -> str | None:
            return client.get(artifact_url(repo, digest)).json()["pull_time"]  # type: ignore[no-any-return]

        when = wait_until("the artifact's pull_time is set", pull_time, within=15)
        listed = client.get(artifact_url(repo, "").rstrip("/")).json()
    assert when.endswith("Z") and when >= listed[0]["push_time"]
    assert listed[0]["pull_time"] == when


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda name: name.replace("/", "%252F"), id="double-encoded"),
        pytest.param(lambda name: name.replace("/", "%2F"), id="single-encoded"),
    ],
)
def test_one_artifact_by_tag_or_digest(berth_server: RunningBerth, encode: object) -> None:
    # Given a pushed image in a nested repository
    name = f"art-{uuid.uuid4().hex[:8]}/nested/app"
    repo = f"library/{name}"
    with registry_client(berth_server) as client:
        digest, _ = push_layers(client, repo, "v1", [GZIP_LAYER])
        base = f"/api/v2.0/projects/library/repositories/{encode(name)}/artifacts"  # type: ignore[operator]
        # When it is read by tag and by digest
        by_tag = client.get(f"{base}/v1")
        by_digest = client.get(f"{base}/{digest}")
    # Then both name the same artifact
    assert by_tag.status_code == 200, by_tag.text
    assert by_tag.json()["digest"] == digest
    assert by_digest.json()["id"] == by_tag.json()["id"]
    assert "verification" in by_tag.json()


def test_paging_and_without_tags(berth_server: RunningBerth) -> None:
    # Given three images
    repo = f"library/art-{uuid.uuid4().hex[:8]}"
    with registry_client(berth_server) as client:
        for tag in ("a", "b", "c"):
            push_layers(client, repo, tag, [GZIP_LAYER])
        # When a page of two is asked for, without tags
        page = client.get(list_url(repo), params={"page_size": 2, "with_tag": "false"})
        last = client.get(list_url(repo), params={"page_size": 2, "page": 2})
    # Then two come back, with a link to the next page, and no tags
    assert page.status_code == 200
    assert len(page.json()) == 2
    assert page.headers["X-Total-Count"] == "3"
    assert 'rel="next"' in page.headers["Link"]
    assert all(a["tags"] is None for a in page.json())
    assert len(last.json()) == 1


def test_an_index_lists_its_children_with_platforms(berth_server: RunningBerth) -> None:
    # Given an index over one image
    repo = f"library/art-{uuid.uuid4().hex[:8]}"
    with registry_client(berth_server) as client:
        child, _ = push_layers(client, repo, "amd64", [GZIP_LAYER])
        size = len(client.get(f"/v2/{repo}/manifests/{child}").content)
        platform = {"architecture": "amd64", "os": "linux"}
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": child, "size": size, "platform": platform}
            ],
        }
        body = json.dumps(index).encode()
        put = client.put(
            f"/v2/{repo}/manifests/multi", content=body, headers={"Content-Type": OCI_INDEX}
        )
        assert put.status_code == 201, put.text
        # When the index is read
        artifact = settled(client, repo, sha256(body))
        child_artifact = client.get(artifact_url(repo, child)).json()
    # Then it names its child and the child's platform, and is verified
    assert artifact["type"] == "IMAGE"
    assert artifact["manifest_media_type"] == OCI_INDEX
    assert artifact["references"] == [
        {
            "parent_id": artifact["id"],
            "child_id": child_artifact["id"],
            "child_digest": child,
            "platform": platform,
            "annotations": None,
        }
    ]
    assert artifact["verification"]["status"] == "verified"


def test_a_private_project_is_hidden_from_outsiders(berth_server: RunningBerth) -> None:
    # Given an image in a private project
    project = f"priv{uuid.uuid4().hex[:8]}"
    with registry_client(berth_server) as client:
        made = client.post("/api/v2.0/projects", json={"project_name": project})
        assert made.status_code == 201, made.text
        push_layers(client, f"{project}/app", "v1", [GZIP_LAYER])
    _, outsider = new_user(berth_server)
    url = f"/projects/{project}/repositories/app/artifacts"
    # When an anonymous caller and a non-member ask for its artifacts
    with client_as(berth_server, None) as anonymous, client_as(berth_server, outsider) as user:
        answers = [anonymous.get(url), user.get(url), user.get(f"{url}/v1")]
    # Then the project does not exist for them
    assert [a.status_code for a in answers] == [404, 404, 404]
    assert answers[0].json()["errors"][0]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    "path, status",
    [
        pytest.param("/projects/library/repositories/nothing-here/artifacts", 404, id="no-repo"),
        pytest.param("/projects/nope-none/repositories/x/artifacts", 404, id="no-project"),
        pytest.param("/projects/library/repositories/x/artifacts?page_size=0", 400, id="paging"),
        pytest.param("/projects/library/repositories/x/artifacts?with_tag=maybe", 400, id="flag"),
    ],
)
def test_bad_requests_get_harbor_errors(berth_server: RunningBerth, path: str, status: int) -> None:
    # Given a repository x with one image
    with registry_client(berth_server) as client:
        push_layers(client, "library/x", "v1", [GZIP_LAYER])
        # When a bad or unknown thing is asked for
        got = client.get(f"/api/v2.0{path}")
    # Then the answer is a clear error in Harbor's envelope
    assert got.status_code == status, got.text
    assert got.json()["errors"][0]["message"]


def test_an_unknown_artifact_is_404(berth_server: RunningBerth) -> None:
    # Given a repository, when an artifact it lacks is asked for, then it is not found
    with registry_client(berth_server) as client:
        push_layers(client, "library/x", "v1", [GZIP_LAYER])
        missing = client.get(artifact_url("library/x", "sha256:" + "0" * 64))
        no_tag = client.get(artifact_url("library/x", "nope"))
    assert (missing.status_code, no_tag.status_code) == (404, 404)
    assert missing.json()["errors"][0]["code"] == "NOT_FOUND"
