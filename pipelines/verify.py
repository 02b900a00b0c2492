"""Deep verification of a pushed manifest: every blob re-read from storage, layers
decompressed to the end, and an image config's diff_ids checked against the layers.

A blob is read on a worker thread through a blocking file that pulls pieces from the async
storage stream on the event loop, so hashing and decompression never hold the loop and no
layer is ever whole in memory. A mismatch is a result ("failed" with the reason); an I/O
error fails the job, which is retried.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import IO, Any, cast

import zstandard

from core import artifacts, project_settings
from core import mediatypes as mt
from core.digests import parse_digest
from core.jobs import ClaimedJob
from core.service import Registry
from pipelines import PipelineContext
from pipelines.push import push_step
from storage import StorageKeyMissing

GZIP_LAYERS = frozenset(
    {
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    }
)
ZSTD_LAYERS = frozenset(
    {
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)
IMAGE_CONFIGS = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)
MAX_CONFIG = 4 << 20  # a config larger than this is hashed but not read for diff_ids
PIECE = 1 << 20


class VerificationFailed(Exception):
    """The artifact's content is wrong; the message is the reason shown to users."""


@dataclass(frozen=True, slots=True)
class Layer:
    media_type: str
    digest: str
    size: int


class _Unreadable(Exception):
    """Raised inside the worker thread when the storage stream failed; carries the cause."""


class StoredBytes(io.RawIOBase):
    """A blob's stored bytes as a blocking file for a worker thread, hashed as they pass."""

    def __init__(
        self, chunks: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop, algorithm: str
    ) -> None:
        self._chunks = chunks
        self._loop = loop
        self._pending = memoryview(b"")
        self._done = False
        self.size = 0
        self.hash = hashlib.new(algorithm)
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._pending and not self._done:
            self._pending = memoryview(self._next())
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def drain(self) -> None:
        """Read (and hash) whatever the decoder left unread."""
        while self.read(PIECE):
            pass

    def _next(self) -> bytes:
        future = asyncio.run_coroutine_threadsafe(_next_piece(self._chunks), self._loop)
        try:
            piece = future.result()
        except BaseException as exc:
            self.error = exc
            raise _Unreadable() from exc
        if piece is None:
            self._done = True
            return b""
        self.size += len(piece)
        self.hash.update(piece)
        return piece


async def _close(chunks: AsyncIterator[bytes]) -> None:
    close = getattr(chunks, "aclose", None)
    if close is not None:
        await close()


async def _next_piece(chunks: AsyncIterator[bytes]) -> bytes | None:
    try:
        return await anext(chunks)
    except StopAsyncIteration:
        return None


@push_step(10)
async def verify_pushed(job: ClaimedJob, context: PipelineContext) -> None:
    """Verify the pushed manifest and record the outcome on its row. Safe to repeat."""
    stored = await artifacts.manifest_for_verification(
        str(job.args["repository"]), str(job.args["digest"])
    )
    if stored is None:
        return  # deleted since the push
    try:
        await verify_manifest(context.registry, stored.repository_id, stored.content)
    except VerificationFailed as failed:
        await artifacts.record_verification(stored.id, "failed", str(failed))
        return
    await artifacts.record_verification(stored.id, "verified", None)


async def verify_manifest(registry: Registry, repository_id: int, content: bytes) -> None:
    """Raise VerificationFailed with the reason when the manifest's content is not sound."""
    doc = json.loads(content)
    if "manifests" in doc:
        children = [str(d.get("digest")) for d in doc.get("manifests") or []]
        missing = await artifacts.missing_manifests(repository_id, children)
        if missing and not await project_settings.switched_on_for(
            repository_id, project_settings.SPARSE_INDEX
        ):  # a sparse index names absent children on purpose
            raise VerificationFailed(f"child manifest {missing[0]} is missing")
        return
    blobs = [_layer(d) for d in doc.get("blobs") or []]
    layers = [_layer(d) for d in doc.get("layers") or []]
    config = _layer(doc["config"]) if isinstance(doc.get("config"), dict) else None
    diff_ids = await _diff_ids(registry, config) if config else None
    if diff_ids is not None and len(diff_ids) != len(layers):
        raise VerificationFailed(f"config lists {len(diff_ids)} diff_ids for {len(layers)} layers")
    for index, layer in enumerate(layers):
        if layer.media_type in mt.NON_DISTRIBUTABLE:
            continue
        uncompressed = await check_blob(registry, layer)
        if diff_ids is not None and uncompressed != diff_ids[index]:
            raise VerificationFailed(
                f"layer {index} ({layer.digest}) uncompresses to {uncompressed},"
                f" the config's diff_id is {diff_ids[index]}"
            )
    for blob in blobs:
        await check_blob(registry, blob)


def _layer(value: dict[str, Any]) -> Layer:
    return Layer(str(value["mediaType"]), str(value["digest"]), int(value["size"]))


async def _diff_ids(registry: Registry, config: Layer) -> list[str] | None:
    """The config's rootfs.diff_ids for an image config, after checking the config blob."""
    await check_blob(registry, config)
    if config.media_type not in IMAGE_CONFIGS or config.size > MAX_CONFIG:
        return None
    raw = b"".join([piece async for piece in registry.blobs.read(config.digest)])
    try:
        diff_ids = json.loads(raw)["rootfs"]["diff_ids"]
    except (ValueError, KeyError, TypeError):
        raise VerificationFailed(f"config {config.digest} has no rootfs.diff_ids") from None
    if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
        raise VerificationFailed(f"config {config.digest} has malformed rootfs.diff_ids")
    return diff_ids


async def check_blob(registry: Registry, blob: Layer) -> str:
    """Re-read one blob, check size and digest, decompress a layer to its end.

    Returns the digest of the uncompressed content (the blob's own digest when it is not
    compressed). Raises VerificationFailed; storage errors other than a missing key propagate.
    """
    algorithm = parse_digest(blob.digest).algorithm
    chunks = registry.blobs.read(blob.digest)
    source = StoredBytes(chunks, asyncio.get_running_loop(), algorithm)
    try:
        uncompressed = await asyncio.to_thread(_decode, source, blob)
    except _Unreadable:
        if isinstance(source.error, StorageKeyMissing):
            raise VerificationFailed(f"blob {blob.digest} is missing from storage") from None
        assert source.error is not None
        raise source.error from None
    finally:
        await _close(chunks)
    if source.size != blob.size:
        raise VerificationFailed(
            f"blob {blob.digest} has {source.size} bytes in storage, the manifest says {blob.size}"
        )
    actual = f"{algorithm}:{source.hash.hexdigest()}"
    if actual != blob.digest:
        raise VerificationFailed(f"blob {blob.digest} content does not match its digest")
    return uncompressed or blob.digest


def _decode(source: StoredBytes, blob: Layer) -> str | None:
    """On a worker thread: read source to its end; the uncompressed sha256 of a layer."""
    if blob.media_type in GZIP_LAYERS:
        decoder: io.BufferedIOBase | Any = gzip.GzipFile(fileobj=source, mode="rb")
    elif blob.media_type in ZSTD_LAYERS:
        decoder = zstandard.ZstdDecompressor().stream_reader(
            cast(IO[bytes], source), read_across_frames=True
        )
    else:
        source.drain()
        return None
    digest = hashlib.sha256()
    try:
        while piece := decoder.read(PIECE):
            digest.update(piece)
        source.drain()
    except (OSError, EOFError, zlib.error, zstandard.ZstdError) as exc:
        raise VerificationFailed(f"layer {blob.digest} does not decompress: {exc}") from None
    return f"sha256:{digest.hexdigest()}"
