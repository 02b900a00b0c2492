"""OCI Distribution Spec v1.1, category "Content Discovery" (end-8a, end-8b, end-12a, end-12b).

The catalog (`/v2/_catalog`) is not in the OCI spec; Berth serves it as Docker's registry
API defines it, paginated the same way as the tag list.
"""

from __future__ import annotations

import pytest

from tests.conformance.oci import (
    OCI_INDEX,
    artifact_manifest,
    digest_of,
    image_index,
    image_manifest,
    random_config,
    unique,
)

TAGS = ["v2", "alpha", "v10", "beta", "1.0"]
SORTED_TAGS = sorted(TAGS)  # ["1.0", "alpha", "beta", "v10", "v2"]: lexical and ASCIIbetical agree
SBOM = "application/vnd.example.sbom.v1"
SIGNATURE = "application/vnd.example.signature.v1"


@pytest.fixture
def tagged_repo(registry, repo):
    """A repository where one image carries every tag in TAGS."""
    manifest = registry.push_image(repo)
    for tag in TAGS:
        registry.put_manifest(repo, tag, manifest).raise_for_status()
    return repo


def next_page(response):
    return response.links.get("next", {}).get("url")


def test_listing_tags_returns_every_tag_sorted(http, tagged_repo):
    # Given a repository with five tags
    # When its tags are listed
    response = http.get(f"/v2/{tagged_repo}/tags/list")

    # Then the name and all tags come back in lexical order
    assert response.status_code == 200
    assert response.json() == {"name": tagged_repo, "tags": SORTED_TAGS}


def test_listing_tags_with_n_returns_first_n_and_link_to_next(http, tagged_repo):
    # Given a repository with five tags
    # When two are asked for
    response = http.get(f"/v2/{tagged_repo}/tags/list", params={"n": 2})

    # Then the first two come back, with a Link to the rest
    assert response.json()["tags"] == SORTED_TAGS[:2]
    assert next_page(response)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({"n": 2, "last": "alpha"}, ["beta", "v10"], id="n-and-last"),
        pytest.param({"last": "beta"}, ["v10", "v2"], id="last-without-n"),
        pytest.param({"n": 10, "last": "v10"}, ["v2"], id="last-near-the-end"),
        pytest.param({"n": 10, "last": "v2"}, [], id="last-is-the-last-tag"),
    ],
)
def test_listing_tags_with_last_returns_tags_after_it(http, tagged_repo, params, expected):
    # Given a repository with five tags
    # When tags after a given one are asked for
    response = http.get(f"/v2/{tagged_repo}/tags/list", params=params)

    # Then only tags sorting after it come back, in order
    assert response.status_code == 200
    assert (response.json()["tags"] or []) == expected


def test_listing_tags_with_n_zero_returns_empty_list_without_link(http, tagged_repo):
    # Given a repository with five tags
    # When zero tags are asked for
    response = http.get(f"/v2/{tagged_repo}/tags/list", params={"n": 0})

    # Then the list is empty, and there is no Link header
    assert response.status_code == 200
    assert (response.json()["tags"] or []) == []
    assert "Link" not in response.headers


def test_listing_tags_following_link_headers_visits_every_tag_once(http, tagged_repo):
    # Given a repository with five tags
    url, seen = f"/v2/{tagged_repo}/tags/list?n=2", []

    # When the client follows Link headers page by page
    while url:
        response = http.get(url)
        assert response.status_code == 200
        assert len(response.json()["tags"]) <= 2
        seen += response.json()["tags"]
        url = next_page(response)

    # Then every tag has been seen once, in order
    assert seen == SORTED_TAGS


@pytest.fixture
def subject(registry, repo):
    return registry.push_image(repo, "app")


def referrers(http, repo, digest, **params):
    response = http.get(f"/v2/{repo}/referrers/{digest}", params=params)
    assert response.status_code == 200, response.text
    return response


def by_digest(response):
    return {entry["digest"]: entry for entry in response.json()["manifests"]}


def test_listing_referrers_returns_image_index_of_manifests_with_that_subject(
    registry, http, repo, subject
):
    # Given two artifacts that refer to the subject, and one that refers to another image
    sbom = artifact_manifest(subject, SBOM)
    signature = artifact_manifest(subject, SIGNATURE)
    for manifest in (sbom, signature, artifact_manifest(image_manifest(), SBOM)):
        registry.push(repo, manifest)

    # When the subject's referrers are listed
    response = referrers(http, repo, subject.digest)

    # Then an OCI index lists exactly the two referrers, each with its descriptor
    assert response.headers["Content-Type"].split(";")[0] == OCI_INDEX
    assert response.json()["schemaVersion"] == 2
    assert response.json()["mediaType"] == OCI_INDEX
    found = by_digest(response)
    assert set(found) == {sbom.digest, signature.digest}
    assert found[sbom.digest]["size"] == len(sbom.body)
    assert found[sbom.digest]["mediaType"] == sbom.media_type


