"""A destination registered with the wrong password: the copy fails, and says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.peers import Docker
from tests.replication.support import (
    Peer,
    ReplicationApi,
    manifest_digest,
    push_docker_image,
)

pytestmark = pytest.mark.e2e


def test_wrong_credentials_fail_the_task_and_its_log_says_so(
    api_a: ReplicationApi,
    berth_a: Peer,
    distribution: Peer,
    docker: Docker,
    tmp_path: Path,
    unique: str,
) -> None:
    # Given an image at Berth A and Distribution registered there with a wrong password
    image = push_docker_image(docker, berth_a, tmp_path, f"library/creds-{unique}-app")
    registry = api_a.add_registry(
        distribution, name=f"wrong-password-{unique}", password="not-the-password"
    )
    policy = api_a.add_policy(
        f"wrong-password-{unique}", destination=registry, repositories=f"library/creds-{unique}-*"
    )

    # When the policy runs
    execution = api_a.run(policy)

    # Then the execution fails with a failed task whose log names the refusal
    assert execution["status"] == "Failed", api_a.explain(int(execution["id"]))
    failed = [t for t in api_a.tasks(int(execution["id"])) if t["status"] == "Failed"]
    assert failed, api_a.explain(int(execution["id"]))
    log = api_a.task_log(int(execution["id"]), int(failed[0]["id"])).lower()
    assert "401" in log and "replicator" in log, log  # the refusal, and whose account
    # ... and nothing reached Distribution
    assert manifest_digest(distribution, image.repository, image.tag) is None
