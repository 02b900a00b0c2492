"""Interleavings the property test (test_interleavings.py) found, stepped one statement at
a time: each ended with an acknowledged push that did not pull (a mount racing a
collection; a manifest whose blob went after its check), and an upload waiting for a
deletion (whose drop of the links once took the new upload's links too)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import BlobUnknown, ManifestBlobUnknown
from core.gc import GcOptions
from core.service import Registry
from models import GcRun
from storage import StorageKeyMissing
from tests.gc.scheduler import Scheduler
from tests.gc.stepping import GatedStorage, stepped_collection
from tests.gc.support import OCI_MANIFEST, body, manifest_of, sha256

LAYER = b"a layer nothing names yet"


async def upload(registry: Registry, repo: str, data: bytes = LAYER) -> str:
    return await registry.uploads.upload_whole(repo, "library", sha256(data), body(data), None)


async def start_collection(registry: Registry, scheduler: Scheduler) -> None:
    run = await GcRun.create(status="Running", heartbeat_at=datetime.now(UTC))
    storage = GatedStorage(registry.storage, scheduler)
    options = GcOptions(window=timedelta(0))
    scheduler.start("gc", stepped_collection(storage, run.id, options))  # type: ignore[arg-type]
    await scheduler.settle()


async def step(scheduler: Scheduler, actor: str, times: int = 1) -> list[str]:
    gates = []
    for _ in range(times):
        gates.append(scheduler.release(actor))
        await scheduler.settle()
    return gates


async def to_the_end(scheduler: Scheduler, actor: str) -> object:
    while actor in scheduler.parked:
        await step(scheduler, actor)
    return scheduler.tasks[actor].result()


async def has_file(registry: Registry, digest: str) -> bool:
    try:
        await registry.storage.stat(registry.blobs.key(digest))
    except StorageKeyMissing:
        return False
    return True


async def test_a_mount_that_loses_its_blob_to_a_collection_fails(
    stepped: tuple[Registry, Scheduler],
) -> None:
    registry, scheduler = stepped
    digest = await upload(registry, "library/source")
    # Given a mount that has seen the blob in its source repository, and waits to link it
    scheduler.start(
        "mount", registry.blobs.mount("library/target", "library", digest, "library/source")
    )
    await scheduler.settle()
    assert scheduler.parked["mount"][0] == "link"
    # When a collection that started after that removes the blob
    await start_collection(registry, scheduler)
    assert (await to_the_end(scheduler, "gc")).blobs == 1  # type: ignore[attr-defined]
    # Then the mount fails (the client uploads instead), and no row without a file is left
    assert await to_the_end(scheduler, "mount") is False
    with pytest.raises(BlobUnknown):
        await registry.blobs.stat("library/target", digest)


async def test_an_upload_of_a_blob_being_deleted_waits_and_publishes_it_anew(
    stepped: tuple[Registry, Scheduler],
) -> None:
    registry, scheduler = stepped
    digest = await upload(registry, "library/old")
    # Given a collection that has claimed the blob and is about to delete its file
    await start_collection(registry, scheduler)
    await step(scheduler, "gc", 4)
    assert scheduler.parked["gc"][0] == "delete file"
    # When a client uploads the blob again meanwhile (it waits for the deletion), then
    # pushes an image naming it
    scheduler.start("upload", upload(registry, "library/new"))
    await scheduler.settle()
    await step(scheduler, "upload", 3)  # it keeps waiting while the collection holds it
    assert "upload" in scheduler.parked
    await step(scheduler, "gc")  # the file goes, and the row with its links
    assert await to_the_end(scheduler, "upload") == digest
    config = await upload(registry, "library/new", b"a config")
    manifest = manifest_of(b"a config", [LAYER])
    await registry.manifests.put("library/new", "library", "v1", manifest, OCI_MANIFEST)
    await to_the_end(scheduler, "gc")
    # Then the image pulls: the blob is back, with its bytes and the new repository's link
    assert (await registry.blobs.stat("library/new", digest)).size == len(LAYER)
    assert (await registry.blobs.stat("library/new", config)).size == len(b"a config")
    assert await has_file(registry, digest)


async def test_a_manifest_whose_blob_went_after_its_check_is_refused(
    stepped: tuple[Registry, Scheduler],
) -> None:
    registry, scheduler = stepped
    digest = await upload(registry, "library/a")
    manifest = manifest_of(LAYER, [LAYER])
    # Given a manifest PUT that has checked its blob is linked, and waits to store
    scheduler.start(
        "put", registry.manifests.put("library/a", "library", "v1", manifest, OCI_MANIFEST)
    )
    await scheduler.settle()
    await step(scheduler, "put")
    # When a collection removes the blob (links and all), and an upload to another
    # repository brings it back
    await start_collection(registry, scheduler)
    assert (await to_the_end(scheduler, "gc")).blobs == 1  # type: ignore[attr-defined]
    await upload(registry, "library/b")
    # Then the PUT is refused (the client uploads the blob again) rather than stored
    # with a blob its repository cannot serve
    while "put" in scheduler.parked:
        await step(scheduler, "put")
    assert isinstance(scheduler.tasks["put"].exception(), ManifestBlobUnknown)
    with pytest.raises(BlobUnknown):
        await registry.blobs.stat("library/a", digest)
