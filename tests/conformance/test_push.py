"""OCI Distribution Spec v1.1, workflow category "Push".

Endpoints end-4a, end-4b, end-5, end-6, end-7, end-11, end-13 and end-14.
"""

from __future__ import annotations

import time

import pytest

from tests.conformance.oci import (
    MANIFEST_KINDS,
    MIB,
    OCI_MANIFEST,
    Manifest,
    artifact_manifest,
    digest_of,
    encode,
    image_index,
    image_manifest,
    padded_manifest,
    random_layer,
    sample_manifest,
    send_truncated,
    with_digest,
)

OCTETS = {"Content-Type": "application/octet-stream"}


def patch_chunk(http, location, chunk, start):
    headers = {**OCTETS, "Content-Range": f"{start}-{start + len(chunk) - 1}"}
    return http.patch(location, content=chunk, headers=headers)


def session_holding(registry, http, repo, data):
    """The location of an upload session that has received `data` as its first chunk."""
    response = patch_chunk(http, registry.start_upload(repo), data, 0)
    assert response.status_code == 202, response.text
    return response.headers["Location"]


def test_post_then_put_post_returns_202_with_location(http, repo):
    # Given a repository in an existing project
    # When an upload session is opened
    response = http.post(f"/v2/{repo}/blobs/uploads/", content=b"")

    # Then the registry accepts it and names the session's location
    assert response.status_code == 202
    assert response.headers["Location"]


@pytest.mark.parametrize(
    ("algorithm", "size"),
    [
        pytest.param("sha256", 2048, id="sha256"),
        pytest.param("sha512", 2048, id="sha512"),
        pytest.param("sha256", 0, id="empty-blob"),
        pytest.param("sha256", 8 * MIB + 1, id="8-mib-blob"),
    ],
)
def test_post_then_put_returns_201_with_pullable_location(registry, http, repo, algorithm, size):
    # Given an open upload session
    data = random_layer(size).data
    location = registry.start_upload(repo)

    # When the whole blob is PUT with its digest
    response = registry.finish_upload(location, data, digest_of(data, algorithm))

    # Then it is created, and its Location serves the blob
    assert response.status_code == 201
    pulled = http.get(response.headers["Location"])
    assert pulled.status_code == 200
    assert pulled.content == data


def test_single_post_monolithic_upload(registry, http, repo):
    # Given a blob and its digest
    data = random_layer(512).data
    digest = digest_of(data)

    # When it is sent in a single POST with the digest
    response = http.post(
        f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data, headers=OCTETS
    )

    # Then it is created at once, or (a registry MAY decline) the client finishes with PUT
    assert response.status_code in (201, 202)
    if response.status_code == 202:
        response = registry.finish_upload(response.headers["Location"], data, digest)
        assert response.status_code == 201
    assert http.get(f"/v2/{repo}/blobs/{digest}").content == data


def test_pushing_blob_in_chunks_each_patch_returns_202_with_range(registry, http, repo):
    # Given an open upload session and a blob in three chunks
    data = random_layer(3000).data
    location = registry.start_upload(repo)

    # When the chunks are PATCHed in order, each to the location the previous answer gave
    for start in (0, 1000, 2000):
        response = patch_chunk(http, location, data[start : start + 1000], start)
        # Then each is accepted and the Range covers everything received so far
        assert response.status_code == 202
        assert response.headers["Range"] == f"0-{start + 999}"
        location = response.headers["Location"]

    # And the closing PUT without a body commits the whole blob
    closed = registry.finish_upload(location, b"", digest_of(data))
    assert closed.status_code == 201
    assert http.get(f"/v2/{repo}/blobs/{digest_of(data)}").content == data


def test_pushing_blob_in_chunks_final_chunk_in_closing_put(registry, http, repo):
    # Given a session holding the first half of a blob
    data = random_layer(2000).data
    location = session_holding(registry, http, repo, data[:1000])

    # When the closing PUT carries the second half
    headers = {**OCTETS, "Content-Range": "1000-1999"}
    response = http.put(
        with_digest(location, digest_of(data)), content=data[1000:], headers=headers
    )

    # Then the blob is the concatenation of both chunks
    assert response.status_code == 201
    assert http.get(f"/v2/{repo}/blobs/{digest_of(data)}").content == data


def test_get_blob_upload_status_returns_204_with_range(registry, http, repo):
    # Given a session that has received 1000 bytes
    location = session_holding(registry, http, repo, random_layer(1000).data)

    # When its status is asked
    response = http.get(location)

    # Then it is active, and reports the offset reached
    assert response.status_code == 204
    assert response.headers["Range"] == "0-999"
    assert response.headers["Location"]


