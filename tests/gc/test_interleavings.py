"""Property: whatever the interleaving of uploads, HEADs, mounts, manifest PUTs, manifest and
tag deletes, and a collection's own steps (list candidates, mark a batch, claim it, delete
each file, drop the rows, unlink; delete an untagged manifest) - and a collection killed
anywhere - every blob a stored manifest names is in storage and in the table (none or
delete), and every manifest whose PUT succeeded pulls whole.

Each actor stops at gates between its statements (tests/gc/scheduler.py); hypothesis picks
which one goes on next. The collection is the engine's own _Run, stepped batch by batch.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import os
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import core.blobs
import core.gc as engine
import core.manifest_digests
import core.registry
from core.blobs import now_ms
from core.errors import BlobUnknown, ManifestBlobUnknown, ManifestUnknown
from core.gc import GcOptions
from core.service import Registry, close_registry, open_registry
from core.uploads import UploadService
from models import GcRun, fetch
from storage import StorageKeyMissing, build_driver
from tests.gc.scheduler import Scheduler
from tests.gc.stepping import GatedBlobs, GatedStorage, stepped_collection
from tests.gc.support import (
    BLOB_ROWS_SQL,
    OCI_MANIFEST,
    REFERENCED_SQL,
    Quiet,
    blob_files,
    body,
    manifest_of,
    named_blobs,
    sha256,
)
from tests.support import postgres_database, require

EXAMPLES = {"sqlite": int(os.environ.get("GC_EXAMPLES", 150)), "postgres": 60}
REPOS = 2
POOL = 5  # blobs each example shares between its images
TAGS = ("t1", "t2")
MAX_CLIENTS = 3  # client requests in flight at once

_LIVE_LINKED = (
    "SELECT b.status FROM blob b WHERE b.digest = ? AND b.status IN ('none', 'delete')"
    " AND EXISTS (SELECT 1 FROM repository_blob l JOIN repository r ON r.id = l.repository_id"
    " WHERE r.name = ? AND l.digest = b.digest)"
)
_MANIFEST = (
    "SELECT m.content FROM manifest m JOIN repository r ON r.id = m.repository_id"
    " WHERE r.name = ? AND m.digest = ?"
)
_TAGGED = (
    "SELECT m.digest FROM tag t JOIN repository r ON r.id = t.repository_id"
    " JOIN manifest m ON m.id = t.manifest_id WHERE r.name = ? AND t.name = ?"
)
_IN_REPOSITORY = (
    "SELECT m.digest FROM manifest m JOIN repository r ON r.id = m.repository_id WHERE r.name = ?"
)
_NAMED = (
    "SELECT r.digest, b.status FROM manifest_reference r"
    " LEFT JOIN blob b ON b.digest = r.digest WHERE r.kind = 'blob'"
)


class Interleavings(RuleBasedStateMachine):
    loop: asyncio.AbstractEventLoop
    registry: Registry
    scheduler: Scheduler
    examples = itertools.count()

    def __init__(self) -> None:
        super().__init__()
        n = next(self.examples)
        self.repos = [f"library/e{n}-r{i}" for i in range(REPOS)]
        self.pool = [f"example {n} blob {i}".encode() * (i + 1) for i in range(POOL)]
        self.acknowledged: dict[tuple[str, str], bytes] = {}  # (repo, digest) -> manifest
        self.tags: dict[tuple[str, str], str] = {}  # (repo, tag) -> digest
        self.may_vanish: set[tuple[str, str]] = set()  # untagged while delete_untagged ran
        self.outcomes: dict[str, Any] = {}  # actor -> what to check when it ends
        self.gc_run: int | None = None
        self.gc_untagged = False
        self.names = itertools.count()
        self.drain()  # what an example hypothesis cut short left running

    def drain(self) -> None:
        self.scheduler.open_all()
        self.run(self.scheduler.settle())
        for _name, task in self.scheduler.finished():
            if not task.cancelled():
                task.exception()  # seen: no "never retrieved" warning
        self.scheduler.free = False
        self.run(GcRun.filter(status="Running").update(status="Error"))

    # --- plumbing --------------------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(coro)

    def settle(self) -> None:
        self.run(self.scheduler.settle())
        for name, task in self.scheduler.finished():
            check = self.outcomes.pop(name)
            if task.cancelled():
                continue
            check(task.exception(), None if task.exception() else task.result())

    def start(self, kind: str, coro: Coroutine[Any, Any, Any], check: Any) -> None:
        name = f"{kind}{next(self.names)}"
        self.outcomes[name] = check
        self.scheduler.start(name, coro)
        self.settle()

    def clients(self) -> int:
        return sum(1 for name in self.scheduler.tasks if not name.startswith("gc"))

    def untagged(self) -> set[tuple[str, str]]:
        return set(self.acknowledged) - {(r, d) for (r, _t), d in self.tags.items()}

    async def live_linked(self, repo: str, digest: str) -> str | None:
        rows = await fetch(_LIVE_LINKED, digest, repo)
        return str(rows[0][0]) if rows else None

    async def file_holds(self, digest: str) -> bool:
        try:
            data = await self.registry.storage.read_all(self.registry.blobs.key(digest))
        except StorageKeyMissing:
            return False
        return "sha256:" + hashlib.sha256(data).hexdigest() == digest

    # --- clients ---------------------------------------------------------------------

    @precondition(lambda self: self.clients() < MAX_CLIENTS)
    @rule(repo=st.integers(0, REPOS - 1), blob=st.integers(0, POOL - 1))
    def upload(self, repo: int, blob: int) -> None:
        name, data = self.repos[repo], self.pool[blob]
        push = self.registry.uploads.upload_whole(name, "library", sha256(data), body(data), None)

        def check(error: BaseException | None, _result: object) -> None:
            # Then an upload always succeeds, and the blob is whole, live and linked
            assert error is None, f"upload to {name} failed: {error!r}"
            assert self.run(self.live_linked(name, sha256(data))) == "none"
            assert self.run(self.file_holds(sha256(data)))

        self.start("upload", push, check)

    @precondition(lambda self: self.clients() < MAX_CLIENTS)
    @rule(repo=st.integers(0, REPOS - 1), blob=st.integers(0, POOL - 1))
    def head(self, repo: int, blob: int) -> None:
        name, digest = self.repos[repo], sha256(self.pool[blob])

        def check(error: BaseException | None, _result: object) -> None:
            # Then "exists" means usable now (taken back from any collection), and
            # "unknown" means it is not
            status = self.run(self.live_linked(name, digest))
            if error is None:
                assert status == "none" and self.run(self.file_holds(digest))
            else:
                assert isinstance(error, BlobUnknown), repr(error)
                assert status is None, f"HEAD said unknown but {digest} is {status} in {name}"

        self.start("head", self.registry.blobs.stat(name, digest), check)

    @precondition(lambda self: self.clients() < MAX_CLIENTS)
    @rule(into=st.integers(0, REPOS - 1), blob=st.integers(0, POOL - 1))
    def mount(self, into: int, blob: int) -> None:
        target, source = self.repos[into], self.repos[1 - into]
        digest = sha256(self.pool[blob])

        def check(error: BaseException | None, mounted: object) -> None:
            # Then a mount that succeeded gives a live blob whose bytes are there
            assert error is None, repr(error)
            if mounted:
                assert self.run(self.live_linked(target, digest)) == "none"
                assert self.run(self.file_holds(digest)), f"mounted {digest} has no file"

        self.start("mount", self.registry.blobs.mount(target, "library", digest, source), check)

    @precondition(lambda self: self.clients() < MAX_CLIENTS)
    @rule(
        repo=st.integers(0, REPOS - 1),
        tag=st.sampled_from(TAGS),
        config=st.integers(0, POOL - 1),
        layers=st.lists(st.integers(0, POOL - 1), min_size=1, max_size=3, unique=True),
    )
    def put_manifest(self, repo: int, tag: str, config: int, layers: list[int]) -> None:
        name = self.repos[repo]
        manifest = manifest_of(self.pool[config], [self.pool[i] for i in layers])
        put = self.registry.manifests.put(name, "library", tag, manifest, OCI_MANIFEST)

        def check(error: BaseException | None, _result: object) -> None:
            digest = sha256(manifest)
            if error is not None:
                # Then a refusal is only for a blob the repository cannot use right now
                assert isinstance(error, ManifestBlobUnknown), repr(error)
                usable = [self.run(self.live_linked(name, d)) for d in named_blobs(manifest)]
                assert None in usable, f"PUT refused though every blob is usable: {usable}"
                return
            self.tags[(name, tag)] = digest
            self.acknowledged[(name, digest)] = manifest
            self.may_vanish.discard((name, digest))
            if self.gc_untagged:
                self.may_vanish |= self.untagged()

        self.start("put", put, check)

    @precondition(lambda self: self.clients() < MAX_CLIENTS and self.acknowledged)
    @rule(pick=st.integers(0, 100))
    def delete_manifest(self, pick: int) -> None:
        name, digest = list(self.acknowledged)[pick % len(self.acknowledged)]

        def check(error: BaseException | None, _result: object) -> None:
            if error is not None:  # removed meanwhile: by a collection, or another delete
                assert isinstance(error, ManifestUnknown), repr(error)
                gone = (name, digest) in self.may_vanish or (name, digest) not in self.acknowledged
                assert gone, "a live manifest was not found"
            self.acknowledged.pop((name, digest), None)
            self.tags = {k: d for k, d in self.tags.items() if (k[0], d) != (name, digest)}

        self.start("delete", self.registry.manifests.delete(name, digest), check)

    @precondition(lambda self: self.clients() < MAX_CLIENTS and self.tags)
    @rule(pick=st.integers(0, 100))
    def delete_tag(self, pick: int) -> None:
        name, tag = sorted(self.tags)[pick % len(self.tags)]

        def check(error: BaseException | None, _result: object) -> None:
            if error is not None:  # deleted (or moved) meanwhile
                assert isinstance(error, ManifestUnknown), repr(error)
                return
            self.tags.pop((name, tag), None)
            if self.gc_untagged:
                self.may_vanish |= self.untagged()

        self.start("untag", self.registry.manifests.delete(name, tag), check)

    # --- the collection ----------------------------------------------------------------

    @precondition(lambda self: self.gc_run is None)
    @rule(delete_untagged=st.booleans())
    def start_collection(self, delete_untagged: bool) -> None:
        run = self.run(GcRun.create(status="Running", heartbeat_at=datetime.now(UTC)))
        self.gc_run, self.gc_untagged = run.id, delete_untagged
        if delete_untagged:
            self.may_vanish |= self.untagged()
        options = GcOptions(window=timedelta(0), delete_untagged=delete_untagged)
        storage = GatedStorage(self.registry.storage, self.scheduler)
        collection = stepped_collection(storage, run.id, options)  # type: ignore[arg-type]

        def check(error: BaseException | None, _result: object) -> None:
            assert error is None, f"the collection failed: {error!r}"
            self.run(GcRun.filter(id=run.id).update(status="Success"))
            self.gc_run, self.gc_untagged = None, False

        self.start("gc", collection, check)

    @precondition(lambda self: self.gc_run is not None)
    @rule()
    def kill_collection(self) -> None:
        # The process running it dies: the run stays Running, its heartbeat goes stale
        gc = next(name for name in self.scheduler.tasks if name.startswith("gc"))
        self.scheduler.parked.pop(gc, None)
        self.scheduler.tasks[gc].cancel()
        self.settle()
        stale = datetime.now(UTC) - timedelta(hours=1)
        self.run(GcRun.filter(id=self.gc_run).update(heartbeat_at=stale))
        self.gc_run, self.gc_untagged = None, False

    @precondition(lambda self: self.scheduler.parked)
    @rule(pick=st.integers(0, 100))
    def step(self, pick: int) -> None:
        parked = sorted(self.scheduler.parked)
        self.scheduler.release(parked[pick % len(parked)])
        self.settle()

    @precondition(lambda self: self.gc_run is not None)
    @rule(steps=st.sampled_from([1, 2, 3, 5, 8, 1000]))
    def advance_collection(self, steps: int) -> None:
        # (a run of the collection's steps - or all of them - with the clients held where
        # they are)
        for _ in range(steps):
            gc = [name for name in self.scheduler.parked if name.startswith("gc")]
            if not gc:
                return
            self.scheduler.release(gc[0])
            self.settle()

    # --- what must hold ----------------------------------------------------------------

    @invariant()
    def named_blobs_are_stored(self) -> None:
        for digest, status in self.run(fetch(_NAMED)):
            assert status in ("none", "delete"), f"a stored manifest names {digest} ({status})"
            assert self.run(self.file_holds(str(digest))), f"{digest} is named but not stored"

    @invariant()
    def acknowledged_pushes_pull(self) -> None:
        for (name, digest), manifest in self.acknowledged.items():
            if (name, digest) in self.may_vanish:
                continue
            rows = self.run(fetch(_MANIFEST, name, digest))
            assert rows and bytes(rows[0][0]) == manifest, f"{name}@{digest} does not pull"  # type: ignore[arg-type]
            for blob in named_blobs(manifest):
                assert self.run(self.live_linked(name, blob)), f"{name}: {blob} is unknown"
                assert self.run(self.file_holds(blob)), f"{name}: {blob} has no bytes"
        for (name, tag), digest in self.tags.items():
            assert self.run(fetch(_TAGGED, name, tag)) == [(digest,)], f"{name}:{tag} moved"

    def teardown(self) -> None:
        # Finally every request and the collection run to their ends, a collection sweeps
        # what is left, and storage holds exactly the blobs stored manifests name
        try:
            turn = 0
            while self.scheduler.parked:  # one actor at a time, in turn, so checks hold
                parked = sorted(self.scheduler.parked)
                self.scheduler.release(parked[turn % len(parked)])
                self.settle()
                turn += 1
            self.run(GcRun.filter(status="Running").update(status="Error"))
            self.collect()
            self.acknowledged_pushes_pull()
            referenced = {str(r[0]) for r in self.run(fetch(REFERENCED_SQL))}
            rows = {str(d): str(s) for d, s in self.run(fetch(BLOB_ROWS_SQL))}
            assert rows == dict.fromkeys(referenced, "none")
            root = Path(self.registry.storage.root)  # type: ignore[attr-defined]
            assert set(blob_files(root)) == referenced
        finally:
            self.drain()
            self.run(self.clean_up())

    def collect(self) -> None:
        run = self.run(GcRun.create(status="Running", heartbeat_at=datetime.now(UTC)))
        options = GcOptions(window=timedelta(0))
        self.run(engine.collect(self.registry.storage, run.id, options, Quiet()))
        self.run(GcRun.filter(id=run.id).update(status="Success"))

    async def clean_up(self) -> None:
        """Delete this example's manifests and collect: the next one starts from nothing."""
        for name in self.repos:
            for (digest,) in await fetch(_IN_REPOSITORY, name):
                await self.registry.manifests.delete(name, str(digest))
        self.scheduler.free = True
        run = await GcRun.create(status="Running", heartbeat_at=datetime.now(UTC))
        await engine.collect(self.registry.storage, run.id, GcOptions(window=timedelta(0)), Quiet())
        await GcRun.filter(id=run.id).update(status="Success")
        self.scheduler.free = False


@contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite://{folder / 'berth.db'}"
        return
    with postgres_database() as url:
        require(url is not None, "PostgreSQL is not running on 127.0.0.1:5432")
        yield str(url)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_no_interleaving_loses_a_named_blob(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the registry's services on a fresh database, with gates in the collection's
    # statements and file deletes, and in a push's reads and links
    loop = asyncio.new_event_loop()
    scheduler = Scheduler(loop)
    for name in ("fetch", "execute", "untagged_manifests", "delete_untagged"):
        monkeypatch.setattr(engine, name, scheduler.gated(name, getattr(engine, name)))
    monkeypatch.setattr(core.registry, "fetch", scheduler.gated("read", core.registry.fetch))
    # the PUT's look-up of the bytes among the repository's manifests
    known = scheduler.gated("read", core.manifest_digests.known)
    monkeypatch.setattr(core.manifest_digests, "known", known)
    monkeypatch.setattr(engine, "BATCH", 2)  # small batches: more steps to interleave
    # A clock that moves on every reading: which blob is past a run's cutoff must not
    # depend on two readings falling in the same millisecond (hypothesis replays examples).
    clock = itertools.count(now_ms())
    for module in (core.blobs, engine, core.registry):
        monkeypatch.setattr(module, "now_ms", lambda: next(clock))
    with database(backend, tmp_path) as url:
        storage = build_driver("filesystem", tmp_path / "storage")
        registry = loop.run_until_complete(open_registry(storage, url, flush_every=1024))
        blobs = GatedBlobs(storage, window=timedelta(0))
        blobs.scheduler = scheduler
        registry = dataclasses.replace(
            registry, blobs=blobs, uploads=UploadService(storage, blobs, flush_every=1024)
        )
        Interleavings.loop, Interleavings.registry = loop, registry
        Interleavings.scheduler = scheduler
        try:
            # When hypothesis interleaves requests and collection steps, Then (the machine's
            # invariants and its checks of each outcome) nothing named is ever lost
            run_state_machine_as_test(
                Interleavings,
                settings=settings(
                    max_examples=EXAMPLES[backend],
                    stateful_step_count=40,
                    deadline=None,
                    suppress_health_check=list(HealthCheck),
                    database=None,
                ),
            )
        finally:
            loop.run_until_complete(close_registry())
            loop.close()
