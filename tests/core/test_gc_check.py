"""The consistency check: files without rows, rows without files, interrupted deletions —
found, and with repair mended without undoing what a concurrent push did."""

from __future__ import annotations

import asyncio
import gzip
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core import gc_repair
from core.digests import Digest, parse_digest
from core.errors import BlobUnknown
from core.gc import GcOptions, collect
from core.gc_check import CheckReport, check
from core.service import Registry
from models import Blob, GcRun, Manifest, RepositoryBlob
from storage.keys import blob_key
from tests.factories import GZIP_LAYER, OCI_MANIFEST, a_tar, config_blob, image_manifest, sha256

REPO = "library/app"
HOUR = 3600


class Progress:
    """Records what the check reports, as a progress bar would show it."""

    def __init__(self) -> None:
        self.phases: list[tuple[str, int | None]] = []
        self.done: dict[str, int] = {}

    async def phase(self, name: str, total: int | None) -> None:
        self.phases.append((name, total))
        self.done[name] = 0

    async def advance(self, count: int) -> None:
        self.done[self.phases[-1][0]] += count


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def upload(registry: Registry, data: bytes, repo: str = REPO) -> str:
    return await registry.uploads.upload_whole(repo, "library", sha256(data), body(data), None)


async def push_image(registry: Registry, tag: str, repo: str = REPO) -> tuple[str, str]:
    """A config and one gzip layer, and the manifest naming them; (manifest, layer) digests."""
    config, layer = config_blob(tag), gzip.compress(a_tar(2000))
    await upload(registry, config, repo)
    await upload(registry, layer, repo)
    descriptor = {"mediaType": GZIP_LAYER, "digest": sha256(layer), "size": len(layer)}
    manifest = image_manifest(config, [descriptor])
    await registry.manifests.put(repo, "library", tag, manifest, OCI_MANIFEST)
    return sha256(manifest), sha256(layer)


def path_of(registry: Registry, digest: str) -> Path:
    algorithm, hex_digest = digest.split(":")
    root: Path = registry.storage.root  # type: ignore[attr-defined]
    return root / blob_key(algorithm, hex_digest)


async def place_file(registry: Registry, name: str, data: bytes, age: float) -> Path:
    """A file at the content address of name, as a crash after placing it would leave it."""
    algorithm, hex_digest = name.split(":")
    await registry.storage.write_all(blob_key(algorithm, hex_digest), data)
    path = path_of(registry, name)
    then = time.time() - age
    os.utime(path, (then, then))
    return path


async def run_check(registry: Registry, repair: bool = False, batch: int = 500) -> CheckReport:
    return await check(registry.storage, repair, Progress(), batch=batch)


async def dead_run_deleting(registry: Registry, digest: str, heartbeat_age: float) -> GcRun:
    beat = datetime.now(UTC) - timedelta(seconds=heartbeat_age)
    run = await GcRun.create(status="Running", heartbeat_at=beat)
    await Blob.filter(digest=digest).update(status="deleting", gc_run=run.id, version=3)
    return run


async def test_a_registry_after_real_pushes_is_consistent(registry: Registry) -> None:
    # Given images pushed through the registry's own services, in small pages
    for tag in ("one", "two", "three"):
        await push_image(registry, tag)
    progress = Progress()
    # When the check runs
    report = await check(registry.storage, False, progress, batch=2)
    # Then it saw every file and row, in both passes, and found nothing
    assert report.findings == 0 and report.unrepaired == 0
    assert (report.files, report.rows) == (6, 6)
    assert progress.phases == [("files", None), ("rows", 6)]
    assert progress.done == {"files": 6, "rows": 6}
    assert not report.foreign and report.young == 0


