"""The GC benchmark's collection steps: each registry gets a referenced image, then a set of
unreferenced blobs written while it is stopped, then one timed collection."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import gc_data
from bench.gc_drive import (
    ApiCollection,
    Collection,
    Outcome,
    api_available,
    cli_collection,
    distribution_gc,
    inprocess_collection,
)
from bench.oci import RegistryClient, config_blob, image_manifest, sha256_digest
from bench.servers import Server, berth, distribution

REPO_NAME = "library/bench"
GC_TIMEOUT = 3600.0


@dataclass
class CollectResult:
    """One timed collection of `generated` unreferenced blobs."""

    registry: str
    mode: str  # "online" (Berth, serving) or "offline" (Distribution, stopped)
    workers: int | None
    generated: gc_data.BlobSet
    outcome: Outcome | None = None
    freed_blobs: int = 0  # counted in the data afterwards, not taken from the run's word
    freed_bytes: int = 0
    files_left: int = 0
    reference_intact: bool = False
    failures: list[str] = field(default_factory=list)

    @property
    def blobs_per_s(self) -> float | None:
        if not self.outcome or not self.outcome.wall_seconds:
            return None
        return self.freed_blobs / self.outcome.wall_seconds


def push_reference(server: Server) -> list[str]:
    """One tagged image (config + layer) that every collection must leave alone; returns
    the digests of its blobs and, last, of its manifest."""
    client = RegistryClient(server.base, auth=server.push_auth)
    try:
        layer, config = os.urandom(2048), config_blob("gc-bench-reference")
        digests = [client.push_blob(REPO_NAME, config), client.push_blob(REPO_NAME, layer)]
        manifest = image_manifest(config, [layer])
        client.push_manifest(REPO_NAME, "reference", manifest)
    finally:
        client.close()
    return [*digests, sha256_digest(manifest)]


def reference_pullable(server: Server, digests: list[str]) -> bool:
    client = RegistryClient(server.base)
    try:
        paths = [f"/v2/{REPO_NAME}/manifests/reference"]
        paths += [f"/v2/{REPO_NAME}/blobs/{d}" for d in digests[:-1]]
        headers = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
        return all(client.request("GET", p, headers=headers).status == 200 for p in paths)
    finally:
        client.close()


@dataclass
class BerthRig:
    """How Berth is started and how its collections are driven, for every step."""

    work: Path
    logs: Path
    repo: Path
    python: str
    gc_env: dict[str, str]  # BERTH_GC__* settings, when Berth has them
    via: str = "auto"  # "api", "cli", "inprocess" or "auto" (the API when Berth answers it)
    py_spy: str | None = None  # with --profile: sample the server during each push batch

    def server(self, window: float) -> Server:
        server = berth(self.work, self.logs, self.repo, self.python)
        env = dict(server.env or {})
        env.update({k: v.format(window=int(window)) for k, v in self.gc_env.items()})
        server.env = env
        return server

    def start_collection(self, server: Server, workers: int, window: float) -> Collection:
        if self.via == "auto":
            assert server.push_auth is not None
            self.via = "api" if api_available(server.base, server.push_auth) else "inprocess"
            how = "through the API" if self.via == "api" else "in-process (no GC API)"
            print(f"    collections are driven {how}", flush=True)
        if self.via == "api":
            assert server.push_auth is not None
            return ApiCollection(
                server.base, server.push_auth, server.data_dir / "berth.db", workers
            )
        make = cli_collection if self.via == "cli" else inprocess_collection
        return make(self.python, self.repo, server.data_dir, workers, window)

    def prepared(
        self, count: int, window: float, age_ms: int
    ) -> tuple[Server, list[str], gc_data.BlobSet]:
        """A started Berth holding the reference image and count unreferenced blobs."""
        server = self.server(window)
        shutil.rmtree(server.data_dir, ignore_errors=True)
        server.start()
        try:
            reference = push_reference(server)
        finally:
            server.stop()
        started = time.perf_counter()
        blobs = gc_data.write_berth(server.data_dir, count, REPO_NAME, age_ms)
        os.sync()
        blobs.seconds = time.perf_counter() - started
        print(f"    wrote {count:,} blobs in {blobs.seconds:.1f} s", flush=True)
        server.start()
        return server, reference, blobs


def collect_berth(rig: BerthRig, count: int, workers: int) -> CollectResult:
    """Berth serving; one collection with a window of 0, timed from trigger to finished."""
    print(f"== Berth: collect {count:,} unreferenced blobs, {workers} worker(s)", flush=True)
    server, reference, blobs = rig.prepared(count, 0, gc_data.DAY_MS)
    result = CollectResult("Berth", "online", workers, blobs)
    try:
        result.outcome = rig.start_collection(server, workers, 0).wait(GC_TIMEOUT)
        result.reference_intact = reference_pullable(server, reference)
    finally:
        server.stop()
    rows, size = gc_data.berth_left(server.data_dir, blobs)
    result.freed_blobs, result.freed_bytes = blobs.count - rows, blobs.bytes - size
    # Berth keeps manifests as rows: the reference leaves two files, its config and layer
    result.files_left = gc_data.berth_files(server.data_dir) - len(reference[:-1])
    shutil.rmtree(server.data_dir, ignore_errors=True)
    return result


def collect_distribution(work: Path, logs: Path, count: int) -> CollectResult:
    """Distribution stopped; `docker-registry garbage-collect` timed as a whole."""
    print(f"== Distribution: collect {count:,} unreferenced blobs (offline)", flush=True)
    server = distribution(work, logs)
    root = server.data_dir
    shutil.rmtree(root, ignore_errors=True)
    server.start()
    try:
        reference = push_reference(server)
    finally:
        server.stop()
    started = time.perf_counter()
    blobs = gc_data.write_distribution(root, count)
    os.sync()
    blobs.seconds = time.perf_counter() - started
    print(f"    wrote {count:,} blobs in {blobs.seconds:.1f} s", flush=True)
    result = CollectResult("Distribution", "offline", None, blobs)
    result.outcome = distribution_gc(work / "distribution.yml", logs / "distribution-gc.log")
    left, size = gc_data.distribution_left(root, reference)
    result.files_left = left
    result.freed_blobs, result.freed_bytes = blobs.count - left, blobs.bytes - size
    result.reference_intact = all(gc_data.distribution_has(root, d) for d in reference)
    shutil.rmtree(root, ignore_errors=True)
    return result