def test_listing_referrers_descriptor_carries_artifact_type_and_annotations(
    registry, http, repo, subject
):
    # Given an artifact with an artifactType and annotations that refers to the subject
    annotations = {"org.example.sbom.format": "json", "org.opencontainers.image.created": "2024"}
    sbom = artifact_manifest(subject, SBOM, annotations)
    registry.push(repo, sbom)

    # When the subject's referrers are listed
    entry = by_digest(referrers(http, repo, subject.digest))[sbom.digest]

    # Then its descriptor repeats the artifactType and every annotation
    assert entry["artifactType"] == SBOM
    assert entry["annotations"] == annotations


def test_listing_referrers_artifact_type_defaults_to_config_media_type(
    registry, http, repo, subject
):
    # Given an image manifest without artifactType, whose config has its own media type
    config = random_config("application/vnd.example.config.v1+json")
    referrer = image_manifest(config, [], subject=subject)
    registry.push(repo, referrer)

    # When the subject's referrers are listed
    entry = by_digest(referrers(http, repo, subject.digest))[referrer.digest]

    # Then the descriptor's artifactType is the config's media type
    assert entry["artifactType"] == "application/vnd.example.config.v1+json"


def test_listing_referrers_index_without_artifact_type_omits_it(registry, http, repo, subject):
    # Given an image index without artifactType that refers to the subject
    referrer = image_index([image_manifest()], subject=subject)
    registry.push(repo, referrer)

    # When the subject's referrers are listed
    entry = by_digest(referrers(http, repo, subject.digest))[referrer.digest]

    # Then the index's descriptor has no artifactType
    assert entry["mediaType"] == OCI_INDEX
    assert "artifactType" not in entry


def test_listing_referrers_filtered_by_artifact_type(registry, http, repo, subject):
    # Given an SBOM and a signature that refer to the subject
    sbom = artifact_manifest(subject, SBOM)
    registry.push(repo, sbom)
    registry.push(repo, artifact_manifest(subject, SIGNATURE))

    # When only SBOMs are asked for
    response = referrers(http, repo, subject.digest, artifactType=SBOM)

    # Then only the SBOM comes back, and the registry says it applied the filter
    assert set(by_digest(response)) == {sbom.digest}
    assert response.headers["OCI-Filters-Applied"] == "artifactType"


def test_listing_referrers_filter_matching_nothing_returns_empty_index(
    registry, http, repo, subject
):
    # Given an SBOM that refers to the subject
    registry.push(repo, artifact_manifest(subject, SBOM))

    # When only signatures are asked for
    response = referrers(http, repo, subject.digest, artifactType=SIGNATURE)

    # Then the index is empty, and the registry says it applied the filter
    assert response.json()["manifests"] == []
    assert response.headers["OCI-Filters-Applied"] == "artifactType"


def test_listing_referrers_of_unknown_subject_returns_empty_index(http, repo, subject):
    # Given a repository with an image that nothing refers to
    # When the referrers of a digest the repository never saw are listed
    response = referrers(http, repo, digest_of(b"nothing refers to this"))

    # Then the answer is an empty OCI index, not 404
    assert response.json()["mediaType"] == OCI_INDEX
    assert response.json()["manifests"] == []


def test_listing_referrers_with_invalid_digest_returns_400(http, repo, subject):
    # Given a repository with an image
    # When referrers are asked for a reference that is not a digest
    response = http.get(f"/v2/{repo}/referrers/sha256:not-hex")

    # Then the request is refused as invalid
    assert response.status_code == 400


@pytest.fixture
def catalog_names(registry):
    """Three new repositories whose names sort together: <prefix>-a, -b and -c."""
    prefix = f"library/{unique('cat')}"
    names = [f"{prefix}-{suffix}" for suffix in "abc"]
    for name in names:
        registry.push_image(name, "latest")
    return names


def test_catalog_with_n_and_last_returns_next_repositories(http, catalog_names):
    # Given three repositories whose names sort together
    first, second, third = catalog_names

    # When two repositories after the first are asked for
    response = http.get("/v2/_catalog", params={"n": 2, "last": first})

    # Then the other two come back, in order
    assert response.status_code == 200
    assert response.json()["repositories"] == [second, third]


def test_catalog_following_link_headers_visits_every_repository_once(http, catalog_names):
    # Given three new repositories among whatever else the registry holds
    url, seen = "/v2/_catalog?n=3", []

    # When the client follows Link headers page by page
    while url:
        response = http.get(url)
        assert response.status_code == 200
        page = response.json()["repositories"]
        assert len(page) <= 3
        seen += page
        url = next_page(response)

    # Then the whole catalog was seen once, sorted, including the new repositories
    assert seen == sorted(set(seen))
    assert set(catalog_names) <= set(seen)
