"""Berth to Berth with a platform filter (Berth's extension of Harbor's filters): of a
two-platform index podman pushed, only the chosen platform is copied, and the index itself
byte for byte — the destination holds it under the source's digest, as a sparse index in a
project replication made with sparse_index; podman pulls the chosen platform there, and the
other one answers manifest unknown. A destination project without sparse_index refuses it,
and the task's log says why. An index sparse at the source is copied sparse, into a project
made to take it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.peers import Podman
from tests.replication.support import (
    OCI_INDEX,
    OCI_MANIFEST,
    Peer,
    ReplicationApi,
    assert_succeeded,
    manifest,
    manifest_digest,
    push_podman_index,
    push_tiny_images,
    sha256,
)

pytestmark = pytest.mark.e2e


def project_metadata(berth: Peer, project: str) -> dict[str, str]:
    response = httpx.get(f"{berth.url}/api/v2.0/projects/{project}", auth=berth.auth)
    assert response.status_code == 200, response.text
    return dict(response.json()["metadata"])


@pytest.mark.parametrize(
    ("mode", "runs_on"),
    [
        pytest.param("push", "api_a", id="push-from-a-to-b"),
        pytest.param("pull", "api_b", id="pull-into-b-from-a"),
    ],
)
def test_a_platform_filter_copies_one_platform_and_the_index_unchanged(
    request: pytest.FixtureRequest,
    mode: str,
    runs_on: str,
    berth_a: Peer,
    berth_b: Peer,
    podman_at: Callable[[str], Podman],
    tmp_path: Path,
    unique: str,
) -> None:
    api: ReplicationApi = request.getfixturevalue(runs_on)
    # Given an amd64 + arm64 index pushed to Berth A by podman
    index = push_podman_index(podman_at("builder"), berth_a, tmp_path, f"library/plat-{unique}")
    # ... and a policy keeping linux/arm64 that puts it under a project Berth B lacks
    other = berth_b if mode == "push" else berth_a
    registry = api.add_registry(other, name=f"plat-{mode}-{unique}")
    side = {"destination": registry} if mode == "push" else {"source": registry}
    project = f"edge-{mode}-{unique}"
    policy = api.add_policy(
        f"plat-{mode}-{unique}",
        repositories=index.repository,
        dest_namespace=project,
        replace_count=1,
        platforms="linux/arm64",
        **side,
    )

    # When it runs
    execution = api.run(policy)

    # Then Berth B serves the index under the digest podman computed at A, by its tag
    assert_succeeded(api, execution)
    copy = f"{project}/plat-{unique}"
    assert manifest_digest(berth_b, copy, index.tag) == index.digest
    # ... with the arm64 image, and not the amd64 one
    assert manifest_digest(berth_b, copy, index.children["arm64"]) == index.children["arm64"]
    assert manifest(berth_b, copy, index.children["amd64"]) is None
    # ... in a project replication made taking sparse indexes
    assert project_metadata(berth_b, project)["sparse_index"] == "true"
    # And podman on another machine pulls arm64 there, while amd64 is manifest unknown
    puller = podman_at("puller")
    ref = f"{berth_b.host}/{copy}@{index.digest}"
    puller("pull", "--quiet", "--tls-verify=false", "--arch", "arm64", ref)
    seen = puller("image", "inspect", "--format", "{{.Architecture}}", ref).stdout.strip()
    assert seen == "arm64"
    puller("image", "rm", ref)
    refused = puller("pull", "--quiet", "--tls-verify=false", "--arch", "amd64", ref, check=False)
    assert refused.returncode != 0
    assert "manifest unknown" in refused.stderr.lower(), refused.stderr


def test_a_destination_project_without_sparse_index_refuses_the_copy_saying_why(
    api_a: ReplicationApi,
    berth_a: Peer,
    berth_b: Peer,
    podman_at: Callable[[str], Podman],
    tmp_path: Path,
    unique: str,
) -> None:
    # Given an index at Berth A, and at Berth B a project without sparse_index
    index = push_podman_index(podman_at("builder"), berth_a, tmp_path, f"library/dense-{unique}")
    project = f"dense-{unique}"
    made = httpx.post(
        f"{berth_b.url}/api/v2.0/projects", json={"project_name": project}, auth=berth_b.auth
    )
    assert made.status_code == 201, made.text
    registry = api_a.add_registry(berth_b, name=f"dense-{unique}")
    policy = api_a.add_policy(
        f"dense-{unique}",
        destination=registry,
        repositories=index.repository,
        dest_namespace=project,
        replace_count=1,
        platforms="linux/amd64",
    )

    # When the policy keeping linux/amd64 runs
    execution = api_a.run(policy)

    # Then its one task fails, its log saying what to change, and B holds nothing of it
    assert execution["status"] == "Failed", api_a.explain(int(execution["id"]))
    (task,) = api_a.tasks(int(execution["id"]))
    log = api_a.task_log(int(execution["id"]), int(task["id"]))
    assert f"the project '{project}' at the destination does not take sparse indexes" in log
    assert 'set its metadata sparse_index to "true"' in log
    for reference in (index.tag, index.digest, index.children["amd64"]):
        assert manifest(berth_b, f"{project}/dense-{unique}", reference) is None


def test_a_sparse_index_is_copied_sparse_into_a_project_made_to_take_it(
    api_a: ReplicationApi, berth_a: Peer, berth_b: Peer, unique: str
) -> None:
    # Given at Berth A, in a project with sparse_index, an index whose arm64 child is absent
    source = f"half-{unique}"
    made = httpx.post(
        f"{berth_a.url}/api/v2.0/projects",
        json={"project_name": source, "metadata": {"sparse_index": "true"}},
        auth=berth_a.auth,
    )
    assert made.status_code == 201, made.text
    repository = f"{source}/app"
    present = push_tiny_images(berth_a, repository, ["amd64"])["amd64"]
    served = manifest(berth_a, repository, present)
    assert served is not None
    absent = "sha256:" + "ab" * 32  # an arm64 image never pushed anywhere
    children = {"amd64": (present, len(served.content)), "arm64": (absent, 500)}
    index = sparse_index(berth_a, repository, "v1", children)
    # ... and a policy without a platform filter into a project Berth B lacks
    project = f"mirror-{unique}"
    registry = api_a.add_registry(berth_b, name=f"half-{unique}")
    policy = api_a.add_policy(
        f"half-{unique}",
        destination=registry,
        repositories=repository,
        dest_namespace=project,
        replace_count=1,
    )

    # When it runs
    execution = api_a.run(policy)

    # Then B has the index under A's digest, with the one child A has, in a project made
    # taking sparse indexes
    assert_succeeded(api_a, execution)
    copy = f"{project}/app"
    assert manifest_digest(berth_b, copy, "v1") == index
    assert manifest_digest(berth_b, copy, present) == present
    assert manifest(berth_b, copy, absent) is None
    assert project_metadata(berth_b, project)["sparse_index"] == "true"


def sparse_index(
    peer: Peer, repository: str, tag: str, children: dict[str, tuple[str, int]]
) -> str:
    """PUT an OCI index of children (architecture -> digest, size) under tag; its digest."""
    entries = [
        {
            "mediaType": OCI_MANIFEST,
            "digest": digest,
            "size": size,
            "platform": {"os": "linux", "architecture": arch},
        }
        for arch, (digest, size) in children.items()
    ]
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()
    put = httpx.put(
        f"{peer.url}/v2/{repository}/manifests/{tag}",
        content=body,
        headers={"Content-Type": OCI_INDEX},
        auth=peer.auth,
    )
    assert put.status_code == 201, put.text
    return sha256(body)
