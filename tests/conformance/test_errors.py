"""OCI Distribution Spec v1.1, "Error Codes": one test per error kind, with Berth's statuses."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.conformance.oci import (
    MIB,
    OCI_INDEX,
    OCI_MANIFEST,
    digest_of,
    error_codes,
    image_index,
    image_manifest,
    padded_manifest,
    random_layer,
    unique,
    with_digest,
)

OCTETS = {"Content-Type": "application/octet-stream"}
MANIFEST = {"Content-Type": OCI_MANIFEST}
SPEC_CODES = {
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "TOOMANYREQUESTS",
}


def assert_error(response, status, code):
    assert response.status_code == status, response.text
    assert code in error_codes(response), response.text


def test_errors_use_the_json_envelope_with_code_message_and_detail(http, repo):
    # Given a repository that was never pushed to
    # When something is asked of it
    response = http.get(f"/v2/{repo}/tags/list")

    # Then the error body is the spec's envelope
    assert response.headers["Content-Type"].startswith("application/json")
    errors = response.json()["errors"]
    assert errors
    for error in errors:
        assert re.fullmatch(r"[A-Z_]+", error["code"])
        assert isinstance(error["message"], str)
        assert "detail" in error


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        pytest.param("GET", "{repo}/manifests/absent", {}, id="unknown-manifest"),
        pytest.param("GET", "{repo}/blobs/{blob}", {"Range": "bytes=500-"}, id="range-past-end"),
        pytest.param("GET", "{repo}/tags/list?n=-1", {}, id="negative-n-for-tags"),
        pytest.param("GET", "_catalog?n=-1", {}, id="negative-n-for-catalog"),
        pytest.param("GET", "{repo}/no-such-endpoint", {}, id="unknown-endpoint"),
        pytest.param("PATCH", "{repo}/tags/list", {}, id="method-the-route-lacks"),
        pytest.param("GET", "{repo}/manifests/v1%00x", {}, id="nul-in-reference"),
        pytest.param("GET", "{repo}/tags/list?last=" + "a" * 300, {}, id="overlong-last"),
        pytest.param("GET", "_catalog?last=%ff", {}, id="bad-utf8-last"),
    ],
)
def test_error_codes_in_json_bodies_are_from_the_spec_list(
    registry, http, repo, method, path, headers
):
    # Given a repository with an image and a 100-byte blob
    registry.push_image(repo, "present")
    blob = registry.push_blob(repo, random_layer(100).data)

    # When a request fails
    response = http.request(method, "/v2/" + path.format(repo=repo, blob=blob), headers=headers)

    # Then a JSON error body only uses the codes the spec lists (code-1 .. code-14)
    assert 400 <= response.status_code < 500
    if response.headers.get("Content-Type", "").startswith("application/json"):
        assert set(error_codes(response)) <= SPEC_CODES, response.text


def test_digest_invalid_discards_the_upload(registry, http, repo):
    # Given an upload session
    data = random_layer().data
    location = registry.start_upload(repo)

    # When the blob is committed under a digest it does not have
    wrong = digest_of(b"something else")
    response = registry.finish_upload(location, data, wrong)

    # Then DIGEST_INVALID, the session is gone, and no blob exists under either digest
    assert_error(response, 400, "DIGEST_INVALID")
    assert_error(http.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    for digest in (wrong, digest_of(data)):
        assert http.head(f"/v2/{repo}/blobs/{digest}").status_code == 404


@pytest.mark.parametrize(
    "digest",
    [
        pytest.param("sha256:xyz", id="not-hex"),
        pytest.param("sha256:" + "ab" * 16, id="too-short"),
        pytest.param("md5:" + "ab" * 16, id="unsupported-algorithm"),
    ],
)
def test_digest_invalid_for_malformed_upload_digest(registry, repo, digest):
    # Given an upload session
    location = registry.start_upload(repo)

    # When the blob is committed under a digest that is not a valid sha256/sha512 digest
    response = registry.finish_upload(location, random_layer().data, digest)

    # Then it is refused with DIGEST_INVALID
    assert_error(response, 400, "DIGEST_INVALID")


def test_digest_invalid_for_manifest_put_under_another_digest(registry, repo):
    # Given an image manifest whose blobs are pushed
    manifest = image_manifest()
    registry.push_dependencies(repo, manifest)

    # When it is PUT under a digest that is not its own
    response = registry.put_manifest(repo, digest_of(b"another document"), manifest)

    # Then it is refused with DIGEST_INVALID
    assert_error(response, 400, "DIGEST_INVALID")


def missing_layer():
    manifest = image_manifest()
    return manifest, manifest.blobs[:1]  # the config is pushed, the layer is not


def missing_child():
    return image_index([image_manifest()]), ()  # the child manifest is never pushed


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(missing_layer, id="image-manifest-missing-layer"),
        pytest.param(missing_child, id="index-missing-child-manifest"),
    ],
)
def test_manifest_blob_unknown_when_manifest_names_missing_content(registry, repo, build):
    # Given a manifest that names content the repository does not hold
    manifest, present = build()
    for blob in present:
        registry.push_blob(repo, blob.data)

    # When the manifest is pushed
    response = registry.put_manifest(repo, "v1", manifest)

    # Then it is refused with MANIFEST_BLOB_UNKNOWN
    assert_error(response, 400, "MANIFEST_BLOB_UNKNOWN")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        pytest.param(OCI_MANIFEST, b'{"schemaVersion": 2, "config": ', id="malformed-json"),
        pytest.param(OCI_MANIFEST, b"[1, 2, 3]", id="json-but-not-an-object"),
        pytest.param(OCI_INDEX, None, id="content-type-disagrees-with-mediaType"),
        pytest.param("text/plain", None, id="not-a-manifest-media-type"),
    ],
)
def test_manifest_invalid_for_malformed_json_or_wrong_media_type(
    registry, repo, content_type, body
):
    # Given a manifest body that is not valid JSON, or one sent with the wrong media type
    manifest = image_manifest()
    registry.push_dependencies(repo, manifest)
    headers = {"Content-Type": content_type}

    # When it is pushed
    response = registry.http.put(
        f"/v2/{repo}/manifests/v1", content=body or manifest.body, headers=headers
    )

    # Then it is refused with MANIFEST_INVALID, and the reason in detail
    assert_error(response, 400, "MANIFEST_INVALID")
    assert response.json()["errors"][0]["detail"]


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("library/Uppercase", id="uppercase"),
        pytest.param("library/conf..double-dot", id="double-dot"),
        pytest.param("library/" + "a" * 250, id="longer-than-255"),
    ],
)
def test_name_invalid_when_name_breaks_the_grammar(http, name):
    # Given a repository name outside [a-z0-9]+([._-][a-z0-9]+)*(/...)* or 256+ characters long
    # When an upload is started under it
    response = http.post(f"/v2/{name}/blobs/uploads/", content=b"")

    # Then it is refused with NAME_INVALID
    assert_error(response, 400, "NAME_INVALID")


def test_name_unknown_for_repository_never_pushed(http):
    # Given a repository in an existing project that was never pushed to
    repo = f"library/{unique('never')}"

    # When its tags are listed
    response = http.get(f"/v2/{repo}/tags/list")

    # Then the repository is unknown
    assert_error(response, 404, "NAME_UNKNOWN")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("POST", "blobs/uploads/", id="start-upload"),
        pytest.param("PUT", "manifests/v1", id="put-manifest"),
    ],
)
def test_name_unknown_when_pushing_into_missing_project(http, method, path):
    # Given a project that does not exist
    manifest = image_manifest()
    headers = {"Content-Type": manifest.media_type}

    # When a push into it is attempted
    response = http.request(
        method, f"/v2/nosuchproject/app/{path}", content=manifest.body, headers=headers
    )

    # Then it is refused with NAME_UNKNOWN
    assert_error(response, 404, "NAME_UNKNOWN")


@pytest.mark.parametrize(
    "method",
    [pytest.param("PATCH", id="patch-chunk"), pytest.param("PUT", id="closing-put-chunk")],
)
def test_size_invalid_when_content_range_disagrees_with_body(registry, http, repo, method):
    # Given an upload session and a 50-byte chunk
    data = random_layer(50).data
    location = registry.start_upload(repo)
    if method == "PUT":
        location = with_digest(location, digest_of(data))

    # When the chunk is sent claiming to cover bytes 0-99
    headers = {**OCTETS, "Content-Range": "0-99"}
    response = http.request(method, location, content=data, headers=headers)

    # Then the length is refused with SIZE_INVALID
    assert_error(response, 400, "SIZE_INVALID")


def test_manifest_over_4_mib_returns_413(registry, repo):
    # Given a manifest one byte over 4 MiB whose blobs are pushed
    manifest = padded_manifest(4 * MIB + 1)
    registry.push_dependencies(repo, manifest)

    # When it is pushed
    response = registry.put_manifest(repo, "big", manifest)

    # Then it is refused as too large
    assert response.status_code == 413


def test_manifest_over_4_mib_refusal_leaves_the_connection_usable(http, repo):
    # Given one client connection (HTTP/1.1 keeps it open between requests)
    body = b"x" * (5 * MIB)

    # When an oversized manifest is refused, again and again
    for _ in range(20):
        refused = http.put(f"/v2/{repo}/manifests/big", content=body, headers=MANIFEST)
        assert refused.status_code == 413

        # Then the next request on the same client is answered: the registry either read the
        # rest of the body or said "Connection: close" before hanging up (RFC 9112 section 9.6)
        assert http.get("/v2/").status_code == 200


@pytest.mark.parametrize(
    ("method", "query"),
    [
        pytest.param("GET", "", id="status"),
        pytest.param("PATCH", "", id="patch-chunk"),
        pytest.param("PUT", f"?digest={digest_of(b'')}", id="closing-put"),
        pytest.param("DELETE", "", id="cancel"),
    ],
)
def test_blob_upload_unknown_for_unknown_upload_id(registry, http, repo, method, query):
    # Given a repository with content, and an upload id it never issued
    registry.push_blob(repo, random_layer().data)
    path = f"/v2/{repo}/blobs/uploads/{uuid.uuid4()}{query}"

    # When that upload is used
    response = http.request(method, path, content=b"", headers=OCTETS)

    # Then it is unknown
    assert_error(response, 404, "BLOB_UPLOAD_UNKNOWN")


@pytest.mark.parametrize(
    "method", [pytest.param("GET", id="get"), pytest.param("DELETE", id="delete")]
)
def test_blob_unknown_for_digest_not_in_repository(registry, http, repo, method):
    # Given a repository with content, but not this blob
    registry.push_blob(repo, random_layer().data)

    # When the blob is fetched or deleted
    response = http.request(method, f"/v2/{repo}/blobs/{digest_of(b'no such blob')}")

    # Then it is unknown
    assert_error(response, 404, "BLOB_UNKNOWN")


@pytest.mark.parametrize(
    ("method", "reference"),
    [
        pytest.param("GET", "absent", id="get-by-tag"),
        pytest.param("GET", digest_of(b"absent"), id="get-by-digest"),
        pytest.param("DELETE", digest_of(b"absent"), id="delete-by-digest"),
        pytest.param("DELETE", "absent", id="delete-by-tag"),
    ],
)
def test_manifest_unknown_for_reference_not_in_repository(registry, http, repo, method, reference):
    # Given a repository with one image
    registry.push_image(repo, "present")

    # When a manifest it does not hold is fetched or deleted
    response = http.request(method, f"/v2/{repo}/manifests/{reference}")

    # Then it is unknown
    assert_error(response, 404, "MANIFEST_UNKNOWN")


def test_a_method_the_route_lacks_is_405_with_allow(http, repo):
    # When a route is asked with a method it does not take
    response = http.request("PATCH", "/v2/")

    # Then 405, saying which methods it takes, in the spec's envelope
    assert_error(response, 405, "UNSUPPORTED")
    assert "GET" in response.headers["Allow"]
