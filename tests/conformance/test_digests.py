"""OCI Distribution Spec v1.1: one manifest under more than one digest.

"Pushing Manifests" lets a client PUT a manifest by tag or by digest, and a digest may be
sha512 as well as sha256. The same bytes pushed by a sha512 digest and by tag (sha256) are
one manifest: "Pulling manifests", "Checking if content exists", "Deleting Manifests",
"Listing Referrers" and "Listing Tags" reach it by either digest, and a PUT by tag answers
the digest the repository already knows those bytes by.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.conformance.oci import (
    OCI_INDEX,
    OCI_MANIFEST,
    Manifest,
    artifact_manifest,
    digest_of,
    encode,
    image_index,
    image_manifest,
)
from tests.factories import settled

ACCEPT = {"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"}


def sha512_of(manifest: Manifest) -> str:
    return digest_of(manifest.body, "sha512")


def pushed_by_sha512(registry, repo) -> Manifest:
    """An image manifest with its blobs, PUT by its sha512 digest."""
    manifest = image_manifest()
    registry.push(repo, manifest, sha512_of(manifest))
    return manifest


def artifacts_of(http, repo: str) -> list[dict]:
    """The repository's artifacts as the REST API lists them: one per manifest stored."""
    project, name = repo.split("/", 1)
    response = http.get(
        f"/api/v2.0/projects/{project}/repositories/{quote(name, safe='')}/artifacts"
    )
    assert response.status_code == 200, response.text
    return response.json()


def pulled(http, repo: str, reference: str):
    response = http.get(f"/v2/{repo}/manifests/{reference}", headers=ACCEPT)
    assert response.status_code == 200, response.text
    return response


def test_pushing_manifests_by_sha512_then_by_tag_is_one_manifest_under_both_digests(
    registry, http, repo
):
    # Given an image manifest pushed by its sha512 digest
    manifest = pushed_by_sha512(registry, repo)
    sha512 = sha512_of(manifest)

    # When the same bytes are PUT by tag
    response = registry.put_manifest(repo, "v1", manifest)

    # Then the tag push answers the sha512 the repository already has, and points there
    assert response.status_code == 201, response.text
    assert response.headers["Docker-Content-Digest"] == sha512
    assert response.headers["Location"].endswith(f"/v2/{repo}/manifests/{sha512}")
    # And the bytes are one artifact, pullable by the tag and by either digest
    assert [a["digest"] for a in artifacts_of(http, repo)] == [sha512]
    for reference in ("v1", sha512, manifest.digest):
        assert pulled(http, repo, reference).content == manifest.body
    # And a pull by tag names the sha512, a pull by digest the digest asked for
    assert pulled(http, repo, "v1").headers["Docker-Content-Digest"] == sha512
    assert pulled(http, repo, manifest.digest).headers["Docker-Content-Digest"] == manifest.digest
    assert http.get(f"/v2/{repo}/tags/list").json()["tags"] == ["v1"]
    # And the push pipeline finds it by the digest the push answered and records its
    # verification (whose verdict does not matter here: these configs list no layers)
    assert settled(http, repo, sha512)["verification"]["verified_at"] is not None


def test_pushing_manifests_by_tag_then_by_sha512_keeps_answering_sha256_by_tag(
    registry, http, repo
):
    # Given an image pushed by tag (sha256)
    manifest = registry.push_image(repo, "v1")
    sha512 = sha512_of(manifest)

    # When the same bytes are PUT by their sha512 digest, then by tag again
    by_digest = registry.put_manifest(repo, sha512, manifest)
    again = registry.put_manifest(repo, "v1", manifest)

    # Then the digest push answers its sha512, the tag push still the sha256
    assert by_digest.status_code == 201, by_digest.text
    assert by_digest.headers["Docker-Content-Digest"] == sha512
    assert again.headers["Docker-Content-Digest"] == manifest.digest
    # And it is one artifact, known by its first digest, pullable by the sha512 too
    assert [a["digest"] for a in artifacts_of(http, repo)] == [manifest.digest]
    assert pulled(http, repo, sha512).headers["Docker-Content-Digest"] == sha512


@pytest.mark.parametrize("asked", ["sha256", "sha512"])
def test_checking_if_manifest_exists_by_either_digest(registry, http, repo, asked):
    # Given a manifest pushed by sha512, then tagged
    manifest = pushed_by_sha512(registry, repo)
    registry.put_manifest(repo, "v1", manifest).raise_for_status()
    digest = manifest.digest if asked == "sha256" else sha512_of(manifest)

    # When a client checks for it with HEAD by that digest
    response = http.head(f"/v2/{repo}/manifests/{digest}", headers=ACCEPT)

    # Then it exists, with that digest and its length
    assert response.status_code == 200
    assert response.headers["Docker-Content-Digest"] == digest
    assert int(response.headers["Content-Length"]) == len(manifest.body)


