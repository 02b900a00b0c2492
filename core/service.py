"""The registry's services, built once at start-up and passed to handlers and workers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from core import quotas
from core.audit import PullLog
from core.blobs import BlobStore
from core.projects import ensure_default_project
from core.registry import ManifestStore
from core.uploads import UploadService
from models import close_database, open_database
from search import open_audit_index
from search.audit import AuditIndex
from signer.sealing import Sealer
from storage import StorageDriver

log = logging.getLogger("berth.registry")


@dataclass(frozen=True, slots=True)
class AuditOptions:
    """Where the audit log is searched and forwarded (from settings.audit)."""

    search: str = "embedded"
    elasticsearch_url: str | None = None
    alias: str = "berth-audit"
    batch: int = 2000
    syslog_address: str | None = None


@dataclass(frozen=True, slots=True)
class Registry:
    storage: StorageDriver
    blobs: BlobStore
    uploads: UploadService
    manifests: ManifestStore
    audit_index: AuditIndex
    audit: AuditOptions = field(default_factory=AuditOptions)
    pulls: PullLog = field(default_factory=PullLog)  # web flushes it (pulls change nothing)
    # settings.gc.window_seconds: a blob untouched this long may be collected
    gc_window: timedelta = timedelta(hours=2)
    # seals secrets at rest (settings.sealing_keys()); None where nothing sealed is used
    sealer: Sealer | None = None

    def sealed(self) -> Sealer:
        if self.sealer is None:
            raise RuntimeError("this process was started without the secret keys")
        return self.sealer


async def open_registry(
    storage: StorageDriver,
    database_url: str,
    flush_every: int,
    audit: AuditOptions | None = None,
    gc_window: timedelta = timedelta(hours=2),
    sealing_keys: Sequence[bytes] | None = None,
) -> Registry:
    """Connect the database, make sure `library` exists, and wire the services."""
    audit = audit or AuditOptions()
    await open_database(database_url)
    await ensure_default_project()
    await quotas.prepare()  # every project has its quota; usage counted once after an upgrade
    index = open_audit_index(audit.search, audit.elasticsearch_url, audit.alias)
    try:
        await index.prepare()
    except Exception:
        # An outside search service being down must not stop the registry: events wait in
        # the database and the indexing pipeline prepares the index again before its batch.
        log.exception("the audit search backend is not ready", extra={"search": audit.search})
    blobs = BlobStore(storage, gc_window)
    uploads = UploadService(storage, blobs, flush_every)
    sealer = Sealer(sealing_keys) if sealing_keys else None
    return Registry(
        storage, blobs, uploads, ManifestStore(), index, audit, gc_window=gc_window, sealer=sealer
    )


async def close_registry(registry: Registry | None = None) -> None:
    if registry is not None:
        await registry.audit_index.close()
        await registry.storage.close()
    await close_database()