@pytest.mark.parametrize(
    "start",
    [pytest.param(200, id="skips-ahead"), pytest.param(50, id="overlaps-received-bytes")],
)
def test_pushing_blob_in_chunks_out_of_order_returns_416_with_range(registry, http, repo, start):
    # Given a session that has received bytes 0-99
    data = random_layer(300).data
    location = session_holding(registry, http, repo, data[:100])

    # When the next chunk does not start at byte 100
    response = patch_chunk(http, location, data[start:], start)

    # Then it is refused as unsatisfiable, with the range the registry actually holds
    assert response.status_code == 416
    assert response.headers["Range"] == "0-99"


def test_pushing_blob_in_chunks_first_chunk_not_at_zero_returns_416(registry, http, repo):
    # Given a fresh upload session
    location = registry.start_upload(repo)

    # When the first chunk claims to start at byte 10
    response = patch_chunk(http, location, random_layer(100).data, 10)

    # Then it is refused: the first chunk's range MUST begin with 0
    assert response.status_code == 416


def test_cancel_blob_upload_returns_204_and_forgets_session(registry, http, repo):
    # Given an open upload session
    location = registry.start_upload(repo)

    # When it is cancelled
    response = http.delete(location)

    # Then the cancel succeeds and the session is gone
    assert response.status_code == 204
    assert http.get(location).status_code == 404


def test_mounting_blob_from_another_repository_returns_201(registry, http, repo, other_repo):
    # Given a blob in another repository of the registry
    data = random_layer(700).data
    digest = registry.push_blob(other_repo, data)

    # When it is mounted into this repository
    response = http.post(f"/v2/{repo}/blobs/uploads/", params={"mount": digest, "from": other_repo})

    # Then it is created without an upload, and is pullable from this repository
    assert response.status_code == 201
    assert response.headers["Location"]
    assert http.get(f"/v2/{repo}/blobs/{digest}").content == data


def test_mounting_blob_missing_from_source_falls_back_to_upload_session(
    registry, http, repo, other_repo
):
    # Given a source repository that does not hold the blob
    registry.push_blob(other_repo, random_layer().data)
    data = random_layer(300).data

    # When the blob is asked to be mounted from it
    response = http.post(
        f"/v2/{repo}/blobs/uploads/", params={"mount": digest_of(data), "from": other_repo}
    )

    # Then an upload session opens instead, and the client can upload through it
    assert response.status_code == 202
    closed = registry.finish_upload(response.headers["Location"], data, digest_of(data))
    assert closed.status_code == 201


@pytest.mark.parametrize("kind", [pytest.param(kind, id=kind) for kind in MANIFEST_KINDS])
def test_pushing_manifests_returns_201_location_and_digest(registry, http, repo, kind):
    # Given a manifest of this kind whose blobs and children are already pushed
    manifest = sample_manifest(kind)
    registry.push_dependencies(repo, manifest)

    # When it is PUT under a tag
    response = registry.put_manifest(repo, "v1", manifest)

    # Then it is created, with its digest, at a pullable location
    assert response.status_code == 201
    assert response.headers["Docker-Content-Digest"] == manifest.digest
    pulled = http.get(response.headers["Location"], headers={"Accept": manifest.media_type})
    assert pulled.status_code == 200
    assert pulled.content == manifest.body


def test_pushing_manifests_by_digest_reference(registry, http, repo):
    # Given an image manifest whose blobs are pushed
    manifest = image_manifest()
    registry.push_dependencies(repo, manifest)

    # When it is PUT under its own digest
    response = registry.put_manifest(repo, manifest.digest, manifest)

    # Then it is created and pullable by that digest
    assert response.status_code == 201
    assert response.headers["Docker-Content-Digest"] == manifest.digest
    pulled = http.get(f"/v2/{repo}/manifests/{manifest.digest}", headers={"Accept": OCI_MANIFEST})
    assert pulled.content == manifest.body


def test_pushing_manifests_by_sha512_digest_reference(registry, http, repo):
    # Given an image manifest whose blobs are pushed
    manifest = image_manifest()
    registry.push_dependencies(repo, manifest)
    digest = digest_of(manifest.body, "sha512")

    # When it is PUT under its sha512 digest
    response = registry.put_manifest(repo, digest, manifest)

    # Then it is created and pullable by that digest
    assert response.status_code == 201
    pulled = http.get(f"/v2/{repo}/manifests/{digest}", headers={"Accept": OCI_MANIFEST})
    assert pulled.status_code == 200
    assert pulled.content == manifest.body


def test_pushing_manifests_to_existing_tag_moves_the_tag(registry, http, repo):
    # Given a tag pointing at one image
    registry.push_image(repo, "latest")

    # When another image is pushed under the same tag
    newer = registry.push_image(repo, "latest")

    # Then the tag resolves to the newer image
    response = http.get(f"/v2/{repo}/manifests/latest", headers={"Accept": OCI_MANIFEST})
    assert response.headers["Docker-Content-Digest"] == newer.digest


