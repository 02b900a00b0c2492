"""Helpers of the garbage-collection tests: images as bytes, a reporter that never stops a
run, and what storage and the database hold (the digests of the blob files, the digests the
stored manifests name)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


class Quiet:
    """A collection reporter that records the log and never asks to stop."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    async def phase(self, name: str, total: int | None) -> None:
        self.lines.append(f"phase {name} {total}")

    async def advance(self, count: int) -> None:
        return None

    async def line(self, text: str) -> None:
        self.lines.append(text)

    async def should_stop(self) -> bool:
        return False


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


def manifest_of(config: bytes, layers: list[bytes]) -> bytes:
    """An OCI image manifest naming config and layers (by digest and size)."""
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [
                {"mediaType": OCI_LAYER, "digest": sha256(d), "size": len(d)} for d in layers
            ],
        }
    ).encode()


def named_blobs(manifest: bytes) -> list[str]:
    """The digests of the config and layers an image manifest names."""
    doc = json.loads(manifest)
    return [doc["config"]["digest"], *(layer["digest"] for layer in doc["layers"])]


def blob_files(storage_root: Path) -> dict[str, int]:
    """digest -> size of every blob file under <storage>/blobs/<alg>/<hh>/<hex>."""
    found: dict[str, int] = {}
    base = storage_root / "blobs"
    if not base.exists():
        return found
    for path in base.rglob("*"):
        if path.is_file():
            algorithm = path.relative_to(base).parts[0]
            found[f"{algorithm}:{path.name}"] = path.stat().st_size
    return found


# The blobs stored manifests name, and the blob rows, read with `?` placeholders.
REFERENCED_SQL = "SELECT DISTINCT digest FROM manifest_reference WHERE kind = 'blob'"
BLOB_ROWS_SQL = "SELECT digest, status FROM blob"
