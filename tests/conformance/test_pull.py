"""OCI Distribution Spec v1.1, workflow category "Pull" (end-1, end-2, end-3)."""

from __future__ import annotations

import pytest

from tests.conformance.oci import (
    MANIFEST_KINDS,
    OCI_INDEX,
    OCI_MANIFEST,
    digest_of,
    image_manifest,
    random_layer,
    sample_manifest,
)


def test_determining_support_v2_returns_200(http):
    # Given a running registry
    # When the client probes the base endpoint
    response = http.get("/v2/")

    # Then it answers 200: the registry implements the specification
    assert response.status_code == 200


@pytest.mark.parametrize("kind", [pytest.param(kind, id=kind) for kind in MANIFEST_KINDS])
def test_pull_manifests_by_tag_returns_stored_bytes_unchanged(registry, http, repo, kind):
    # Given a manifest of this kind pushed under a tag
    manifest = sample_manifest(kind)
    registry.push(repo, manifest, "v1")

    # When it is pulled by tag, accepting its media type
    response = http.get(f"/v2/{repo}/manifests/v1", headers={"Accept": manifest.media_type})

    # Then the body is byte for byte what was pushed, typed with the pushed media type
    assert response.status_code == 200
    assert response.content == manifest.body
    assert response.headers["Content-Type"].split(";")[0] == manifest.media_type


def test_pull_manifests_by_tag_returns_digest_header(registry, http, repo):
    # Given an image pushed under a tag
    manifest = registry.push_image(repo, "latest")

    # When it is pulled by tag
    response = http.get(f"/v2/{repo}/manifests/latest", headers={"Accept": OCI_MANIFEST})

    # Then Docker-Content-Digest is the digest of the returned bytes
    assert response.status_code == 200
    assert response.headers["Docker-Content-Digest"] == manifest.digest
    assert digest_of(response.content) == manifest.digest


def test_pull_manifests_by_digest_returns_manifest(registry, http, repo):
    # Given an index pushed by digest only, without any tag
    manifest = sample_manifest("oci-index")
    registry.push(repo, manifest)

    # When it is pulled by that digest
    response = http.get(f"/v2/{repo}/manifests/{manifest.digest}", headers={"Accept": OCI_INDEX})

    # Then the index comes back unchanged with its digest
    assert response.status_code == 200
    assert response.content == manifest.body
    assert response.headers["Docker-Content-Digest"] == manifest.digest


def test_pull_manifests_unknown_reference_returns_404(registry, http, repo):
    # Given a repository with one image
    registry.push_image(repo, "present")

    # When a tag and a digest that were never pushed are requested
    by_tag = http.get(f"/v2/{repo}/manifests/absent")
    by_digest = http.get(f"/v2/{repo}/manifests/{digest_of(b'never pushed')}")

    # Then both are 404
    assert by_tag.status_code == 404
    assert by_digest.status_code == 404


def test_pull_blobs_returns_content_and_digest_header(registry, http, repo):
    # Given a blob in the repository
    data = random_layer(4096).data
    digest = registry.push_blob(repo, data)

    # When it is pulled by digest
    response = http.get(f"/v2/{repo}/blobs/{digest}")

    # Then the content and the digest header match the blob
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["Docker-Content-Digest"] == digest


def test_pull_blobs_by_sha512_digest(registry, http, repo):
    # Given a blob uploaded under its sha512 digest
    data = random_layer(1000).data
    digest = registry.push_blob(repo, data, algorithm="sha512")

    # When it is pulled by that digest
    response = http.get(f"/v2/{repo}/blobs/{digest}")

    # Then the content comes back, and its sha512 is the requested digest
    assert response.status_code == 200
    assert digest_of(response.content, "sha512") == digest


def test_pull_blobs_held_only_by_another_repository_returns_404(registry, http, repo, other_repo):
    # Given a blob pushed to another repository, and this repository with content of its own
    digest = registry.push_blob(other_repo, random_layer().data)
    registry.push_image(repo, "latest")

    # When the other repository's blob is pulled through this one
    response = http.get(f"/v2/{repo}/blobs/{digest}")

    # Then it is not found: a blob belongs to the repositories it was pushed or mounted to
    assert response.status_code == 404


