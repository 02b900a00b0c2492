"""OCI Distribution Spec, "Push" (end-7) and "Pull" (end-3, HEAD end-3): sparse indexes.

The spec lets a registry refuse a manifest whose descriptors name content it lacks (with
MANIFEST_BLOB_UNKNOWN), and lets it accept one. Berth refuses an image index naming an
absent child unless the project has the setting sparse_index: then the index is stored as
pushed, each child present is served, and an absent one answers MANIFEST_UNKNOWN until
it is pushed.
"""

from __future__ import annotations

import httpx
import pytest

from tests.conformance.oci import (
    OCI_INDEX,
    Manifest,
    Registry,
    error_codes,
    image_index,
    image_manifest,
    unique,
)
from tests.factories import admin_client
from tests.support import RunningBerth

SPARSE = {"sparse_index": "true"}


def new_project_with(server: RunningBerth, metadata: dict[str, str]) -> str:
    """A private project made by the admin with these settings; its name."""
    name = unique("sparse")
    with admin_client(server) as admin:
        created = admin.post("/projects", json={"project_name": name, "metadata": metadata})
    assert created.status_code == 201, created.text
    return name


def set_sparse(server: RunningBerth, project: str, value: str) -> httpx.Response:
    with admin_client(server) as admin:
        return admin.put(f"/projects/{project}", json={"metadata": {"sparse_index": value}})


@pytest.fixture
def sparse_repo(berth_server: RunningBerth) -> str:
    """A repository in a new project with sparse_index on."""
    return f"{new_project_with(berth_server, SPARSE)}/app"


def put_alone(registry: Registry, repo: str, reference: str, index: Manifest) -> None:
    """PUT the index by itself: none of its children with it (Registry.push sends them)."""
    response = registry.put_manifest(repo, reference, index)
    assert response.status_code == 201, response.text


def pull(http: httpx.Client, repo: str, reference: str, method: str = "GET") -> httpx.Response:
    accept = f"{OCI_INDEX}, application/vnd.oci.image.manifest.v1+json"
    return http.request(method, f"/v2/{repo}/manifests/{reference}", headers={"Accept": accept})


def test_pushing_manifests_index_with_absent_child_is_manifest_blob_unknown_by_default(
    registry: Registry, repo: str
) -> None:
    # Given one child of a two-image index pushed, in a project without sparse_index
    present, absent = image_manifest(), image_manifest()
    registry.push(repo, present)
    index = image_index([present, absent])

    # When the index is pushed
    response = registry.put_manifest(repo, "v1", index)

    # Then it is refused naming the absent child, as the spec's optional check says
    assert response.status_code == 400, response.text
    assert error_codes(response) == ["MANIFEST_BLOB_UNKNOWN"]
    assert absent.digest in response.text


def test_pushing_manifests_sparse_index_is_stored_and_served_unchanged(
    registry: Registry, http: httpx.Client, sparse_repo: str
) -> None:
    # Given a project with sparse_index, holding one child of a two-image index
    present, absent = image_manifest(), image_manifest()
    registry.push(sparse_repo, present)
    index = image_index([present, absent])

    # When the index is pushed by tag
    response = registry.put_manifest(sparse_repo, "v1", index)

    # Then it is created under the digest of its bytes, and served byte for byte
    assert response.status_code == 201, response.text
    assert response.headers["Docker-Content-Digest"] == index.digest
    by_tag = pull(http, sparse_repo, "v1")
    by_digest = pull(http, sparse_repo, index.digest)
    assert by_tag.status_code == by_digest.status_code == 200
    assert by_tag.content == by_digest.content == index.body
    assert by_tag.headers["Docker-Content-Digest"] == index.digest