def test_pushing_manifests_of_4_mib_is_accepted(registry, repo):
    # Given a manifest of exactly 4 MiB, the size registries SHOULD expect to accept
    manifest = padded_manifest(4 * MIB)

    # When it is pushed
    response = registry.push(repo, manifest, "big")

    # Then it is stored
    assert response.headers["Docker-Content-Digest"] == manifest.digest


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda subject: artifact_manifest(subject=subject), id="artifact-manifest"),
        pytest.param(lambda subject: image_index([image_manifest()], subject=subject), id="index"),
    ],
)
def test_pushing_manifest_with_subject_returns_oci_subject_header(registry, repo, build):
    # Given an image in the repository
    subject = registry.push_image(repo, "app")

    # When a manifest naming it as subject is pushed
    response = registry.push(repo, build(subject))

    # Then the registry says it processed the subject
    assert response.headers["OCI-Subject"] == subject.digest


def test_pushing_manifest_with_subject_not_yet_pushed_is_accepted(registry, http, repo):
    # Given an image that has not been pushed
    subject = image_manifest()

    # When an artifact naming it as subject is pushed first
    artifact = artifact_manifest(subject=subject)
    registry.push(repo, artifact)

    # Then the registry accepts it (referrers may arrive before their subject)
    found = http.head(f"/v2/{repo}/manifests/{artifact.digest}", headers={"Accept": OCI_MANIFEST})
    assert found.status_code == 200


def test_pushing_manifests_ignores_content_type_parameters(registry, http, repo):
    # Given an image manifest whose blobs are pushed
    manifest = image_manifest()
    registry.push_dependencies(repo, manifest)

    # When it is PUT with a parameter on its Content-Type
    headers = {"Content-Type": f"{manifest.media_type}; charset=utf-8"}
    response = http.put(f"/v2/{repo}/manifests/v1", content=manifest.body, headers=headers)

    # Then the parameter is ignored: the manifest is stored, and served without parameters
    assert response.status_code == 201
    pulled = http.get(f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert pulled.headers["Content-Type"] == OCI_MANIFEST


def test_pushing_manifests_without_media_type_field_keeps_content_type(registry, http, repo):
    # Given an image manifest without the optional mediaType field
    source = image_manifest()
    document = {key: value for key, value in source.document.items() if key != "mediaType"}
    manifest = Manifest(encode(document), OCI_MANIFEST, source.blobs)

    # When it is pushed with its Content-Type
    registry.push(repo, manifest, "v1")

    # Then it is served with the Content-Type it was pushed with
    pulled = http.get(f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert pulled.headers["Content-Type"].split(";")[0] == OCI_MANIFEST
    assert pulled.content == manifest.body


@pytest.mark.parametrize(
    "tag",
    [
        pytest.param("-leading-dash", id="leading-dash"),
        pytest.param(".leading-dot", id="leading-dot"),
        pytest.param("a" * 129, id="longer-than-128"),
    ],
)
def test_pushing_manifests_under_tag_breaking_the_grammar_is_refused(registry, repo, tag):
    # Given an image manifest whose blobs are pushed
    manifest = image_manifest()
    registry.push_dependencies(repo, manifest)

    # When it is PUT under a tag outside [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
    response = registry.put_manifest(repo, tag, manifest)

    # Then it is refused (400, or 404 from a router whose tag pattern does not match)
    assert response.status_code in (400, 404)


def test_interrupted_blob_upload_leaves_no_blob(registry, http, repo):
    # Given an upload session and a blob to send monolithically
    data = random_layer(64 * 1024).data
    url = http.build_request("PUT", with_digest(registry.start_upload(repo), digest_of(data))).url

    # When the client announces the whole blob but sends a quarter of it and hangs up
    send_truncated(url, "PUT", {}, data, len(data) // 4)
    time.sleep(0.5)

    # Then neither the announced blob nor the partial bytes became a blob
    for digest in (digest_of(data), digest_of(data[: len(data) // 4])):
        assert http.head(f"/v2/{repo}/blobs/{digest}").status_code == 404


def test_resumable_push_after_interrupted_chunk(registry, http, repo):
    # Given a session holding bytes 0-999 of a 3000-byte blob
    data = random_layer(3000).data
    location = session_holding(registry, http, repo, data[:1000])

    # When the next chunk's connection drops after 300 of its 1000 bytes
    url = http.build_request("PATCH", location).url
    send_truncated(url, "PATCH", {"Content-Range": "1000-1999"}, data[1000:2000], 300)
    time.sleep(0.5)

    # Then the session reports an offset within what was really received
    status = http.get(location)
    assert status.status_code == 204
    end = int(status.headers["Range"].split("-")[1])
    assert 999 <= end <= 1299

    # And the client can send the rest from there, ending with the right blob
    rest = patch_chunk(http, status.headers["Location"], data[end + 1 :], end + 1)
    assert rest.status_code == 202
    closed = registry.finish_upload(rest.headers["Location"], b"", digest_of(data))
    assert closed.status_code == 201
    assert http.get(f"/v2/{repo}/blobs/{digest_of(data)}").content == data
