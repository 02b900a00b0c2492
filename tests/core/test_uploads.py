"""Upload sessions: resumable across processes, nothing half-written ever visible."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from core.blobs import BlobStore
from core.errors import BlobUnknown, BlobUploadUnknown, ChunkOutOfOrder, DigestInvalid, SizeInvalid
from core.service import Registry
from core.uploads import UploadService
from models import UploadSession
from storage import StorageKeyMissing
from storage.keys import upload_key


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def cut_off(data: bytes) -> AsyncIterator[bytes]:
    """A body whose client disconnects after sending data."""
    yield data
    raise ConnectionResetError("client went away")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def read_blob(registry: Registry, repo: str, digest: str) -> bytes:
    await registry.blobs.stat(repo, digest)
    return b"".join([p async for p in registry.blobs.read(digest)])


async def test_another_process_continues_and_commits_an_upload(registry: Registry) -> None:
    # Given a session started and half-filled by one server process
    session = await registry.uploads.start("library/app", "library")
    await registry.uploads.append(session, chunks(b"first half,"), 0, 11)
    # When a second process (its own UploadService, without the running hash) takes over
    other = UploadService(registry.storage, BlobStore(registry.storage), flush_every=1024)
    resumed = await other.get("library/app", session.id)
    await other.append(resumed, chunks(b" second half"), 11, 12)
    digest = await other.commit(resumed, sha256(b"first half, second half"), "library")
    # Then the blob is complete and correct
    assert await read_blob(registry, "library/app", digest) == b"first half, second half"


async def test_disconnect_mid_chunk_leaves_the_upload_at_its_last_good_offset(
    registry: Registry,
) -> None:
    session = await registry.uploads.start("library/app", "library")
    await registry.uploads.append(session, chunks(b"good"), 0, 4)
    with pytest.raises(ConnectionResetError):
        await registry.uploads.append(session, cut_off(b"partial junk"), 4, 100)
    fresh = await registry.uploads.get("library/app", session.id)
    assert fresh.offset == 4
    assert await registry.storage.stat(upload_key(session.id)) == 4
    # The client resumes from the Range it is told, and the digest is of the good bytes only.
    await registry.uploads.append(fresh, chunks(b"-rest"), 4, 5)
    digest = await registry.uploads.commit(fresh, sha256(b"good-rest"), "library")
    assert await read_blob(registry, "library/app", digest) == b"good-rest"


async def test_short_body_is_size_invalid_and_nothing_is_visible(registry: Registry) -> None:
    session = await registry.uploads.start("library/app", "library")
    data = b"only part of it"
    with pytest.raises(SizeInvalid):
        await registry.uploads.commit(session, sha256(data + b"!"), "library", chunks(data), 99)
    with pytest.raises(BlobUnknown):
        await registry.blobs.stat("library/app", sha256(data + b"!"))


async def test_wrong_digest_discards_the_upload(registry: Registry) -> None:
    session = await registry.uploads.start("library/app", "library")
    with pytest.raises(DigestInvalid):
        await registry.uploads.commit(session, sha256(b"other"), "library", chunks(b"data"), 4)
    with pytest.raises(BlobUploadUnknown):
        await registry.uploads.get("library/app", session.id)
    with pytest.raises(StorageKeyMissing):
        await registry.storage.stat(upload_key(session.id))
    with pytest.raises(BlobUnknown):
        await registry.blobs.stat("library/app", sha256(b"other"))


async def test_out_of_order_chunk_reports_the_current_offset(registry: Registry) -> None:
    session = await registry.uploads.start("library/app", "library")
    await registry.uploads.append(session, chunks(b"12345"), 0, 5)
    with pytest.raises(ChunkOutOfOrder) as caught:
        await registry.uploads.append(session, chunks(b"x"), 7, 1)
    assert caught.value.current_size == 5


async def test_sha512_digest_is_checked(registry: Registry) -> None:
    data = b"sha512 content"
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    session = await registry.uploads.start("library/app", "library")
    assert await registry.uploads.commit(session, digest, "library", chunks(data), None) == digest
    assert await read_blob(registry, "library/app", digest) == data


async def test_identical_blobs_are_stored_once(registry: Registry) -> None:
    data = b"shared layer" * 100
    for repo in ("library/one", "library/two"):
        session = await registry.uploads.start(repo, "library")
        await registry.uploads.commit(session, sha256(data), "library", chunks(data), None)
    stored = [key async for key, _s, _m in registry.storage.list("blobs")]
    assert len(stored) == 1
    assert await read_blob(registry, "library/two", sha256(data)) == data


async def test_abandoned_sessions_are_purged_after_the_configured_age(
    registry: Registry,
) -> None:
    old = await registry.uploads.start("library/app", "library")
    await registry.uploads.append(old, chunks(b"stale"), 0, 5)
    recent = await registry.uploads.start("library/app", "library")
    long_ago = datetime.now(UTC) - timedelta(days=3)
    await UploadSession.filter(id=old.id).update(updated_at=long_ago)
    removed = await registry.uploads.purge_stale(timedelta(days=1))
    assert removed == 1
    with pytest.raises(BlobUploadUnknown):
        await registry.uploads.get("library/app", old.id)
    with pytest.raises(StorageKeyMissing):
        await registry.storage.stat(upload_key(old.id))
    assert (await registry.uploads.get("library/app", recent.id)).offset == 0
