"""OCI Distribution Spec (development text), workflow category "Push", "Pushing Manifests":
tag parameters, endpoint end-7b (`PUT /v2/<name>/manifests/<digest>?tag=...`).

The spec lets a registry take `tag` query parameters on a PUT by digest and asks for an
`OCI-Tag` response field per tag set. It says nothing of an invalid one (its error table has
no tag code; `TAG_INVALID` is a legacy schema1 code clients must not rely on), nor of a
`tag` parameter on a PUT by tag: Berth answers the first as it answers an invalid tag in the
path (400 `MANIFEST_INVALID`) and refuses the second (400 `UNSUPPORTED`, naming `tag`).
"""

from __future__ import annotations

import json

import pytest

from tests.conformance.oci import OCI_MANIFEST, error_codes, image_manifest
from tests.factories import API, repository_url
from tests.support import run_sql


def oci_tags(response):
    """Every tag the OCI-Tag fields name, each field a comma-separated list (RFC 9110)."""
    return [t.strip() for field in response.headers.get_list("OCI-Tag") for t in field.split(",")]


def put_with_tags(registry, http, repo, manifest, reference, tags):
    registry.push_dependencies(repo, manifest)
    return http.put(
        f"/v2/{repo}/manifests/{reference}",
        params=[("tag", tag) for tag in tags],
        content=manifest.body,
        headers={"Content-Type": manifest.media_type},
    )


def served_digest(http, repo, reference):
    response = http.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": OCI_MANIFEST})
    return response.headers["Docker-Content-Digest"] if response.status_code == 200 else None


def tags_of(http, repo):
    return sorted(http.get(f"/v2/{repo}/tags/list").json()["tags"] or [])


@pytest.mark.parametrize(
    "tags",
    [
        pytest.param(["1.2.3", "1.2", "1", "latest"], id="the-spec-example"),
        pytest.param([f"t{i}" for i in range(10)], id="ten-tags-registries-should-take"),
    ],
)
def test_pushing_manifests_with_tag_parameters_sets_every_tag(registry, http, repo, tags):
    # Given an image manifest whose blobs are pushed
    manifest = image_manifest()

    # When it is PUT by digest with a tag parameter per tag
    response = put_with_tags(registry, http, repo, manifest, manifest.digest, tags)

    # Then it is created, says each tag in OCI-Tag, and every tag serves it
    assert response.status_code == 201, response.text
    assert response.headers["Docker-Content-Digest"] == manifest.digest
    assert oci_tags(response) == tags
    assert tags_of(http, repo) == sorted(tags)
    assert {served_digest(http, repo, tag) for tag in tags} == {manifest.digest}


def test_pushing_manifests_with_tag_parameters_stores_one_artifact(registry, http, repo):
    # Given an image manifest whose blobs are pushed
    manifest = image_manifest()

    # When it is PUT by digest with three tags
    response = put_with_tags(registry, http, repo, manifest, manifest.digest, ["a", "b", "c"])
    assert response.status_code == 201, response.text

    # Then the repository holds one artifact, carrying the three tags
    listed = http.get(f"{repository_url(repo)}/artifacts", params={"with_tag": "true"})
    assert listed.status_code == 200, listed.text
    assert [item["digest"] for item in listed.json()] == [manifest.digest]
    assert sorted(tag["name"] for tag in listed.json()[0]["tags"]) == ["a", "b", "c"]


def test_pushing_manifests_with_tag_parameters_moves_existing_tags(registry, http, repo):
    # Given a tag pointing at one image
    registry.push_image(repo, "latest")

    # When another image is PUT by digest with that tag and a new one
    newer = image_manifest()
    response = put_with_tags(registry, http, repo, newer, newer.digest, ["latest", "2.0"])

    # Then both tags resolve to the newer image
    assert response.status_code == 201, response.text
    assert served_digest(http, repo, "latest") == newer.digest
    assert served_digest(http, repo, "2.0") == newer.digest


