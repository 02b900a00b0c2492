"""Small-image pushes per second while Berth collects, against the same push without.

The push load is bench/run's "small images" step (bench/loadgen.py): unique images of a
config and 1-2 layers of 1-32 KiB, 8 threads on keep-alive connections. Each round starts
a Berth holding a large unreferenced set, pushes an unrecorded warm-up batch, then one
batch with no collection and one while a collection runs (odd rounds push the baseline
first, even rounds the collection batch first, so neither always meets the larger
database). A batch counts only when the collection was still running after its last
image; the blobs it deleted meanwhile are counted in the database.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from dataclasses import dataclass, field

from bench import gc_data
from bench.gc_drive import Outcome, wait_running
from bench.gc_steps import GC_TIMEOUT, REPO_NAME, BerthRig
from bench.loadgen import PushResult, SmallImage, make_images, push_images
from bench.profiler import PySpyRecording, hot_spots, project_files
from bench.servers import Server

# Fresh pushes must not be candidates: a window of 0 would let the collection take the
# layers of an image whose manifest has not arrived yet (what the window exists for).
WINDOW = 3600.0
MAX_BLOBS = 1_000_000
WARM_UP = 32  # images pushed, unrecorded, before a round's batches


@dataclass
class PushRound:
    round_no: int
    images: int
    blobs: int  # unreferenced blobs in the set the collection works through
    baseline_ips: float | None = None
    during_ips: float | None = None
    during_seconds: float | None = None
    deleted_during: int | None = None  # of the set, deleted while the batch was pushed
    still_running: bool = False  # after the batch's last image
    outcome: Outcome | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def order(self) -> str:
        return "baseline, then during GC" if self.round_no % 2 else "during GC, then baseline"

    @property
    def ratio(self) -> float | None:
        if not (self.baseline_ips and self.during_ips):
            return None
        return self.during_ips / self.baseline_ips

    @property
    def valid(self) -> bool:
        return self.ratio is not None and self.still_running


def blobs_for(rate: float | None, images: int) -> int:
    """Enough blobs to keep one collection busy through a batch at a pessimistic 25
    images/s, with 5 s to spare; 100,000 when no collection rate was measured yet."""
    if not rate:
        return 100_000
    return int(min(MAX_BLOBS, max(20_000, rate * (images / 25 + 5))))


def batch(images: int, label: str) -> list[SmallImage]:
    made = make_images(images, label)
    return [dataclasses.replace(img, tag=f"{label}-{i}") for i, img in enumerate(made)]


def push_round(rig: BerthRig, round_no: int, images: int, blobs: int) -> PushRound:
    """One round on a fresh Berth: baseline and during-GC batches in this round's order.
    A failed step is recorded in the round's failures; what was measured before stays."""
    print(f"== Berth: small-image pushes, round {round_no}, {blobs:,} blobs to collect")
    result = PushRound(round_no, images, blobs)
    server: Server | None = None
    try:
        server, _reference, generated = rig.prepared(blobs, WINDOW, gc_data.DAY_MS)
        _warm_up(server, round_no)
        steps = [_baseline, _during] if round_no % 2 else [_during, _baseline]
        for step in steps:
            step(rig, server, generated, result)
    except Exception as err:  # noqa: BLE001 - a failed round is reported, not fatal
        result.failures.append(f"{type(err).__name__}: {err}")
        print(f"    FAILED: {err}", flush=True)
    finally:
        if server is not None:
            server.stop()
            shutil.rmtree(server.data_dir, ignore_errors=True)
    return result


def _warm_up(server: Server, round_no: int) -> None:
    """An unrecorded batch first: a fresh server's first pushes pay for its cold start (each
    process's first password check, imports, empty caches), which would land on whichever
    batch came first."""
    push_images(server.base, REPO_NAME, batch(WARM_UP, f"warm-{round_no}"), auth=server.push_auth)


def _push(rig: BerthRig, server: Server, images: list[SmallImage], name: str) -> PushResult:
    """One measured batch; with rig.py_spy, the server's process tree sampled meanwhile
    (collapsed stacks and hot spots in bench/.work/gc/profiles/<name>.txt / .top.txt)."""
    if not (rig.py_spy and server.proc):
        return push_images(server.base, REPO_NAME, images, auth=server.push_auth)
    out = rig.work.parent / "profiles" / f"{name}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    with PySpyRecording(rig.py_spy, server.proc.pid, out):
        pushed = push_images(server.base, REPO_NAME, images, auth=server.push_auth)
    if out.exists():
        lines = hot_spots(out, project_files(rig.repo))
        out.with_suffix(".top.txt").write_text("\n".join(lines) + "\n")
    return pushed


def _baseline(rig: BerthRig, server: Server, _set: gc_data.BlobSet, result: PushRound) -> None:
    images = batch(result.images, f"base-{result.round_no}")
    os.sync()
    pushed = _push(rig, server, images, f"round{result.round_no}-baseline")
    result.baseline_ips = pushed.images_per_s
    print(f"    no collection: {pushed.images_per_s:,.1f} images/s", flush=True)


def _during(rig: BerthRig, server: Server, generated: gc_data.BlobSet, result: PushRound) -> None:
    images = batch(result.images, f"gc-{result.round_no}")
    os.sync()
    collection = rig.start_collection(server, 1, WINDOW)
    wait_running(collection)
    before = gc_data.berth_left(server.data_dir, generated)[0]
    pushed = _push(rig, server, images, f"round{result.round_no}-during-gc")
    result.still_running = collection.running()
    result.deleted_during = before - gc_data.berth_left(server.data_dir, generated)[0]
    result.during_ips, result.during_seconds = pushed.images_per_s, pushed.seconds
    result.outcome = collection.wait(GC_TIMEOUT)
    state = "still running" if result.still_running else "FINISHED BEFORE THE LAST IMAGE"
    print(
        f"    during a collection: {pushed.images_per_s:,.1f} images/s; "
        f"{result.deleted_during:,} blobs deleted meanwhile; collection {state}; "
        f"it took {result.outcome.wall_seconds:.1f} s in all",
        flush=True,
    )


def measure(rig: BerthRig, rounds: int, images: int, blobs: int) -> list[PushRound]:
    """rounds rounds; a round whose collection ended too soon is run again once with three
    times the blobs (both attempts are reported)."""
    results = []
    for round_no in range(1, rounds + 1):
        for attempt in range(2):
            res = push_round(rig, round_no, images, blobs)
            results.append(res)
            if res.valid or res.failures or attempt == 1:
                break
            blobs = min(MAX_BLOBS, blobs * 3)
    return results
