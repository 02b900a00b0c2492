"""Event-based replication: a push to the source reaches the destination by itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.peers import Docker
from tests.replication.support import (
    Peer,
    ReplicationApi,
    docker_pulls_same,
    manifest_digest,
    push_docker_image,
    push_tiny_images,
)
from tests.support import wait_until

pytestmark = pytest.mark.e2e


def test_a_docker_push_appears_at_the_destination_with_no_manual_step(
    api_a: ReplicationApi,
    berth_a: Peer,
    berth_b: Peer,
    docker: Docker,
    tmp_path: Path,
    unique: str,
) -> None:
    # Given an event-based push policy from Berth A to Berth B
    prefix = f"library/event-{unique}"
    registry = api_a.add_registry(berth_b, name=f"events-{unique}")
    policy = api_a.add_policy(
        f"events-{unique}", destination=registry, repositories=f"{prefix}-*", trigger="event_based"
    )

    # When docker pushes an image to Berth A, and nobody starts anything
    image = push_docker_image(docker, berth_a, tmp_path, f"{prefix}-app")

    # Then the image is at Berth B within a bounded wait, under the pushed digest
    wait_until(
        f"{image.repository}:{image.tag} at {berth_b.name}",
        lambda: manifest_digest(berth_b, image.repository, image.tag) == image.digest,
        within=60,
    )
    docker_pulls_same(docker, berth_b, image.repository, image)
    # ... copied by what the push triggered, not by hand
    triggers = {e["trigger"] for e in api_a.executions(policy)}
    assert triggers == {"event_based"}


def test_a_deletion_at_the_source_is_replicated_when_the_policy_says_so(
    api_a: ReplicationApi, berth_a: Peer, distribution: Peer, unique: str
) -> None:
    # Given an event-based policy that replicates deletions, and an image it has copied
    repository = f"library/delete-{unique}-app"
    registry = api_a.add_registry(distribution, name=f"deletions-{unique}")
    api_a.add_policy(
        f"deletions-{unique}",
        destination=registry,
        repositories=repository,
        trigger="event_based",
        replicate_deletion=True,
    )
    digest = push_tiny_images(berth_a, repository, ["v1"])["v1"]
    wait_until(
        f"{repository}:v1 at Distribution",
        lambda: manifest_digest(distribution, repository, "v1") == digest,
        within=60,
    )

    # When the artifact is deleted at Berth A
    api_a.delete_artifact(repository, digest)

    # Then it goes from Distribution too, by itself
    wait_until(
        f"{repository}@{digest} gone from Distribution",
        lambda: manifest_digest(distribution, repository, digest) is None,
        within=60,
    )