def test_pushing_manifests_with_a_repeated_tag_parameter_sets_it_once(registry, http, repo):
    # Given an image manifest whose blobs are pushed
    manifest = image_manifest()

    # When the same tag parameter comes twice
    response = put_with_tags(registry, http, repo, manifest, manifest.digest, ["v1", "v1"])

    # Then the tag is set, and named once
    assert response.status_code == 201, response.text
    assert oci_tags(response) == ["v1"]
    assert tags_of(http, repo) == ["v1"]


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param("-leading-dash", id="leading-dash"),
        pytest.param(".leading-dot", id="leading-dot"),
        pytest.param("a" * 129, id="longer-than-128"),
        pytest.param("", id="empty"),
        pytest.param("a/b", id="slash"),
    ],
)
def test_pushing_manifests_with_an_invalid_tag_parameter_is_refused(registry, http, repo, bad):
    # Given an image manifest whose blobs are pushed
    manifest = image_manifest()

    # When it is PUT by digest with a good tag and one outside the tag grammar
    response = put_with_tags(registry, http, repo, manifest, manifest.digest, ["good", bad])

    # Then it is refused as an invalid tag in the path would be, naming the tag
    assert response.status_code == 400, response.text
    assert error_codes(response) == ["MANIFEST_INVALID"]
    assert response.json()["errors"][0]["detail"] == {"tag": bad}
    # And nothing of it is stored: no tag, no manifest
    assert tags_of(http, repo) == []
    assert served_digest(http, repo, manifest.digest) is None


def test_pushing_manifests_by_tag_with_a_tag_parameter_is_refused(registry, http, repo):
    # Given an image manifest whose blobs are pushed
    manifest = image_manifest()

    # When it is PUT by tag with another tag as a parameter
    response = put_with_tags(registry, http, repo, manifest, "v1", ["v2"])

    # Then it is refused, naming the parameter, and neither tag is set
    assert response.status_code == 400, response.text
    assert error_codes(response) == ["UNSUPPORTED"]
    assert response.json()["errors"][0]["detail"]["parameter"] == "tag"
    assert tags_of(http, repo) == []


def test_pushing_manifests_with_more_tags_than_taken_at_once_is_414(registry, http, repo):
    # Given an image manifest whose blobs are pushed
    manifest = image_manifest()

    # When it is PUT by digest with 51 tags, one more than Berth sets in one request
    tags = [f"t{i}" for i in range(51)]
    response = put_with_tags(registry, http, repo, manifest, manifest.digest, tags)

    # Then it is refused with the status the spec gives for too many tags, and nothing is set
    assert response.status_code == 414, response.text
    assert response.json()["errors"][0]["detail"] == {"tags": 51, "limit": 50}
    assert tags_of(http, repo) == []


@pytest.mark.parametrize("by", ["digest", "tag"])
def test_pushing_manifests_without_tag_parameters_answers_no_oci_tag(registry, http, repo, by):
    # Given an image manifest whose blobs are pushed
    manifest = image_manifest()

    # When it is PUT by digest or by tag, without tag parameters
    reference = manifest.digest if by == "digest" else "v1"
    response = put_with_tags(registry, http, repo, manifest, reference, [])

    # Then it is stored as ever, and the answer carries no OCI-Tag
    assert response.status_code == 201, response.text
    assert "OCI-Tag" not in response.headers
    assert tags_of(http, repo) == ([] if by == "digest" else ["v1"])


def test_each_tag_parameter_is_audited_as_a_push_by_that_tag(registry, http, repo, berth_server):
    # Given an image manifest whose blobs are pushed
    manifest = image_manifest()

    # When it is PUT by digest with two tags
    response = put_with_tags(registry, http, repo, manifest, manifest.digest, ["x", "y"])
    assert response.status_code == 201, response.text

    # Then the audit log holds a push event per tag, as pushes by those tags would leave
    query = f"operation=create,resource_type=artifact,resource=~{repo}"
    logged = http.get(f"{API}/auditlog-exts", params={"q": query})
    assert logged.status_code == 200, logged.text
    assert sorted(event["resource"] for event in logged.json()) == [
        f"{repo}:x@{manifest.digest}",
        f"{repo}:y@{manifest.digest}",
    ]
    # And one push job runs for the manifest, knowing both tags
    jobs = run_sql(
        berth_server,
        "SELECT args FROM job WHERE kind = 'push' AND CAST(args AS TEXT) LIKE ?",
        f"%{manifest.digest}%",
    )
    assert [json.loads(args)["tags"] for (args,) in jobs] == [["x", "y"]]
