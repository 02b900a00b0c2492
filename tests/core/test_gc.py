"""Garbage collection on the registry's own services: what goes, what stays, and the races a
push must win (each interleaving here is one a client can produce)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from core.errors import BlobUnknown, ManifestBlobUnknown
from core.gc import GcOptions, GcResult, collect
from core.service import Registry
from models import Blob, GcRun, Manifest, ManifestDigest, RepositoryBlob, UploadSession
from storage import StorageKeyMissing
from storage.keys import upload_key
from tests.gc.support import Quiet, body, manifest_of, sha256

NOW = timedelta(0)


async def push_blob(registry: Registry, repo: str, data: bytes) -> str:
    return await registry.uploads.upload_whole(repo, "library", sha256(data), body(data), None)


def image(repo: str, tag: str, *layers: bytes) -> tuple[bytes, bytes]:
    """The config and manifest of an image of these layers."""
    config = json.dumps({"repo": repo, "tag": tag, "rootfs": {"type": "layers"}}).encode()
    return config, manifest_of(config, list(layers))


async def put_manifest(registry: Registry, repo: str, tag: str, manifest: bytes) -> str:
    media_type = "application/vnd.oci.image.manifest.v1+json"
    return (await registry.manifests.put(repo, "library", tag, manifest, media_type)).digest


async def push_image(registry: Registry, repo: str, tag: str, *layers: bytes) -> str:
    config, manifest = image(repo, tag, *layers)
    for data in (config, *layers):
        await push_blob(registry, repo, data)
    return await put_manifest(registry, repo, tag, manifest)


async def gc(registry: Registry, **options: object) -> GcResult:
    run = await GcRun.create(status="Running", heartbeat_at=datetime.now(UTC))
    opts = GcOptions(window=NOW, **options)  # type: ignore[arg-type]
    result = await collect(registry.storage, run.id, opts, Quiet())
    await GcRun.filter(id=run.id).update(status="Success")
    return result


async def stored(registry: Registry, digest: str) -> bool:
    try:
        await registry.storage.stat(registry.blobs.key(digest))
    except Exception:
        return False
    return True


async def test_unreferenced_blobs_go_and_referenced_ones_stay(registry: Registry) -> None:
    # Given an image, and a layer uploaded but never named by a manifest
    await push_image(registry, "library/app", "v1", b"kept layer")
    orphan = await push_blob(registry, "library/app", b"orphan layer")
    # When a collection runs
    result = await gc(registry)
    # Then only the orphan is gone, from storage, the table and the repository
    assert (result.blobs, result.bytes) == (1, len(b"orphan layer"))
    assert not await stored(registry, orphan)
    assert not await Blob.exists(digest=orphan)
    assert not await RepositoryBlob.exists(digest=orphan)
    assert await stored(registry, sha256(b"kept layer"))
    with pytest.raises(BlobUnknown):
        await registry.blobs.stat("library/app", orphan)
    # And a second run right after finds nothing more
    assert (await gc(registry)).blobs == 0


async def test_a_blob_touched_within_the_window_stays(registry: Registry) -> None:
    orphan = await push_blob(registry, "library/app", b"fresh orphan")
    run = await GcRun.create(status="Running", heartbeat_at=datetime.now(UTC))
    options = GcOptions(window=timedelta(hours=2))
    assert (await collect(registry.storage, run.id, options, Quiet())).blobs == 0
    assert await stored(registry, orphan)


async def test_deleting_an_image_frees_only_its_own_layers(registry: Registry) -> None:
    await push_image(registry, "library/one", "v1", b"shared base", b"one only")
    await push_image(registry, "library/two", "v1", b"shared base", b"two only")
    digest = await registry.manifests.get("library/one", "v1")
    await registry.manifests.delete("library/one", digest.digest)
    dry = await gc(registry, dry_run=True)
    real = await gc(registry)
    assert dry == real
    assert real.blobs == 2  # the config and the layer of one
    assert not await stored(registry, sha256(b"one only"))
    assert await stored(registry, sha256(b"shared base"))
    assert await stored(registry, sha256(b"two only"))


async def test_a_head_takes_a_marked_blob_back_and_the_claim_fails(registry: Registry) -> None:
    digest = await push_blob(registry, "library/app", b"layer")
    # Given a collection marked the blob at version v
    run = await GcRun.create(status="Running", heartbeat_at=datetime.now(UTC))
    await Blob.filter(digest=digest).update(status="delete", gc_run=run.id)
    marked = await Blob.get(digest=digest)
    # When a client HEADs it (it means to use it)
    assert (await registry.blobs.stat("library/app", digest)).size == len(b"layer")
    # Then the blob is none again with a bumped version: the claim on v cannot match
    blob = await Blob.get(digest=digest)
    assert (blob.status, blob.version) == ("none", marked.version + 1)
    claimed = await Blob.filter(digest=digest, status="delete", version=marked.version).update(
        status="deleting"
    )
    assert claimed == 0


async def test_a_manifest_naming_a_marked_blob_takes_it_back(registry: Registry) -> None:
    await push_image(registry, "library/app", "v1", b"layer one")
    layer = sha256(b"layer one")
    # Given a collection marked the layer after the client's HEAD said it exists
    await Blob.filter(digest=layer).update(status="delete")
    before = await Blob.get(digest=layer)
    # When the client pushes a manifest naming it (without uploading it again)
    config, manifest = image("library/app", "v2", b"layer one")
    await push_blob(registry, "library/app", config)
    await put_manifest(registry, "library/app", "v2", manifest)
    # Then it is none again, its version bumped
    after = await Blob.get(digest=layer)
    assert (after.status, after.version) == ("none", before.version + 1)


async def test_a_manifest_naming_a_blob_being_deleted_is_refused(registry: Registry) -> None:
    config, manifest = image("library/app", "v1", b"going")
    await push_blob(registry, "library/app", config)
    digest = await push_blob(registry, "library/app", b"going")
    await Blob.filter(digest=digest).update(status="deleting")
    with pytest.raises(ManifestBlobUnknown):
        await put_manifest(registry, "library/app", "v1", manifest)
    assert not await Manifest.exists(repository__name="library/app")
    with pytest.raises(BlobUnknown):
        await registry.blobs.stat("library/app", digest)


async def test_an_upload_takes_over_the_claim_of_a_dead_collection(registry: Registry) -> None:
    digest = await push_blob(registry, "library/app", b"stuck")
    # Given a collection claimed the blob, deleted the file and died
    dead = await GcRun.create(status="Error", heartbeat_at=datetime.now(UTC))
    await Blob.filter(digest=digest).update(status="deleting", gc_run=dead.id, touched_ms=0)
    await registry.storage.delete(registry.blobs.key(digest))
    # When the client, told BLOB_UNKNOWN, uploads it again
    with pytest.raises(BlobUnknown):
        await registry.blobs.stat("library/app", digest)
    await push_blob(registry, "library/app", b"stuck")
    # Then the blob is whole and live
    assert (await registry.blobs.stat("library/app", digest)).size == len(b"stuck")
    assert await registry.storage.read_all(registry.blobs.key(digest)) == b"stuck"


async def test_a_restarted_run_finishes_what_a_dead_one_claimed(registry: Registry) -> None:
    digest = await push_blob(registry, "library/app", b"half deleted")
    dead = await GcRun.create(status="Running", heartbeat_at=datetime.now(UTC) - timedelta(hours=1))
    await Blob.filter(digest=digest).update(status="deleting", gc_run=dead.id)
    result = await gc(registry)
    assert result.blobs == 1
    assert not await Blob.exists(digest=digest)
    assert not await stored(registry, digest)


async def test_untagged_manifests_go_but_children_and_referrers_of_live_ones_stay(
    registry: Registry,
) -> None:
    tagged = await push_image(registry, "library/app", "v1", b"tagged layer")
    untagged = await push_image(registry, "library/app", "v2", b"untagged layer")
    await registry.manifests.delete("library/app", "v2")  # the tag only
    dry = await gc(registry, dry_run=True, delete_untagged=True)
    real = await gc(registry, delete_untagged=True)
    assert dry == real
    assert real.manifests == 1
    assert await Manifest.exists(digest=tagged)
    assert not await Manifest.exists(digest=untagged)
    assert not await stored(registry, sha256(b"untagged layer"))
    assert await stored(registry, sha256(b"tagged layer"))


def sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def descriptor(manifest: bytes, digest: str) -> dict[str, object]:
    media_type = "application/vnd.oci.image.manifest.v1+json"
    return {"mediaType": media_type, "digest": digest, "size": len(manifest)}


async def push_by_sha512(registry: Registry, repo: str, name: str, *layers: bytes) -> bytes:
    """An image of these layers, its manifest PUT by its sha512 digest only; its bytes."""
    config, manifest = image(repo, name, *layers)
    for data in (config, *layers):
        await push_blob(registry, repo, data)
    await put_manifest(registry, repo, sha512(manifest), manifest)
    return manifest


async def test_untagged_collection_follows_every_digest_a_manifest_is_known_by(
    registry: Registry,
) -> None:
    # Given a child pushed by sha512 only that a tagged index names by its sha256; a tagged
    # subject whose referrer names it by the sha512 it was pushed under too; an orphan
    repo = "library/app"
    child = await push_by_sha512(registry, repo, "child", b"child layer")
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [descriptor(child, sha256(child))],
        }
    ).encode()
    await registry.manifests.put(repo, "library", "multi", index, json.loads(index)["mediaType"])
    await push_image(registry, repo, "v1", b"subject layer")
    subject = image(repo, "v1", b"subject layer")[1]
    await put_manifest(registry, repo, sha512(subject), subject)
    referrer_config, referrer_manifest = image(repo, "referrer", b"referrer layer")
    referrer = {**json.loads(referrer_manifest), "subject": descriptor(subject, sha512(subject))}
    for data in (referrer_config, b"referrer layer"):
        await push_blob(registry, repo, data)
    referrer_body = json.dumps(referrer).encode()
    await put_manifest(registry, repo, sha256(referrer_body), referrer_body)
    orphan = await push_by_sha512(registry, repo, "orphan", b"orphan layer")
    # When a collection removes untagged manifests
    real = await gc(registry, delete_untagged=True)
    # Then only the orphan goes, with every digest it was known by
    assert real.manifests == 1
    for kept in (sha512(child), sha256(referrer_body)):
        assert await Manifest.exists(digest=kept)
    assert not await Manifest.exists(digest=sha512(orphan))
    assert not await ManifestDigest.exists(digest=sha256(orphan))
    assert not await stored(registry, sha256(b"orphan layer"))
    assert await stored(registry, sha256(b"child layer"))


async def test_abandoned_uploads_go(registry: Registry) -> None:
    session = await registry.uploads.start("library/app", "library")
    await registry.uploads.append(session, body(b"half"))
    await UploadSession.filter(id=session.id).update(
        updated_at=datetime.now(UTC) - timedelta(hours=1)
    )
    assert (await gc(registry)).uploads == 1
    assert not await UploadSession.exists(id=session.id)
    with pytest.raises(StorageKeyMissing):
        await registry.storage.stat(upload_key(session.id))
