"""Push and pull mode, Berth to Berth and Berth with Distribution: images pushed by real
clients (a docker image, a two-platform index by podman, an oras artifact with a referrer)
are copied by one manual execution, and the same clients read them back at the
destination under the digests they computed at the source."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.peers import Docker, Podman, Skopeo
from tests.replication.support import (
    Peer,
    ReplicationApi,
    assert_succeeded,
    docker_pulls_same,
    manifest_digest,
    oras_pulls_same,
    podman_pulls_platforms,
    project_exists,
    push_docker_image,
    push_oras_artifact,
    push_podman_index,
    push_tiny_images,
    skopeo_digest,
)

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("mode", "runs_on", "source_name", "dest_name"),
    [
        pytest.param("push", "api_a", "berth_a", "berth_b", id="push-berth-to-berth"),
        pytest.param("push", "api_a", "berth_a", "distribution", id="push-berth-to-distribution"),
        pytest.param("pull", "api_b", "berth_a", "berth_b", id="pull-berth-from-berth"),
        pytest.param("pull", "api_a", "distribution", "berth_a", id="pull-berth-from-distribution"),
    ],
)
def test_a_manual_execution_copies_images_indexes_and_artifacts(
    request: pytest.FixtureRequest,
    mode: str,
    runs_on: str,
    source_name: str,
    dest_name: str,
    docker: Docker,
    podman_at: Callable[[str], Podman],
    skopeo: Skopeo,
    tmp_path: Path,
    unique: str,
) -> None:
    api: ReplicationApi = request.getfixturevalue(runs_on)
    source: Peer = request.getfixturevalue(source_name)
    dest: Peer = request.getfixturevalue(dest_name)

    # Given a docker image, a two-platform index and an artifact with a referrer at the source
    prefix = f"library/{mode}-{unique}"
    image = push_docker_image(docker, source, tmp_path, f"{prefix}-docker")
    index = push_podman_index(podman_at("builder"), source, tmp_path, f"{prefix}-multi")
    artifact = push_oras_artifact(source, tmp_path, f"{prefix}-oras")
    # ... and, on the Berth that runs it, a policy naming the other registry
    other = dest if mode == "push" else source
    registry = api.add_registry(other, name=f"{other.name}-{unique}")
    side = {"destination": registry} if mode == "push" else {"source": registry}
    policy = api.add_policy(f"{mode}-{unique}", repositories=f"{prefix}-*", **side)

    # When the policy is run by hand
    execution = api.run(policy)

    # Then it succeeds, and each copy reads back at the destination with its client
    assert_succeeded(api, execution)
    docker_pulls_same(docker, dest, image.repository, image)
    podman_pulls_platforms(podman_at("puller"), dest, index.repository, index)
    assert skopeo_digest(skopeo, dest, index.repository, index.tag) == index.digest
    oras_pulls_same(dest, tmp_path, artifact.repository, artifact)


def test_a_push_into_a_project_the_destination_berth_lacks_creates_it(
    api_a: ReplicationApi, berth_a: Peer, berth_b: Peer, unique: str
) -> None:
    # Given an image at Berth A and a policy that puts it under a project Berth B lacks
    pushed = push_tiny_images(berth_a, f"library/newproject-{unique}", ["v1"])
    project = f"mirror-{unique}"
    registry = api_a.add_registry(berth_b, name=f"projects-{unique}")
    policy = api_a.add_policy(
        f"projects-{unique}",
        destination=registry,
        repositories=f"library/newproject-{unique}",
        dest_namespace=project,
        replace_count=1,
    )

    # When it runs
    execution = api_a.run(policy)

    # Then Berth B has the project, and the image in it under the same digest
    assert_succeeded(api_a, execution)
    assert project_exists(berth_b, project)
    assert manifest_digest(berth_b, f"{project}/newproject-{unique}", "v1") == pushed["v1"]
