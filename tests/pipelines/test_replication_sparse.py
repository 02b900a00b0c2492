"""The copy engine with a platform filter, and with sparse indexes, between this Berth's own
services and a real Distribution: a pull into this Berth copies only the chosen platforms
and the index unchanged (into a project made with sparse_index, or refused by one without
it, before anything is copied); Distribution refuses a sparse index, and the task's log
says so. Berth to Berth over HTTP is tests/replication/test_e2e_platforms.py."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core import project_settings, replication_runs
from core.errors import BlobUnknown, ManifestUnknown
from core.events import transaction
from core.jobs import ClaimedJob, JobQueue
from core.service import Registry
from models import (
    Project,
    RemoteRegistry,
    ReplicationExecution,
    ReplicationPolicy,
    ReplicationTask,
    Repository,
)
from pipelines import PipelineContext
from pipelines.replication import run_execution
from tests.gc.support import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, body, sha256
from tests.peers import running_distribution
from tests.support import RunningBerth

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ARCHES = ("amd64", "arm64")


@pytest.fixture(scope="module")
def distribution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBerth]:
    with running_distribution(Path(tmp_path_factory.mktemp("distribution"))) as server:
        yield server


@pytest.fixture
async def remote(distribution: RunningBerth) -> AsyncIterator[RemoteRegistry]:
    row = await RemoteRegistry.create(
        name=f"dist-{secrets.token_hex(3)}", url=distribution.url, type="docker-registry"
    )
    yield row


async def push_index(
    registry: Registry, repository: str, tag: str, absent: tuple[str, ...] = ()
) -> tuple[str, dict[str, str], dict[str, str]]:
    """A two-platform index pushed into this Berth, the children of `absent` left out
    (their project must have sparse_index); (index digest, arch -> child digest,
    arch -> the child's layer digest)."""
    project = repository.split("/", 1)[0]
    entries, children, layers = [], {}, {}
    for arch in ARCHES:
        config = json.dumps({"os": "linux", "architecture": arch, "n": os.urandom(4).hex()})
        layer = os.urandom(2000)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": sha256(config.encode()),
                           "size": len(config)},
                "layers": [{"mediaType": OCI_LAYER, "digest": sha256(layer), "size": len(layer)}],
            }
        ).encode()  # fmt: skip
        if arch not in absent:
            for data in (config.encode(), layer):
                await registry.uploads.upload_whole(
                    repository, project, sha256(data), body(data), len(data)
                )
            await registry.manifests.put(
                repository, project, sha256(manifest), manifest, OCI_MANIFEST
            )
        children[arch], layers[arch] = sha256(manifest), sha256(layer)
        entries.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": sha256(manifest),
                "size": len(manifest),
                "platform": {"os": "linux", "architecture": arch},
            }
        )
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    pushed = await registry.manifests.put(repository, project, tag, index.encode(), OCI_INDEX)
    return pushed.digest, children, layers


async def sparse_project(name: str) -> None:
    project = await Project.create(name=name, public=False)
    await project_settings.store(int(project.id), {project_settings.SPARSE_INDEX: "true"})


async def policy_for(remote: RemoteRegistry, push: bool = True, **fields: Any) -> ReplicationPolicy:
    side = {"dest_registry_id": remote.id} if push else {"src_registry_id": remote.id}
    fields.setdefault("trigger", {"type": "manual"})
    return await ReplicationPolicy.create(name=f"p-{secrets.token_hex(3)}", **side, **fields)


async def execute(registry: Registry, policy: ReplicationPolicy) -> ReplicationExecution:
    """Start an execution of policy, run its job to the end, and read it back."""
    async with transaction() as tx:
        started = await replication_runs.start(
            tx, int(policy.id), replication_runs.MANUAL, "alice", None
        )
    execution = started.execution
    job = ClaimedJob(int(execution.job_id or 0), "replication", {"execution_id": execution.id}, 1)
    await run_execution(job, PipelineContext(registry, JobQueue("test-worker")))
    return await replication_runs.get(int(execution.id))


async def only_task(execution: ReplicationExecution) -> ReplicationTask:
    (task,) = await ReplicationTask.filter(execution_id=execution.id)
    return task


def remote_digest(server: RunningBerth, repository: str, reference: str) -> str | None:
    answer = httpx.head(
        f"{server.url}/v2/{repository}/manifests/{reference}",
        headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"},
    )
    return answer.headers.get("Docker-Content-Digest") if answer.status_code == 200 else None


def names(repository: str, *filters: dict[str, str]) -> list[dict[str, str]]:
    return [{"type": "name", "value": repository}, *filters]


AMD64_ONLY = {"type": "platform", "value": "linux/amd64"}


