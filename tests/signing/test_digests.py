"""Signed-only pulls of a manifest first pushed by a sha512 digest, then by tag, on a real
server (SQLite and PostgreSQL): Berth signs it by its sha256 (cosign's sha256-<hex>.sig),
and the one signature serves it by tag and by either digest."""

from __future__ import annotations

import hashlib

from tests.factories import (
    OCI_MANIFEST,
    config_blob,
    image_manifest,
    new_project,
    pull_manifest,
    registry_client,
    sha256,
)
from tests.signing.support import ENFORCE, SIGN, set_metadata, signed_accessories
from tests.support import RunningBerth


def push_by_sha512_then_tag(server: RunningBerth, repo: str, tag: str) -> tuple[str, str]:
    """A config-only image PUT by its sha512 digest, then by tag; (sha256, sha512)."""
    config = config_blob(tag)
    body = image_manifest(config)
    sha512 = "sha512:" + hashlib.sha512(body).hexdigest()
    with registry_client(server) as client:
        blob = client.post(f"/v2/{repo}/blobs/uploads/?digest={sha256(config)}", content=config)
        assert blob.status_code == 201, blob.text
        for reference in (sha512, tag):
            put = client.put(
                f"/v2/{repo}/manifests/{reference}",
                content=body,
                headers={"Content-Type": OCI_MANIFEST},
            )
            assert put.status_code == 201, put.text
    return sha256(body), sha512


def test_sign_on_push_of_a_sha512_manifest_serves_it_by_tag_and_either_digest(
    berth_server: RunningBerth,
) -> None:
    # Given a project that signs on push and serves only signed artifacts
    _, project = new_project(berth_server, prefix="signs512")
    set_metadata(berth_server, project, {**SIGN, **ENFORCE})
    repo = f"{project}/app"
    # When an image is pushed by its sha512 digest, then by tag
    digest, sha512 = push_by_sha512_then_tag(berth_server, repo, "v1")
    # Then Berth's cosign signature names its sha256, and verifies (each push's job signs
    # what the key has not signed yet: two racing ones may both sign, as for two tags)
    items = signed_accessories(berth_server, repo, "v1")
    assert items and {a["type"] for a in items} == {"signature.cosign"}
    assert all(v["verified"] for a in items for v in a["verification"])
    sig = pull_manifest(berth_server, repo, digest.replace(":", "-") + ".sig")
    assert sig.status_code == 200, sig.text
    assert sig.json()["subject"]["digest"] == digest
    # And the image is served by tag and by both its digests
    for reference in ("v1", digest, sha512):
        assert pull_manifest(berth_server, repo, reference).status_code == 200, reference
