"""The Docker engine pushes to, pulls from and runs images out of Berth."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.peers import Docker, running_distribution
from tests.support import ADMIN, BerthServers, RunningBerth

pytestmark = pytest.mark.e2e

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"

admin = httpx.Client(auth=ADMIN, timeout=60)  # the test admin's Basic credentials


@pytest.fixture(scope="module", params=["sqlite", "postgres", "s3"])
def registry(
    request: pytest.FixtureRequest,
    berth_servers: BerthServers,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningBerth]:
    """Docker's round trips on each database backend and on the S3 driver (SeaweedFS): the
    session's servers, here under a name of this module's own so that no session-scoped
    fixture keeps the server of another param."""
    if os.environ.get("BERTH_E2E_AGAINST") == "distribution":
        if request.param != "sqlite":
            pytest.skip("against Distribution, the tests run once")
        with running_distribution(tmp_path_factory.mktemp("distribution")) as server:
            yield server
    else:
        yield berth_servers(request.param)


def served_manifest(registry: RunningBerth, repo: str, reference: str) -> httpx.Response:
    response = admin.get(
        f"{registry.url}/v2/{repo}/manifests/{reference}",
        headers={"Accept": f"{DOCKER_MANIFEST}, {OCI_MANIFEST}"},
    )
    assert response.status_code == 200, response.text
    return response


def test_multilayer_image_survives_push_and_pull(
    docker: Docker, registry: RunningBerth, layered_context: Path
) -> None:
    # Given an image of several multi-megabyte layers, built locally
    ref = f"{registry.host}/library/docker-layers:v1"
    built_id = docker.build(layered_context, ref)

    # When it is pushed, deleted locally and pulled back
    digest = docker.push(ref)
    docker.remove(ref)
    docker("pull", ref)

    # Then the pulled image is the one that was built, known by the pushed digest
    assert docker.image_id(ref) == built_id
    assert f"{registry.host}/library/docker-layers@{digest}" in docker.repo_digests(ref)
    # ... and the registry serves that manifest under that digest, with every layer
    manifest = served_manifest(registry, "library/docker-layers", "v1")
    assert manifest.headers["Docker-Content-Digest"] == digest
    assert len(manifest.json()["layers"]) == 5


def test_pulled_busybox_runs(docker: Docker, registry: RunningBerth, busybox_context: Path) -> None:
    # Given a busybox image pushed to Berth and gone from the local engine
    ref = f"{registry.host}/library/busybox:1"
    built_id = docker.build(busybox_context, ref)
    docker.push(ref)
    docker.remove(ref)

    # When it is pulled and run without a network
    docker("pull", ref)
    run = docker("run", "--rm", "--network", "none", ref, "sh", "-c", "echo hello")

    # Then it is the same image and it runs
    assert docker.image_id(ref) == built_id
    assert run.stdout == "hello\n"


def test_push_to_second_repository_mounts_layers_and_pulls_by_digest(
    docker: Docker, registry: RunningBerth, layered_context: Path
) -> None:
    # Given an image already pushed to one repository
    source = f"{registry.host}/library/docker-mount-src:v1"
    target = f"{registry.host}/library/docker-mount-dst:v1"
    built_id = docker.build(layered_context, source)
    source_digest = docker.push(source)

    # When the same image is pushed to a second repository
    docker("tag", source, target)
    push = docker("push", target)

    # Then docker mounts the layers across repositories instead of uploading them again
    assert "Mounted from library/docker-mount-src" in push.stdout, push.stdout
    assert f"digest: {source_digest}" in push.stdout
    # ... and the second repository serves the image by digest to a clean engine
    docker.remove(source, target)
    by_digest = f"{registry.host}/library/docker-mount-dst@{source_digest}"
    docker("pull", by_digest)
    assert docker.image_id(by_digest) == built_id
    docker.remove(by_digest)


def test_pull_of_unknown_tag_fails_cleanly(docker: Docker, registry: RunningBerth) -> None:
    # Given a tag nobody pushed
    ref = f"{registry.host}/library/docker-layers:never-pushed"

    # When docker pulls it
    pull = docker("pull", ref, check=False)

    # Then the pull fails with the registry's "manifest unknown", not a server error
    assert pull.returncode != 0
    assert "manifest unknown" in pull.stderr.lower(), pull.stderr
