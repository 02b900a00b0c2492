"""core/manifest_digests.py on the registry's own services (SQLite and PostgreSQL): two
pushes of the same bytes under different digests that race still store one manifest."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest

from core import manifest_digests
from core.service import Registry
from models import Manifest, ManifestDigest, Tag
from tests.gc.support import body, manifest_of, sha256

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def both_read_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first two look-ups of a manifest's bytes return only once both have read, so
    neither push sees what the other stores: the race the unique sha256 row must settle."""
    barrier = asyncio.Barrier(2)
    calls = 0
    real = manifest_digests.known

    async def known(*args: Any) -> manifest_digests.Known | None:
        nonlocal calls
        calls += 1
        found = await real(*args)
        if calls <= 2:
            await barrier.wait()
        return found

    monkeypatch.setattr(manifest_digests, "known", known)


async def test_racing_pushes_by_sha512_and_by_tag_store_one_manifest(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an image's blobs in the repository, and two pushes of its manifest that both
    # look for its bytes before either stores them: one by sha512 digest, one by tag
    repo, config, layer = "library/race", b'{"race":1}', b"race layer"
    for data in (config, layer):
        await registry.uploads.upload_whole(repo, "library", sha256(data), body(data), None)
    manifest = manifest_of(config, [layer])
    sha512 = "sha512:" + hashlib.sha512(manifest).hexdigest()
    both_read_first(monkeypatch)
    # When they run at once
    by_digest, by_tag = await asyncio.gather(
        registry.manifests.put(repo, "library", sha512, manifest, OCI_MANIFEST),
        registry.manifests.put(repo, "library", "v1", manifest, OCI_MANIFEST),
    )
    # Then there is one manifest, known by both digests, tagged v1
    rows = await Manifest.filter(repository__name=repo).values_list("id", "digest")
    assert len(rows) == 1
    ((manifest_id, first),) = rows
    known = await ManifestDigest.filter(manifest_id=manifest_id).values_list("digest", flat=True)
    assert set(known) == {sha256(manifest), sha512}
    assert await Tag.filter(name="v1", manifest_id=manifest_id).exists()
    # And each push answered as one alone would: the digest it named, or by tag the
    # digest the bytes were stored under first
    assert by_digest.digest == sha512
    assert by_tag.digest == first
