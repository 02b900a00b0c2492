"""The copy engine called directly (pipelines/replication.py), between this Berth's own
services and a real Distribution: what a push-mode and a pull-mode execution copy, what a
second run skips, override, filters and namespaces, referrers, event-based starts and
replicated deletes, stop. Real clients against real registries are tests/replication/."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core import replication_runs
from core.events import transaction
from core.jobs import ClaimedJob, JobQueue
from core.replication_triggers import EVENT_JOB, SCHEDULE_JOB
from core.service import Registry
from models import Job, RemoteRegistry, ReplicationPolicy, ReplicationTask
from pipelines import PipelineContext
from pipelines.replication import run_execution, start_for_events, start_on_schedule
from tests.gc.support import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, body, sha256
from tests.peers import running_distribution
from tests.support import RunningBerth


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


def context(registry: Registry) -> PipelineContext:
    return PipelineContext(registry, JobQueue("test-worker"))


async def push_local(
    registry: Registry, repository: str, tag: str | None, layers: int = 2, size: int = 3000
) -> tuple[str, bytes]:
    """An image pushed into this Berth through its own services; (digest, manifest)."""
    project = repository.split("/", 1)[0]
    config = json.dumps({"os": "linux", "n": secrets.token_hex(4)}).encode()
    contents = [config, *(os.urandom(size) for _ in range(layers))]
    for data in contents:
        await registry.uploads.upload_whole(
            repository, project, sha256(data), body(data), len(data)
        )
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [
                {"mediaType": OCI_LAYER, "digest": sha256(d), "size": len(d)} for d in contents[1:]
            ],
        }
    ).encode()
    reference = tag or sha256(manifest)
    pushed = await registry.manifests.put(repository, project, reference, manifest, OCI_MANIFEST)
    return pushed.digest, manifest


async def policy_for(remote: RemoteRegistry, push: bool = True, **fields: Any) -> ReplicationPolicy:
    side = {"dest_registry_id": remote.id} if push else {"src_registry_id": remote.id}
    fields.setdefault("trigger", {"type": "manual"})
    return await ReplicationPolicy.create(name=f"p-{secrets.token_hex(3)}", **side, **fields)


async def execute(registry: Registry, policy: ReplicationPolicy, **scope: Any) -> int:
    """Start an execution of policy and run its job to the end; its id."""
    async with transaction() as tx:
        started = await replication_runs.start(
            tx, int(policy.id), replication_runs.MANUAL, "alice", scope or None
        )
    execution = started.execution
    job = ClaimedJob(int(execution.job_id or 0), "replication", {"execution_id": execution.id}, 1)
    await run_execution(job, context(registry))
    return int(execution.id)


def remote_digest(server: RunningBerth, repository: str, reference: str) -> str | None:
    answer = httpx.head(
        f"{server.url}/v2/{repository}/manifests/{reference}",
        headers={"Accept": f"{OCI_MANIFEST}, application/vnd.oci.image.index.v1+json"},
    )
    return answer.headers.get("Docker-Content-Digest") if answer.status_code == 200 else None


async def test_push_mode_copies_the_image_and_a_second_run_sends_nothing(
    registry: Registry, remote: RemoteRegistry, distribution: RunningBerth
) -> None:
    # Given two tags of one image and another image in library/app
    digest, _ = await push_local(registry, "library/app", "v1")
    stored = await registry.manifests.get("library/app", "v1")
    await registry.manifests.put("library/app", "library", "latest", stored.content, OCI_MANIFEST)
    other, _ = await push_local(registry, "library/app", "v2")
    policy = await policy_for(remote, filters=[{"type": "name", "value": "library/app"}])
    # When the policy runs
    first = await execute(registry, policy)
    # Then both artifacts (one task each) are at Distribution under every tag
    done = await replication_runs.get(first)
    assert (done.status, done.total, done.succeed) == ("Succeed", 2, 2), done.status_text
    assert remote_digest(distribution, "library/app", "v1") == digest
    assert remote_digest(distribution, "library/app", "latest") == digest
    assert remote_digest(distribution, "library/app", "v2") == other
    assert done.bytes > 6000
    # And a second run finds everything there and sends no byte
    again = await replication_runs.get(await execute(registry, policy))
    assert (again.status, again.succeed, again.bytes) == ("Succeed", 2, 0)
    logs = [t.log for t in await ReplicationTask.filter(execution_id=again.id)]
    assert all("already" in line for line in logs), logs


async def test_pull_mode_brings_an_image_into_a_new_private_project(
    registry: Registry, remote: RemoteRegistry, distribution: RunningBerth
) -> None:
    # Given an image at Distribution (put there by a push-mode run from another repository)
    digest, _ = await push_local(registry, "library/source", "1.0")
    await execute(
        registry, await policy_for(remote, filters=[{"type": "name", "value": "library/source"}])
    )
    # When a pull-mode policy copies it into the namespace "mirror"
    policy = await policy_for(
        remote, push=False, filters=[{"type": "name", "value": "library/source"}],
        dest_namespace="mirror", dest_namespace_replace_count=1,
    )  # fmt: skip
    done = await replication_runs.get(await execute(registry, policy))
    # Then the image is here, by tag, with the same digest, in a project made for it
    assert done.status == "Succeed", done.status_text
    assert (await registry.manifests.get("mirror/source", "1.0")).digest == digest


async def test_override_off_leaves_a_different_tag_alone_and_says_so(
    registry: Registry, remote: RemoteRegistry, distribution: RunningBerth
) -> None:
    await push_local(registry, "library/keep", "v1")
    policy = await policy_for(remote, filters=[{"type": "name", "value": "library/keep"}])
    await execute(registry, policy)
    there = remote_digest(distribution, "library/keep", "v1")
    # Given v1 moved here to a new image, and a policy that does not override
    await push_local(registry, "library/keep", "v1")
    policy.override = False
    await policy.save()
    done = await replication_runs.get(await execute(registry, policy))
    # Then the destination's v1 is unchanged and the task log warns
    assert done.status == "Succeed"
    assert remote_digest(distribution, "library/keep", "v1") == there
    (task,) = await ReplicationTask.filter(execution_id=done.id)
    assert "override is off" in task.log


async def test_referrers_follow_their_subject(
    registry: Registry, remote: RemoteRegistry, distribution: RunningBerth
) -> None:
    # Given an image and a signature-like artifact whose subject is that image
    digest, manifest = await push_local(registry, "library/signed", "v1")
    empty = b"{}"
    await registry.uploads.upload_whole("library/signed", "library", sha256(empty), body(empty), 2)
    referrer = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.signature",
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": sha256(empty),
                "size": 2,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.empty.v1+json",
                    "digest": sha256(empty),
                    "size": 2,
                }
            ],
            "subject": {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest)},
        }
    ).encode()
    await registry.manifests.put(
        "library/signed", "library", sha256(referrer), referrer, OCI_MANIFEST
    )
    # When the image is replicated
    policy = await policy_for(remote, filters=[{"type": "name", "value": "library/signed"}])
    done = await replication_runs.get(await execute(registry, policy))
    # Then the referrer is at the destination too, by its digest
    assert done.status == "Succeed", done.status_text
    assert remote_digest(distribution, "library/signed", sha256(referrer)) == sha256(referrer)
    # And, Distribution having no referrers API, the fallback tag of the subject lists it
    fallback = await http(
        "GET",
        f"{distribution.url}/v2/library/signed/manifests/{digest.replace(':', '-')}",
        headers={"Accept": "application/vnd.oci.image.index.v1+json"},
    )
    listed = [m["digest"] for m in fallback.json()["manifests"]]
    assert listed == [sha256(referrer)]
    assert fallback.json()["manifests"][0]["artifactType"] == "application/vnd.example.signature"


async def test_an_event_based_policy_copies_a_push_and_replicates_its_delete(
    registry: Registry, remote: RemoteRegistry, distribution: RunningBerth
) -> None:
    policy = await policy_for(
        remote, filters=[{"type": "name", "value": "library/live"}],
        trigger={"type": "event_based"}, replicate_deletion=True,
    )  # fmt: skip
    # When an image is pushed, its replication-event job is written with it
    digest, _ = await push_local(registry, "library/live", "v1")
    await run_event_jobs(registry)
    # Then it is at the destination without anyone starting anything
    assert remote_digest(distribution, "library/live", "v1") == digest
    # And an image pushed by digest alone (no tag, no subject) is not the policy's
    untagged, _ = await push_local(registry, "library/live", None)
    await run_event_jobs(registry)
    assert remote_digest(distribution, "library/live", untagged) is None
    # And when it is deleted here, it is deleted there
    await registry.manifests.delete("library/live", digest)
    await run_event_jobs(registry)
    assert remote_digest(distribution, "library/live", digest) is None
    runs, _ = await replication_runs.history(int(policy.id), None, None, 0, 10)
    assert [r.trigger for r in runs] == ["event_based"] * 3
    assert all(r.status == "Succeed" for r in runs)


async def run_event_jobs(registry: Registry) -> None:
    """Run the pending replication-event jobs, then the executions they started."""
    for job in await Job.filter(kind=EVENT_JOB, status="pending").order_by("id"):
        await start_for_events(ClaimedJob(int(job.id), job.kind, job.args, 1), context(registry))
        await Job.filter(id=job.id).update(status="succeeded")
    for job in await Job.filter(kind="replication", status="pending").order_by("id"):
        await run_execution(ClaimedJob(int(job.id), job.kind, job.args, 1), context(registry))
        await Job.filter(id=job.id).update(status="succeeded")


async def test_a_stopped_execution_begins_no_more_tasks(
    registry: Registry, remote: RemoteRegistry
) -> None:
    for n in range(3):
        await push_local(registry, f"library/many{n}", "v1")
    policy = await policy_for(remote, filters=[{"type": "name", "value": "library/many*"}])
    async with transaction() as tx:
        started = await replication_runs.start(tx, int(policy.id), "manual", "alice")
    # Given a stop asked before the job runs
    await replication_runs.request_stop(int(started.execution.id))
    job = ClaimedJob(int(started.execution.job_id or 0), "replication",
                     {"execution_id": started.execution.id}, 1)  # fmt: skip
    await run_execution(job, context(registry))
    # Then the execution is Stopped
    done = await replication_runs.get(int(started.execution.id))
    assert done.status == "Stopped"


async def http(method: str, url: str, **options: Any) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.request(method, url, **options)


async def test_a_schedules_fire_starts_one_execution_even_when_delivered_twice(
    registry: Registry, remote: RemoteRegistry
) -> None:
    policy = await policy_for(
        remote, trigger={"type": "scheduled", "trigger_settings": {"cron": "0 0 2 * * *"}}
    )
    fire = ClaimedJob(4242, SCHEDULE_JOB, {"policy_id": policy.id}, 1)
    await start_on_schedule(fire, context(registry))
    await start_on_schedule(fire, context(registry))  # delivered again
    runs, total = await replication_runs.history(int(policy.id), None, None, 0, 10)
    assert total == 1 and runs[0].trigger == "scheduled"
    # A disabled policy's fire starts nothing
    policy.enabled = False
    await policy.save()
    await start_on_schedule(
        ClaimedJob(4243, SCHEDULE_JOB, {"policy_id": policy.id}, 1), context(registry)
    )
    assert (await replication_runs.history(int(policy.id), None, None, 0, 10))[1] == 1