def test_pull_manifests_held_only_by_another_repository_returns_404(
    registry, http, repo, other_repo
):
    # Given an image pushed to another repository, and this repository with an image of its own
    foreign = registry.push_image(other_repo, "latest")
    registry.push_image(repo, "latest")

    # When the other repository's manifest is pulled by digest through this one
    response = http.get(f"/v2/{repo}/manifests/{foreign.digest}", headers={"Accept": OCI_MANIFEST})

    # Then it is not found
    assert response.status_code == 404


def test_pull_blobs_unknown_digest_returns_404(registry, http, repo):
    # Given a repository with content, but not this blob
    registry.push_image(repo, "latest")

    # When an unknown blob is pulled
    response = http.get(f"/v2/{repo}/blobs/{digest_of(b'no such blob')}")

    # Then the answer is 404
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("range_header", "start", "end"),
    [
        pytest.param("bytes=0-99", 0, 99, id="head-of-blob"),
        pytest.param("bytes=100-199", 100, 199, id="middle"),
        pytest.param("bytes=999-999", 999, 999, id="last-byte"),
        pytest.param("bytes=900-5000", 900, 999, id="end-past-size-is-clamped"),
    ],
)
def test_pull_blobs_range_request_returns_partial_content(
    registry, http, repo, range_header, start, end
):
    # Given a 1000-byte blob
    data = random_layer(1000).data
    digest = registry.push_blob(repo, data)

    # When a byte range of it is requested
    response = http.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": range_header})

    # Then the answer is 206 with exactly that range (RFC 9110 section 14)
    assert response.status_code == 206
    assert response.content == data[start : end + 1]
    assert response.headers["Content-Range"] == f"bytes {start}-{end}/1000"


def test_pull_blobs_unsatisfiable_range_returns_416(registry, http, repo):
    # Given a 100-byte blob
    digest = registry.push_blob(repo, random_layer(100).data)

    # When a range starting past its end is requested
    response = http.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=200-300"})

    # Then the range is not satisfiable
    assert response.status_code == 416


def test_pull_blobs_range_with_unknown_unit_is_ignored(registry, http, repo):
    # Given a 100-byte blob
    data = random_layer(100).data
    digest = registry.push_blob(repo, data)

    # When a range in a unit other than bytes is requested
    response = http.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "items=0-1"})

    # Then the Range header is ignored and the whole blob is served (RFC 9110 section 14.2: MUST)
    assert response.status_code == 200
    assert response.content == data


def test_checking_if_manifest_exists_head_returns_digest_and_length(registry, http, repo):
    # Given an image pushed under a tag
    manifest = registry.push_image(repo, "v1")

    # When the manifest is checked with HEAD
    response = http.head(f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST})

    # Then it exists, with its digest and size, and no body
    assert response.status_code == 200
    assert response.headers["Docker-Content-Digest"] == manifest.digest
    assert int(response.headers["Content-Length"]) == len(manifest.body)
    assert response.content == b""


def test_checking_if_blob_exists_head_returns_digest_and_length(registry, http, repo):
    # Given a blob in the repository
    data = random_layer(777).data
    digest = registry.push_blob(repo, data)

    # When the blob is checked with HEAD
    response = http.head(f"/v2/{repo}/blobs/{digest}")

    # Then it exists, with its digest and size, and no body
    assert response.status_code == 200
    assert response.headers["Docker-Content-Digest"] == digest
    assert int(response.headers["Content-Length"]) == 777
    assert response.content == b""


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("manifests/absent", id="manifest-by-tag"),
        pytest.param(f"manifests/{digest_of(b'absent')}", id="manifest-by-digest"),
        pytest.param(f"blobs/{digest_of(b'absent')}", id="blob"),
    ],
)
def test_checking_if_content_exists_head_missing_returns_404(registry, http, repo, path):
    # Given a repository that holds other content
    registry.push(repo, image_manifest(), "present")

    # When absent content is checked with HEAD
    response = http.head(f"/v2/{repo}/{path}")

    # Then the answer is 404
    assert response.status_code == 404