async def test_an_old_orphan_file_is_adopted_and_then_collectable(registry: Registry) -> None:
    data = b"placed, then the process died"
    await place_file(registry, sha256(data), data, age=HOUR)
    # The check finds it and leaves it alone
    found = await run_check(registry)
    assert [(o.digest, o.action) for o in found.orphans] == [(sha256(data), "found")]
    assert found.unrepaired == 1
    assert not await Blob.filter(digest=sha256(data)).exists()
    # Repair adopts it: a live, unreferenced row, linked nowhere
    repaired = await run_check(registry, repair=True)
    assert [(o.digest, o.action) for o in repaired.orphans] == [(sha256(data), "adopted")]
    assert repaired.unrepaired == 0
    blob = await Blob.get(digest=sha256(data))
    assert (blob.status, blob.size) == ("none", len(data))
    assert blob.touched_ms > (time.time() - 60) * 1000
    assert not await RepositoryBlob.filter(digest=sha256(data)).exists()
    assert path_of(registry, sha256(data)).read_bytes() == data
    assert (await run_check(registry)).findings == 0


async def test_an_orphan_whose_content_does_not_match_its_name_is_deleted(
    registry: Registry,
) -> None:
    claimed = sha256(b"what the name says")
    path = await place_file(registry, claimed, b"something else entirely", age=HOUR)
    found = await run_check(registry)
    assert [(o.digest, o.action) for o in found.orphans] == [(claimed, "wrong content")]
    repaired = await run_check(registry, repair=True)
    assert [(o.digest, o.action) for o in repaired.orphans] == [(claimed, "deleted")]
    assert not path.exists()
    assert not await Blob.filter(digest=claimed).exists()


async def test_a_wrong_content_file_whose_row_appeared_is_not_deleted(registry: Registry) -> None:
    claimed = sha256(b"named")
    path = await place_file(registry, claimed, b"not the named bytes", age=HOUR)
    # Given a row for the digest appears after the check found the file row-less
    await Blob.create(digest=claimed, size=5)
    # Then the deletion re-checks and keeps the file
    assert not await gc_repair.delete_wrong_content(registry.storage, parse(claimed))
    assert path.exists()


async def test_a_young_orphan_is_left_alone(registry: Registry) -> None:
    # Given a file an upload has just placed (its row follows in milliseconds)
    data = b"an upload about to insert its row"
    path = await place_file(registry, sha256(data), data, age=5)
    # When the check repairs
    report = await run_check(registry, repair=True)
    # Then the file is counted as young, not an orphan, and neither adopted nor deleted
    assert report.young == 1 and report.findings == 0
    assert path.exists()
    assert not await Blob.filter(digest=sha256(data)).exists()


async def test_a_missing_file_is_repaired_so_that_a_re_push_uploads_it_again(
    registry: Registry,
) -> None:
    manifest, layer = await push_image(registry, "v1")
    layer_bytes = path_of(registry, layer).read_bytes()
    path_of(registry, layer).unlink()
    # The check names the blob and the manifests that need it
    found = await run_check(registry)
    assert [(m.digest, m.manifests, m.repaired) for m in found.missing] == [
        (layer, [(REPO, manifest)], False)
    ]
    assert found.unrepaired == 1
    # Repair forgets the blob and fails the manifest
    repaired = await run_check(registry, repair=True)
    assert [(m.digest, m.repaired) for m in repaired.missing] == [(layer, True)]
    assert not await Blob.filter(digest=layer).exists()
    assert not await RepositoryBlob.filter(digest=layer).exists()
    row = await Manifest.get(digest=manifest)
    assert (row.verification, row.verification_reason) == ("failed", "blob missing from storage")
    # A client's HEAD now says the blob is unknown, so it uploads it again
    with pytest.raises(BlobUnknown):
        await registry.blobs.stat(REPO, layer)
    await upload(registry, layer_bytes)
    assert (await registry.blobs.stat(REPO, layer)).size == len(layer_bytes)
    assert (await run_check(registry)).findings == 0


async def test_a_missing_file_of_a_revived_row_is_not_undone(registry: Registry) -> None:
    data = b"revived by a push"
    await upload(registry, data)
    path_of(registry, data_digest := sha256(data)).unlink()
    seen = await _seen(data_digest)
    # Given a push revived the row (version bump) after the check read it
    await Blob.filter(digest=data_digest).update(version=seen.version + 1)
    # Then the repair's compare-and-set misses, and the row and its link stay
    assert not await gc_repair.forget_missing(registry.storage, seen, parse(data_digest))
    assert await Blob.filter(digest=data_digest).exists()
    assert await RepositoryBlob.filter(digest=data_digest).exists()


