"""The replication benchmark's images, pushed once to the source Berth: 200 small images
(three 4 KiB random layers and a config each, 20 tags per repository) and one image of a
single 1 GiB random (incompressible) layer. Every copy is then checked against the
manifest digests recorded here."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.blobdata import BigBlob
from bench.loadgen import SmallImage, push_images
from bench.oci import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    RegistryClient,
    config_blob,
    image_manifest,
    sha256_digest,
)
from bench.servers import Server
from bench.transfers import HttpxTransfer

SMALL_PREFIX = "library/small-"
BIG_REPO = "library/big"
BIG_TAG = "v1"
LAYER_SIZE = 4096
PER_REPO = 20


@dataclass
class ImageSet:
    """What one side of the bench copies: repository -> tag -> manifest digest."""

    name: str  # "small" or "big"
    images: dict[str, dict[str, str]] = field(default_factory=dict)
    bytes: int = 0  # blobs + manifests, as stored at the source
    push_seconds: float = 0.0

    @property
    def count(self) -> int:
        return sum(len(tags) for tags in self.images.values())

    @property
    def repositories(self) -> list[str]:
        return sorted(self.images)

    def pattern(self) -> str:
        """The name filter of a policy that copies exactly this set."""
        return f"{SMALL_PREFIX}*" if self.name == "small" else BIG_REPO


def small_images(count: int) -> list[tuple[str, SmallImage]]:
    """`count` distinct images, 20 to a repository: (repository, image)."""
    out = []
    for i in range(count):
        layers = [os.urandom(LAYER_SIZE) for _ in range(3)]
        config = config_blob(f"replication-bench-{i}-{os.urandom(8).hex()}")
        manifest = image_manifest(config, layers)
        repo = f"{SMALL_PREFIX}{i // PER_REPO:02d}"
        out.append((repo, SmallImage(f"img-{i}", [config, *layers], manifest)))
    return out


def push_small(source: Server, count: int) -> ImageSet:
    """Push the small images to the source with 8 clients per repository batch."""
    started = time.perf_counter()
    result = ImageSet("small")
    by_repo: dict[str, list[SmallImage]] = {}
    for repo, image in small_images(count):
        by_repo.setdefault(repo, []).append(image)
    for repo, images in by_repo.items():
        push_images(source.base, repo, images, auth=source.push_auth)
        result.images[repo] = {i.tag: sha256_digest(i.manifest) for i in images}
        result.bytes += sum(len(b) for i in images for b in i.blobs) + sum(
            len(i.manifest) for i in images
        )
    result.push_seconds = time.perf_counter() - started
    return result


def push_big(source: Server, work: Path, size: int) -> ImageSet:
    """Write `size` random bytes to a file, push them as one layer (chunked, 16 MiB) with a
    config and an OCI manifest; the file is removed afterwards."""
    started = time.perf_counter()
    blob = BigBlob(work / "big-layer.bin", size)
    blob.create()
    transfer = HttpxTransfer(source.base, auth=source.push_auth)
    client = RegistryClient(source.base, auth=source.push_auth)
    try:
        transfer.chunked_push(BIG_REPO, blob, 16 << 20)
        config = config_blob("replication-bench-big")
        client.push_blob(BIG_REPO, config)
        body = _big_manifest(config, blob)
        client.push_manifest(BIG_REPO, BIG_TAG, body)
    finally:
        transfer.close()
        client.close()
        blob.remove()
    result = ImageSet("big", {BIG_REPO: {BIG_TAG: sha256_digest(body)}})
    result.bytes = size + len(config) + len(body)
    result.push_seconds = time.perf_counter() - started
    return result


def _big_manifest(config: bytes, blob: BigBlob) -> bytes:
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": blob.digest, "size": blob.size}],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def missing_at(server: Server, images: ImageSet) -> list[str]:
    """The images of the set the server does not serve under the source's digest (an
    anonymous GET per tag: `library` is public on Berth, Distribution runs without auth)."""
    client = RegistryClient(server.base)
    wrong = []
    try:
        for repo, tags in images.images.items():
            for tag, digest in tags.items():
                resp = client.request(
                    "GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST}
                )
                if resp.status != 200 or sha256_digest(resp.body) != digest:
                    wrong.append(f"{repo}:{tag} ({resp.status})")
    finally:
        client.close()
    return wrong
