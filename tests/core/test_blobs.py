"""Blob rows: stored once, linked per repository, brought back from GC by compare-and-set."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest

from core.errors import BlobUnknown, DigestInvalid
from core.service import Registry
from models import Blob


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def test_a_push_revives_a_blob_gc_had_marked_and_bumps_its_version(
    registry: Registry,
) -> None:
    data = b"layer bytes"
    await registry.uploads.upload_whole("library/app", "library", sha256(data), body(data), None)
    # Given GC marked the blob for deletion (it saw version v)
    seen = (await Blob.get(digest=sha256(data))).version
    await Blob.filter(digest=sha256(data), version=seen).update(status="delete")
    # When the same content is pushed again
    await registry.uploads.upload_whole("library/app", "library", sha256(data), body(data), None)
    # Then the blob is live again, and GC's compare-and-set on version v can no longer match
    blob = await Blob.get(digest=sha256(data))
    assert (blob.status, blob.version) == ("none", seen + 1)
    assert (await registry.blobs.stat("library/app", sha256(data))).size == len(data)


async def test_monolithic_upload_with_wrong_digest_leaves_nothing(registry: Registry) -> None:
    with pytest.raises(DigestInvalid):
        await registry.uploads.upload_whole(
            "library/app", "library", sha256(b"claimed"), body(b"actual"), None
        )
    assert [k async for k, _s, _m in registry.storage.list("uploads")] == []
    assert [k async for k, _s, _m in registry.storage.list("blobs")] == []


async def test_blob_is_visible_only_in_repositories_that_link_it(registry: Registry) -> None:
    data = b"private layer"
    await registry.uploads.upload_whole("library/one", "library", sha256(data), body(data), None)
    with pytest.raises(BlobUnknown):
        await registry.blobs.stat("library/two", sha256(data))
    assert await registry.blobs.mount("library/two", "library", sha256(data), "library/one")
    assert (await registry.blobs.stat("library/two", sha256(data))).size == len(data)
    await registry.blobs.unlink("library/one", sha256(data))
    with pytest.raises(BlobUnknown):
        await registry.blobs.stat("library/one", sha256(data))
    assert (await registry.blobs.stat("library/two", sha256(data))).size == len(data)