async def test_a_missing_file_that_a_push_put_back_keeps_its_row(registry: Registry) -> None:
    data = b"put back by a push"
    await upload(registry, data)
    seen = await _seen(sha256(data))
    # The file is present again when the repair looks (files go first, rows after)
    assert not await gc_repair.forget_missing(registry.storage, seen, parse(sha256(data)))
    assert (await registry.blobs.stat(REPO, sha256(data))).size == len(data)


async def test_a_deletion_a_dead_run_left_is_finished(registry: Registry) -> None:
    data = b"claimed by a collection that died"
    await upload(registry, data)
    run = await dead_run_deleting(registry, sha256(data), heartbeat_age=HOUR)
    found = await run_check(registry)
    assert [(s.digest, s.gc_run, s.repaired) for s in found.stuck] == [
        (sha256(data), run.id, False)
    ]
    repaired = await run_check(registry, repair=True)
    assert [(s.digest, s.repaired) for s in repaired.stuck] == [(sha256(data), True)]
    assert not path_of(registry, sha256(data)).exists()
    assert not await Blob.filter(digest=sha256(data)).exists()
    assert not await RepositoryBlob.filter(digest=sha256(data)).exists()
    assert (await run_check(registry)).findings == 0


async def test_a_live_runs_deletions_are_left_alone(registry: Registry) -> None:
    data = b"being deleted by a live collection"
    await upload(registry, data)
    await dead_run_deleting(registry, sha256(data), heartbeat_age=1)
    report = await run_check(registry, repair=True)
    assert report.findings == 0
    assert path_of(registry, sha256(data)).exists()
    assert (await Blob.get(digest=sha256(data))).status == "deleting"


async def test_no_deletion_is_finished_while_any_collection_is_alive(registry: Registry) -> None:
    data = b"left by a dead run while another runs"
    await upload(registry, data)
    await dead_run_deleting(registry, sha256(data), heartbeat_age=HOUR)
    await GcRun.create(status="Running", heartbeat_at=datetime.now(UTC))
    report = await run_check(registry, repair=True)
    assert [(s.digest, s.repaired) for s in report.stuck] == [(sha256(data), False)]
    assert report.unrepaired == 1
    assert path_of(registry, sha256(data)).exists()


async def test_a_file_of_another_size_is_reported(registry: Registry) -> None:
    data = b"the bytes as pushed"
    await upload(registry, data)
    path_of(registry, sha256(data)).write_bytes(b"truncated")
    report = await run_check(registry, repair=True)
    assert [(s.digest, s.recorded, s.stored) for s in report.sizes] == [
        (sha256(data), len(data), len(b"truncated"))
    ]
    assert report.unrepaired == 1


async def test_keys_under_blobs_that_name_no_digest_are_listed_not_touched(
    registry: Registry,
) -> None:
    await registry.storage.write_all("blobs/sha256/zz/not-a-digest", b"?")
    report = await run_check(registry, repair=True)
    assert report.foreign == ["blobs/sha256/zz/not-a-digest"]
    assert report.findings == 0
    assert await registry.storage.read_all("blobs/sha256/zz/not-a-digest") == b"?"


def parse(digest: str) -> Digest:
    return parse_digest(digest)


async def _seen(digest: str) -> gc_repair.SeenRow:
    row = await Blob.get(digest=digest)
    return gc_repair.SeenRow(row.id, row.digest, row.size, row.status, row.version, row.gc_run)


class TakenBackDuringDelete:
    """Storage on which the row is taken back to none just as the file goes: what the
    repair's compare-and-set on its own claim guards against."""

    def __init__(self, registry: Registry) -> None:
        self.inner = registry.storage

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def delete(self, key: str) -> None:
        digest = "sha256:" + key.rsplit("/", 1)[1]
        await Blob.filter(digest=digest).update(status="none", version=99)
        await self.inner.delete(key)


