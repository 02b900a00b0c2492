"""The registry's services, built once at start-up and passed to handlers and workers."""

from __future__ import annotations

from dataclasses import dataclass

from core.blobs import BlobStore
from core.projects import ensure_default_project
from core.registry import ManifestStore
from core.uploads import UploadService
from models import close_database, open_database
from storage import StorageDriver


@dataclass(frozen=True, slots=True)
class Registry:
    storage: StorageDriver
    blobs: BlobStore
    uploads: UploadService
    manifests: ManifestStore


async def open_registry(storage: StorageDriver, database_url: str, flush_every: int) -> Registry:
    """Connect the database, make sure `library` exists, and wire the services."""
    await open_database(database_url)
    await ensure_default_project()
    blobs = BlobStore(storage)
    return Registry(storage, blobs, UploadService(storage, blobs, flush_every), ManifestStore())


async def close_registry() -> None:
    await close_database()