@pytest.mark.parametrize("deleted", ["sha256", "sha512"])
def test_deleting_manifests_by_either_digest_removes_it_under_every_digest(
    registry, http, repo, deleted
):
    # Given a manifest pushed by sha512, then tagged
    manifest = pushed_by_sha512(registry, repo)
    registry.put_manifest(repo, "v1", manifest).raise_for_status()
    digests = {"sha256": manifest.digest, "sha512": sha512_of(manifest)}

    # When it is deleted by one of its digests
    response = http.delete(f"/v2/{repo}/manifests/{digests[deleted]}")

    # Then neither digest nor the tag finds it any more, and no artifact is left
    assert response.status_code == 202
    for reference in (*digests.values(), "v1"):
        assert http.get(f"/v2/{repo}/manifests/{reference}", headers=ACCEPT).status_code == 404
    assert artifacts_of(http, repo) == []
    assert http.get(f"/v2/{repo}/tags/list").json()["tags"] == []
    # And the same bytes pushed again by tag are a new manifest, answered in sha256
    again = registry.put_manifest(repo, "v1", manifest)
    assert again.headers["Docker-Content-Digest"] == manifest.digest


def test_deleting_manifests_by_a_digest_it_is_not_known_by_returns_404(registry, http, repo):
    # Given a manifest pushed only by tag
    manifest = registry.push_image(repo, "v1")
    other = image_manifest()

    # When a digest of other bytes is deleted
    response = http.delete(f"/v2/{repo}/manifests/{sha512_of(other)}")

    # Then it is unknown, and the tagged manifest stays
    assert response.status_code == 404
    assert pulled(http, repo, "v1").content == manifest.body


@pytest.mark.parametrize("asked", ["sha256", "sha512"])
def test_listing_referrers_by_either_digest_lists_those_naming_either(registry, http, repo, asked):
    # Given a subject pushed by sha512 and tagged, and two referrers: one naming it by its
    # sha256 (as a tag pull hands it to a client), one by its sha512
    subject = pushed_by_sha512(registry, repo)
    registry.put_manifest(repo, "app", subject).raise_for_status()
    by_sha256 = artifact_manifest(subject)
    by_sha512 = artifact_manifest(subject)
    by_sha512.document["subject"]["digest"] = sha512_of(subject)
    by_sha512 = Manifest(
        encode(by_sha512.document), by_sha512.media_type, by_sha512.blobs, (), by_sha512.document
    )
    for referrer in (by_sha256, by_sha512):
        registry.push(repo, referrer)
    digest = subject.digest if asked == "sha256" else sha512_of(subject)

    # When the referrers of one of its digests are listed
    response = http.get(f"/v2/{repo}/referrers/{digest}")

    # Then both referrers are there
    assert response.status_code == 200
    listed = {entry["digest"] for entry in response.json()["manifests"]}
    assert listed == {by_sha256.digest, by_sha512.digest}


def test_pushing_an_index_naming_by_sha256_a_child_pushed_by_sha512(registry, http, repo):
    # Given a child manifest pushed only by its sha512 digest
    child = pushed_by_sha512(registry, repo)

    # When an index naming it by its sha256 is pushed by tag
    index = image_index([child])
    response = registry.put_manifest(repo, "multi", index)

    # Then the child counts as present: the index is stored and the child pulls through it
    assert response.status_code == 201, response.text
    entry = pulled(http, repo, "multi").json()["manifests"][0]
    assert pulled(http, repo, entry["digest"]).content == child.body


def test_pushing_manifests_by_tag_audits_the_digest_it_answers(registry, http, repo):
    # Given an image manifest pushed by its sha512 digest
    manifest = pushed_by_sha512(registry, repo)

    # When it is PUT by tag
    registry.put_manifest(repo, "v1", manifest).raise_for_status()

    # Then the audit log names the tag push with the sha512 it answered
    resource = f"{repo}:v1@{sha512_of(manifest)}"
    logs = http.get("/api/v2.0/auditlog-exts", params={"q": f"resource={resource}"})
    assert logs.status_code == 200, logs.text
    assert [entry["operation"] for entry in logs.json()] == ["create"]