async def test_a_row_taken_back_while_its_deletion_is_finished_is_reported_lost(
    registry: Registry,
) -> None:
    data = b"revived while its file was being deleted"
    await upload(registry, data)
    await dead_run_deleting(registry, sha256(data), heartbeat_age=HOUR)
    racing = TakenBackDuringDelete(registry)
    # When the repair's final compare-and-set loses
    report = await check(racing, True, Progress())  # type: ignore[arg-type]
    # Then the deletion is not counted as finished, and the live row without a file is named
    assert report.stuck == []
    assert [(m.digest, m.status, m.repaired) for m in report.missing] == [
        (sha256(data), "none", False)
    ]
    # And the next repair forgets it, so the client's next push uploads it again
    again = await run_check(registry, repair=True)
    assert [(m.digest, m.repaired) for m in again.missing] == [(sha256(data), True)]
    await upload(registry, data)
    assert (await registry.blobs.stat(REPO, sha256(data))).size == len(data)


async def test_repairs_running_alongside_pushes_lose_no_pushed_blob(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given pushes whose rows follow their files a little late, while the check repairs over
    # and over with no grace at all, so that it finds files whose row is not there yet
    placed = registry.storage.place

    async def place_then_pause(src: str, dst: str) -> bool:
        created = await placed(src, dst)
        await asyncio.sleep(0.2)
        return created

    monkeypatch.setattr(registry.storage, "place", place_then_pause)
    blobs = [a_tar(500) for _ in range(20)]
    pushing = asyncio.gather(*(upload(registry, data) for data in blobs))
    adopted = 0
    while not pushing.done():
        report = await check(registry.storage, True, Progress(), grace=timedelta(0), batch=7)
        adopted += sum(o.action == "adopted" for o in report.orphans)
    await pushing
    # Then the check did adopt files mid-push, and yet every pushed blob is visible where it
    # was pushed, and nothing is left to mend
    assert adopted > 0
    for data in blobs:
        assert (await registry.blobs.stat(REPO, sha256(data))).size == len(data)
    assert (await run_check(registry)).findings == 0


class Collecting(Progress):
    """A collection's reporter: the check's progress plus its log, never asked to stop."""

    async def line(self, text: str) -> None:
        return None

    async def should_stop(self) -> bool:
        return False


async def test_an_adopted_orphan_is_freed_by_the_next_collection(registry: Registry) -> None:
    data = b"adopted, then collected"
    path = await place_file(registry, sha256(data), data, age=HOUR)
    await run_check(registry, repair=True)
    # When a collection runs with no window
    run = await GcRun.create(status="Running", heartbeat_at=datetime.now(UTC))
    result = await collect(registry.storage, run.id, GcOptions(window=timedelta(0)), Collecting())
    # Then it freed the adopted blob, file and row, and the check finds nothing
    assert (result.blobs, result.bytes) == (1, len(data))
    assert not path.exists()
    assert not await Blob.filter(digest=sha256(data)).exists()
    await GcRun.filter(id=run.id).update(status="Success")
    assert (await run_check(registry)).findings == 0


async def test_a_claim_an_upload_takes_over_first_is_no_finding(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"taken over by an upload"
    await upload(registry, data)
    await dead_run_deleting(registry, sha256(data), heartbeat_age=HOUR)

    async def taken_over_meanwhile() -> bool:
        # An upload takes the dead run's claim over after the check read the row
        await Blob.filter(digest=sha256(data), status="deleting").update(status="none", version=4)
        return False

    monkeypatch.setattr(gc_repair, "collection_alive", taken_over_meanwhile)
    report = await run_check(registry, repair=True)
    # Then the repair's claim misses, the file stays, and nothing is left standing
    assert report.findings == 0
    assert (await registry.blobs.stat(REPO, sha256(data))).size == len(data)
    assert path_of(registry, sha256(data)).exists()
