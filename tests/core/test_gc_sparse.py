"""Garbage collection and the consistency check beside sparse indexes (an index naming
children its repository lacks, in a project with sparse_index): what is present stays, what
is absent trips nothing, and a child pushed later is kept by the index."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from core import project_settings
from core.gc import GcOptions, GcResult, collect
from core.gc_check import check
from core.service import Registry
from models import Blob, GcRun, Manifest, Project
from pipelines.verify import verify_manifest
from tests.gc.support import OCI_MANIFEST, Quiet, body, manifest_of, sha256

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
REPO = "edge/app"


class Progress:
    async def phase(self, name: str, total: int | None) -> None:
        return None

    async def advance(self, count: int) -> None:
        return None


async def sparse_project(name: str = "edge") -> int:
    project = await Project.create(name=name, public=False)
    await project_settings.store(int(project.id), {project_settings.SPARSE_INDEX: "true"})
    return int(project.id)


def image(label: str, layer: bytes) -> tuple[bytes, bytes]:
    """The config and manifest of a one-layer image."""
    config = json.dumps({"label": label, "rootfs": {"type": "layers"}}).encode()
    return config, manifest_of(config, [layer])


async def push_image(registry: Registry, label: str, layer: bytes) -> bytes:
    """An image's blobs and manifest (by digest, untagged); its manifest."""
    config, manifest = image(label, layer)
    for data in (config, layer):
        await registry.uploads.upload_whole(REPO, "edge", sha256(data), body(data), None)
    await registry.manifests.put(REPO, "edge", sha256(manifest), manifest, OCI_MANIFEST)
    return manifest


def index_of(*children: bytes) -> bytes:
    entries = [
        {
            "mediaType": OCI_MANIFEST,
            "digest": sha256(child),
            "size": len(child),
            "platform": {"os": "linux", "architecture": arch},
        }
        for child, arch in zip(children, ("amd64", "arm64", "s390x"), strict=False)
    ]
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()


async def gc(registry: Registry, **options: object) -> GcResult:
    run = await GcRun.create(status="Running", heartbeat_at=datetime.now(UTC))
    opts = GcOptions(window=timedelta(0), **options)  # type: ignore[arg-type]
    result = await collect(registry.storage, run.id, opts, Quiet())
    await GcRun.filter(id=run.id).update(status="Success")
    return result


async def test_a_collection_keeps_the_present_child_of_a_tagged_sparse_index(
    registry: Registry,
) -> None:
    # Given a tagged sparse index: its amd64 child pushed, its arm64 child never
    await sparse_project()
    present = await push_image(registry, "amd64", b"amd64 layer")
    _, absent = image("arm64", b"arm64 layer")
    index = index_of(present, absent)
    await registry.manifests.put(REPO, "edge", "v1", index, OCI_INDEX)
    # When a collection that also removes untagged manifests runs (a dry run first)
    dry = await gc(registry, dry_run=True, delete_untagged=True)
    real = await gc(registry, delete_untagged=True)
    # Then it removes nothing: the index, the present child and its blobs stay
    assert dry == real
    assert (real.manifests, real.blobs) == (0, 0)
    assert await Manifest.exists(digest=sha256(index))
    assert await Manifest.exists(digest=sha256(present))
    assert await Blob.exists(digest=sha256(b"amd64 layer"))
    assert (await registry.manifests.get(REPO, sha256(present))).content == present


async def test_a_child_pushed_after_its_sparse_index_is_kept_by_it(registry: Registry) -> None:
    # Given a tagged sparse index none of whose children is present
    await sparse_project()
    _, first = image("amd64", b"first layer")
    _, second = image("arm64", b"second layer")
    await registry.manifests.put(REPO, "edge", "v1", index_of(first, second), OCI_INDEX)
    # When one child is pushed afterwards (untagged), and a collection runs
    await push_image(registry, "amd64", b"first layer")
    result = await gc(registry, delete_untagged=True)
    # Then the child is alive through the index, with its blobs
    assert (result.manifests, result.blobs) == (0, 0)
    assert await Manifest.exists(digest=sha256(first))
    assert await Blob.exists(digest=sha256(b"first layer"))


async def test_an_untagged_sparse_index_goes_with_its_present_child_and_their_blobs(
    registry: Registry,
) -> None:
    # Given a sparse index by digest only (no tag keeps it), with one child present
    await sparse_project()
    present = await push_image(registry, "amd64", b"doomed layer")
    _, absent = image("arm64", b"never pushed")
    index = index_of(present, absent)
    await registry.manifests.put(REPO, "edge", sha256(index), index, OCI_INDEX)
    # When a collection removing untagged manifests runs
    result = await gc(registry, delete_untagged=True)
    # Then the index and its present child go, and the child's config and layer with them
    assert result.manifests == 2 and result.blobs == 2
    assert not await Manifest.exists(digest=sha256(index))
    assert not await Manifest.exists(digest=sha256(present))
    assert not await Blob.exists(digest=sha256(b"doomed layer"))


async def test_the_consistency_check_finds_nothing_wrong_with_a_sparse_index(
    registry: Registry,
) -> None:
    # Given a tagged sparse index with one child present and one absent
    await sparse_project()
    present = await push_image(registry, "amd64", b"checked layer")
    _, absent = image("arm64", b"absent layer")
    await registry.manifests.put(REPO, "edge", "v1", index_of(present, absent), OCI_INDEX)
    # When the consistency check runs
    report = await check(registry.storage, False, Progress())
    # Then the absent child is no finding: every row has its file and the reverse
    assert report.findings == 0 and report.unrepaired == 0
    assert (report.files, report.rows) == (2, 2)


async def test_deep_verification_passes_a_sparse_index(registry: Registry) -> None:
    # Given a sparse index stored in a project with sparse_index
    await sparse_project()
    present = await push_image(registry, "amd64", b"verified layer")
    _, absent = image("arm64", b"not here")
    index = index_of(present, absent)
    await registry.manifests.put(REPO, "edge", "v1", index, OCI_INDEX)
    stored = await registry.manifests.get(REPO, "v1")
    # When the push pipeline's verification reads it, then it raises nothing: the absent
    # child is the point of a sparse index, not a fault
    await verify_manifest(registry, stored.repository_id, stored.content)
