"""Peers and payloads for the tests of core/remote.py: Distribution with htpasswd (bcrypt)
auth, blobs with their digests, and a small image pushed through the client itself."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

from core.remote import BlobSource, RemoteClient
from tests.peers import running_distribution
from tests.support import RunningBerth

USER, PASSWORD = "replicator", "Repl1cator-Secret"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
KIB = 1024
MIB = 1024 * KIB
_PATTERN = bytes(range(256)) * 256  # 64 KiB


@contextmanager
def running_distribution_htpasswd(root: Path) -> Iterator[RunningBerth]:
    """Debian's docker-registry on a free port, requiring USER/PASSWORD."""
    with running_distribution(root, {USER: PASSWORD}) as server:
        yield server


def blob(size: int) -> tuple[bytes, str]:
    """Random bytes of size and their digest."""
    data = os.urandom(size)
    return data, digest_of(data)


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def source_of(data: bytes, piece: int = 16 * KIB) -> BlobSource:
    """A BlobSource over bytes in memory (the test's blobs are small), recording each offset
    it was opened at in .opened."""
    opened: list[int] = []

    async def source(offset: int) -> AsyncIterator[bytes]:
        opened.append(offset)
        for start in range(offset, len(data), piece):
            yield data[start : start + piece]

    source.opened = opened  # type: ignore[attr-defined]
    return source


def generated(size: int) -> BlobSource:
    """A BlobSource of size bytes made as they are read (nothing held but one piece)."""

    async def source(offset: int) -> AsyncIterator[bytes]:
        position = offset
        while position < size:
            piece = _piece(position // len(_PATTERN))[position % len(_PATTERN) :]
            piece = piece[: size - position]
            position += len(piece)
            yield piece

    return source


def digest_of_stream(size: int) -> str:
    """The digest of generated(size), computed piece by piece."""
    hasher = hashlib.sha256()
    for index in range(0, -(-size // len(_PATTERN))):
        hasher.update(_piece(index)[: size - index * len(_PATTERN)])
    return "sha256:" + hasher.hexdigest()


def _piece(index: int) -> bytes:
    """The index-th 64 KiB of a generated blob: the pattern with its index mixed in."""
    return hashlib.sha256(index.to_bytes(8, "big")).digest()[:1] + _PATTERN[1:]


async def read_all(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([data async for data in stream])


async def push_image(
    client: RemoteClient, repository: str, tag: str, layer: bytes, subject: str = ""
) -> tuple[str, bytes]:
    """A one-layer OCI image (optionally a referrer of subject); (digest, manifest body)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()
    descriptors = []
    for data, media_type in ((config, OCI_CONFIG), (layer, OCI_LAYER)):
        digest = digest_of(data)
        await client.write_blob(repository, digest, len(data), source_of(data))
        descriptors.append({"mediaType": media_type, "digest": digest, "size": len(data)})
    manifest: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptors[0],
        "layers": descriptors[1:],
    }
    if subject:
        manifest["subject"] = {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1}
        manifest["artifactType"] = "application/vnd.example.sbom"
    body = json.dumps(manifest).encode()
    return await client.put_manifest(repository, tag, body, OCI_MANIFEST), body