async def put_at_distribution(
    registry: Registry, remote: RemoteRegistry, repository: str
) -> tuple[str, dict[str, str], dict[str, str]]:
    """A whole two-platform index at Distribution (pushed here, then copied there); as
    push_index says."""
    pushed = await push_index(registry, repository, "v1")
    done = await execute(registry, await policy_for(remote, filters=names(repository)))
    assert done.status == "Succeed", done.status_text
    return pushed


async def test_a_pull_with_a_platform_filter_makes_a_sparse_index_in_a_new_project(
    registry: Registry, remote: RemoteRegistry, distribution: RunningBerth
) -> None:
    # Given a whole two-platform index at Distribution
    index, children, layers = await put_at_distribution(registry, remote, "library/multi")
    # When a pull-mode policy keeping linux/amd64 copies it into a project this Berth lacks
    policy = await policy_for(
        remote, push=False, filters=names("library/multi", AMD64_ONLY),
        dest_namespace="edge", dest_namespace_replace_count=1,
    )  # fmt: skip
    pulled = await execute(registry, policy)
    # Then the index is here under the source's digest, byte for byte, with its amd64 child
    assert pulled.status == "Succeed", pulled.status_text
    assert (await registry.manifests.get("edge/multi", "v1")).digest == index
    assert (await registry.manifests.get("edge/multi", children["amd64"])).digest
    assert await registry.blobs.stat("edge/multi", layers["amd64"])
    # ... and nothing of arm64, which the log says it left out
    with pytest.raises(ManifestUnknown):
        await registry.manifests.get("edge/multi", children["arm64"])
    with pytest.raises(BlobUnknown):
        await registry.blobs.stat("edge/multi", layers["arm64"])
    task = await only_task(pulled)
    assert f"child {children['arm64']} left out: linux/arm64 is not in the platform filter" in (
        task.log
    )
    # ... and the project was made taking sparse indexes
    made = await Project.get(name="edge")
    assert await project_settings.switched_on(int(made.id), project_settings.SPARSE_INDEX)


async def test_a_pull_into_a_project_without_sparse_index_fails_before_copying(
    registry: Registry, remote: RemoteRegistry, distribution: RunningBerth
) -> None:
    # Given a whole index at Distribution, and here a project without sparse_index
    await put_at_distribution(registry, remote, "library/plainly")
    await Project.create(name="plain", public=False)
    # When a pull-mode policy with a platform filter copies it into that project
    policy = await policy_for(
        remote, push=False, filters=names("library/plainly", AMD64_ONLY),
        dest_namespace="plain", dest_namespace_replace_count=1,
    )  # fmt: skip
    pulled = await execute(registry, policy)
    # Then its task fails at once, saying why, and nothing was copied
    assert pulled.status == "Failed"
    task = await only_task(pulled)
    assert task.attempts == 1
    assert "'plain' here does not take sparse indexes" in task.log
    assert 'sparse_index to "true"' in task.log
    assert not await Repository.exists(name="plain/plainly")


async def test_a_push_of_a_sparse_copy_to_distribution_fails_saying_why(
    registry: Registry, remote: RemoteRegistry, distribution: RunningBerth
) -> None:
    # Given a whole two-platform index here
    index, children, _ = await push_index(registry, "library/todist", "v1")
    # When a push-mode policy keeping only linux/amd64 copies it to Distribution
    policy = await policy_for(remote, filters=names("library/todist", AMD64_ONLY))
    done = await execute(registry, policy)
    # Then the task fails at once: Distribution checks every child of an index
    assert done.status == "Failed"
    task = await only_task(done)
    assert task.attempts == 1
    assert f"the destination (docker-registry) refused the index {index}" in task.log
    assert "leaves out, so it would be a sparse index there" in task.log
    assert "MANIFEST_BLOB_UNKNOWN" in task.log
    # ... and Distribution has no index under the tag, nor the child left out
    assert remote_digest(distribution, "library/todist", "v1") is None
    assert remote_digest(distribution, "library/todist", children["arm64"]) is None


async def test_a_sparse_index_here_is_copied_sparse_and_distribution_refuses_it(
    registry: Registry, remote: RemoteRegistry, distribution: RunningBerth
) -> None:
    # Given a sparse index in a project with sparse_index: its arm64 child never pushed
    await sparse_project("edge")
    index, children, _ = await push_index(registry, "edge/half", "v1", absent=("arm64",))
    # When a push-mode policy without a platform filter copies it to Distribution
    done = await execute(registry, await policy_for(remote, filters=names("edge/half")))
    # Then the child the source lacks is left out, and Distribution refuses the index
    assert done.status == "Failed"
    task = await only_task(done)
    assert f"child {children['arm64']} left out: the source does not have it" in task.log
    assert f"refused the index {index}" in task.log
    assert remote_digest(distribution, "edge/half", children["amd64"]) == children["amd64"]
