from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

import core.gc as engine
import core.manifest_digests
import core.registry
from core.service import Registry, close_registry, open_registry
from core.uploads import UploadService
from storage import build_driver
from tests.gc.scheduler import Scheduler
from tests.gc.stepping import GatedBlobs
from tests.support import postgres_database, require


@pytest.fixture(params=["sqlite", "postgres"])
async def stepped(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Registry, Scheduler]]:
    """The registry's services (window 0) with gates in a collection's statements and file
    deletes and in a push's reads and links, and the scheduler that steps them."""
    import asyncio

    scheduler = Scheduler(asyncio.get_running_loop())
    for name in ("fetch", "execute", "untagged_manifests", "delete_untagged"):
        monkeypatch.setattr(engine, name, scheduler.gated(name, getattr(engine, name)))
    monkeypatch.setattr(core.registry, "fetch", scheduler.gated("read", core.registry.fetch))
    # the PUT's look-up of the bytes among the repository's manifests
    known = scheduler.gated("read", core.manifest_digests.known)
    monkeypatch.setattr(core.manifest_digests, "known", known)
    storage = build_driver("filesystem", tmp_path / "storage")
    if request.param == "postgres":
        with postgres_database() as url:
            require(url is not None, "PostgreSQL is not running on 127.0.0.1:5432")
            registry = await open_registry(storage, str(url), flush_every=1024)
            yield _gated(registry, scheduler), scheduler
            scheduler.open_all()
            await close_registry()
        return
    registry = await open_registry(storage, f"sqlite://{tmp_path / 'berth.db'}", flush_every=1024)
    yield _gated(registry, scheduler), scheduler
    scheduler.open_all()
    await close_registry()


def _gated(registry: Registry, scheduler: Scheduler) -> Registry:
    blobs = GatedBlobs(registry.storage, window=timedelta(0))
    blobs.scheduler = scheduler
    uploads = UploadService(registry.storage, blobs, flush_every=1024)
    return dataclasses.replace(registry, blobs=blobs, uploads=uploads)