def test_pull_manifests_present_child_of_sparse_index_is_served(
    registry: Registry, http: httpx.Client, sparse_repo: str
) -> None:
    # Given a sparse index whose first child is present
    present, absent = image_manifest(), image_manifest()
    registry.push(sparse_repo, present)
    put_alone(registry, sparse_repo, "v1", image_index([present, absent]))

    # When a client follows the index to the present child
    pulled = pull(http, sparse_repo, present.digest)

    # Then it gets the child and each of its blobs
    assert pulled.status_code == 200
    assert pulled.content == present.body
    for blob in present.blobs:
        assert http.get(f"/v2/{sparse_repo}/blobs/{blob.digest}").content == blob.data


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_pull_manifests_absent_child_of_sparse_index_is_manifest_unknown(
    registry: Registry, http: httpx.Client, sparse_repo: str, method: str
) -> None:
    # Given a sparse index whose second child was never pushed
    present, absent = image_manifest(), image_manifest()
    registry.push(sparse_repo, present)
    put_alone(registry, sparse_repo, "v1", image_index([present, absent]))

    # When a client asks for the absent child
    response = pull(http, sparse_repo, absent.digest, method)

    # Then it is not found, with the spec's code (a HEAD has no body)
    assert response.status_code == 404
    if method == "GET":
        assert error_codes(response) == ["MANIFEST_UNKNOWN"]


def test_pushing_manifests_absent_child_later_makes_the_index_whole(
    registry: Registry, http: httpx.Client, sparse_repo: str
) -> None:
    # Given a sparse index of which no child is present
    first, second = image_manifest(), image_manifest()
    index = image_index([first, second])
    put_alone(registry, sparse_repo, "v1", index)
    assert pull(http, sparse_repo, first.digest).status_code == 404

    # When the children are pushed afterwards, by digest
    registry.push(sparse_repo, first)
    registry.push(sparse_repo, second)

    # Then both are served, and the index is the one pushed at first
    assert pull(http, sparse_repo, first.digest).content == first.body
    assert pull(http, sparse_repo, second.digest).content == second.body
    assert pull(http, sparse_repo, "v1").content == index.body


def test_pushing_manifests_sparse_index_after_the_setting_is_switched_off_is_refused(
    registry: Registry, http: httpx.Client, berth_server: RunningBerth, sparse_repo: str
) -> None:
    # Given a sparse index pushed while the project had sparse_index
    present = image_manifest()
    registry.push(sparse_repo, present)
    kept = image_index([present, image_manifest()])
    put_alone(registry, sparse_repo, "v1", kept)

    # When the setting is switched off and another sparse index is pushed
    switched = set_sparse(berth_server, sparse_repo.split("/")[0], "false")
    refused = registry.put_manifest(sparse_repo, "v2", image_index([present, image_manifest()]))

    # Then the new one is refused, and the one already there is still served
    assert switched.status_code == 200, switched.text
    assert refused.status_code == 400
    assert error_codes(refused) == ["MANIFEST_BLOB_UNKNOWN"]
    assert pull(http, sparse_repo, "v1").content == kept.body


def test_pushing_manifests_sparse_index_counts_another_repositorys_child_as_absent(
    registry: Registry, http: httpx.Client, sparse_repo: str
) -> None:
    # Given a child pushed to another repository of the same project only
    elsewhere = sparse_repo + "-other"
    child = image_manifest()
    registry.push(elsewhere, child)

    # When an index naming it is pushed here
    response = registry.put_manifest(sparse_repo, "v1", image_index([child]))

    # Then the index is stored, but the child is absent from this repository
    assert response.status_code == 201, response.text
    assert pull(http, sparse_repo, child.digest).status_code == 404
    assert pull(http, elsewhere, child.digest).status_code == 200


def test_project_metadata_sparse_index_is_a_switch_shown_like_harbors(
    berth_server: RunningBerth,
) -> None:
    # Given a project made with sparse_index on
    project = new_project_with(berth_server, SPARSE)
    with admin_client(berth_server) as admin:
        shown = admin.get(f"/projects/{project}").json()["metadata"]
    # When it is switched off, and then sent a value that is no boolean
    off = set_sparse(berth_server, project, "false")
    bad = set_sparse(berth_server, project, "sometimes")
    with admin_client(berth_server) as admin:
        after = admin.get(f"/projects/{project}").json()["metadata"]
    # Then the project shows each value as Harbor shows its settings, the bad one refused
    assert shown["sparse_index"] == "true"
    assert off.status_code == 200 and after["sparse_index"] == "false"
    assert bad.status_code == 400 and "sparse_index" in bad.text
