"""OCI Distribution Spec v1.1, workflow category "Content Management" (end-9, end-10)."""

from __future__ import annotations

from tests.conformance.oci import (
    OCI_MANIFEST,
    artifact_manifest,
    digest_of,
    image_manifest,
    random_layer,
    unique,
)

ACCEPT = {"Accept": OCI_MANIFEST}


def tag_twice(registry, repo):
    """One image under the tags `one` and `two`."""
    manifest = registry.push_image(repo, "one")
    registry.put_manifest(repo, "two", manifest).raise_for_status()
    return manifest


def test_deleting_tags_returns_202_and_removes_only_that_tag(registry, http, repo):
    # Given one image under two tags
    manifest = tag_twice(registry, repo)

    # When one tag is deleted
    response = http.delete(f"/v2/{repo}/manifests/one")

    # Then that tag is gone, while the other tag and the manifest itself remain
    assert response.status_code == 202
    assert http.get(f"/v2/{repo}/manifests/one", headers=ACCEPT).status_code == 404
    assert http.get(f"/v2/{repo}/manifests/two", headers=ACCEPT).status_code == 200
    assert http.get(f"/v2/{repo}/manifests/{manifest.digest}", headers=ACCEPT).status_code == 200
    assert http.get(f"/v2/{repo}/tags/list").json()["tags"] == ["two"]


def test_deleting_manifests_by_digest_returns_202_and_its_tags_disappear(registry, http, repo):
    # Given one image under two tags, and another image beside it
    manifest = tag_twice(registry, repo)
    other = registry.push_image(repo, "other")

    # When the first image's manifest is deleted by digest
    response = http.delete(f"/v2/{repo}/manifests/{manifest.digest}")

    # Then the manifest and every tag pointing at it answer 404; the other image stays
    assert response.status_code == 202
    for reference in (manifest.digest, "one", "two"):
        assert http.get(f"/v2/{repo}/manifests/{reference}", headers=ACCEPT).status_code == 404
    pulled = http.get(f"/v2/{repo}/manifests/other", headers=ACCEPT)
    assert pulled.headers["Docker-Content-Digest"] == other.digest


def test_deleting_manifests_removes_them_from_referrers(registry, http, repo):
    # Given an artifact that refers to an image
    subject = registry.push_image(repo, "app")
    artifact = artifact_manifest(subject)
    registry.push(repo, artifact)

    # When the artifact's manifest is deleted
    response = http.delete(f"/v2/{repo}/manifests/{artifact.digest}")

    # Then the image no longer lists it as a referrer
    assert response.status_code == 202
    listed = http.get(f"/v2/{repo}/referrers/{subject.digest}").json()["manifests"]
    assert listed == []


def test_deleting_manifests_leaves_the_same_manifest_in_other_repositories(
    registry, http, repo, other_repo
):
    # Given the same image pushed to two repositories
    manifest = image_manifest()
    registry.push(repo, manifest, "v1")
    registry.push(other_repo, manifest, "v1")

    # When it is deleted from one of them
    response = http.delete(f"/v2/{repo}/manifests/{manifest.digest}")

    # Then the other repository still serves it, by tag and by digest
    assert response.status_code == 202
    for reference in ("v1", manifest.digest):
        pulled = http.get(f"/v2/{other_repo}/manifests/{reference}", headers=ACCEPT)
        assert pulled.content == manifest.body


def test_deleting_manifests_in_unknown_repository_returns_404(http):
    # Given a repository that was never pushed to
    repo = f"library/{unique('never')}"

    # When a manifest is deleted from it
    response = http.delete(f"/v2/{repo}/manifests/{digest_of(b'absent')}")

    # Then the answer is 404
    assert response.status_code == 404


def test_deleting_blobs_returns_202_and_blob_is_gone(registry, http, repo):
    # Given a blob in the repository
    digest = registry.push_blob(repo, random_layer().data)

    # When it is deleted
    response = http.delete(f"/v2/{repo}/blobs/{digest}")

    # Then the delete is accepted and the blob is no longer there
    assert response.status_code == 202
    assert http.head(f"/v2/{repo}/blobs/{digest}").status_code == 404


def test_deleting_blobs_leaves_mounted_copies_in_other_repositories(
    registry, http, repo, other_repo
):
    # Given a blob pushed to one repository and mounted into another
    data = random_layer().data
    digest = registry.push_blob(other_repo, data)
    mount = {"mount": digest, "from": other_repo}
    assert http.post(f"/v2/{repo}/blobs/uploads/", params=mount).status_code == 201

    # When it is deleted from the repository it was first pushed to
    response = http.delete(f"/v2/{other_repo}/blobs/{digest}")

    # Then it is gone there, and still served by the repository it was mounted into
    assert response.status_code == 202
    assert http.head(f"/v2/{other_repo}/blobs/{digest}").status_code == 404
    assert http.get(f"/v2/{repo}/blobs/{digest}").content == data


def test_deleting_blobs_unknown_returns_404(registry, http, repo):
    # Given a repository with one blob
    registry.push_blob(repo, random_layer().data)

    # When a blob it never held is deleted
    response = http.delete(f"/v2/{repo}/blobs/{digest_of(b'never uploaded')}")

    # Then the answer is 404
    assert response.status_code == 404
