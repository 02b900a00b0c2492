"""Soak: eight clients push images made of shared layers and delete some, while collections
run back to back beside them on a real Berth (window 0). Nothing acknowledged is ever lost,
and once it is quiet one more collection leaves exactly the blobs stored manifests name."""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.gc.registry_client import (
    Image,
    PushRefused,
    client,
    collect_now,
    delete,
    pull_problems,
    push,
    start_collection,
    wait_for_run,
)
from tests.gc.support import REFERENCED_SQL, blob_files
from tests.support import assert_log_clean, run_sql, running_berth_with

CLIENTS = 8
SECONDS = float(os.environ.get("GC_SOAK_SECONDS", "40"))  # of pushing, per backend
LAYERS = 16  # the shared pool
RETRIES = 50  # pushes of one image refused because a collection took a blob meanwhile
PAUSE = 0.2  # between two collections: back to back with a window of 0 can starve a push

pytestmark = pytest.mark.timeout(300)


@dataclass
class Ledger:
    """What the clients and the collector saw, shared between their threads."""

    kept: list[Image] = field(default_factory=list)  # acknowledged, not deleted
    deleted: int = 0
    retries: int = 0
    pulls: int = 0
    runs: list[dict[str, object]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)


def pushing(url: str, index: int, pool: list[bytes], stop: threading.Event, ledger: Ledger) -> None:
    """One client: push images of shared layers (and one of its own), delete some, pull some."""
    rng = random.Random(index)
    mine: list[Image] = []
    with client(url) as http:
        for n in range(10_000):
            if stop.is_set():
                break
            own = os.urandom(rng.randint(1, 4096))
            layers = [*rng.sample(pool, rng.randint(1, 3)), own]
            image = Image(
                f"library/soak{index % 3}", f"c{index}-{n}", f"cfg {index} {n}".encode(), layers
            )
            try:
                push_until_acknowledged(http, image, ledger)
            except Exception as exc:  # a thread's failure must reach the test
                ledger.problem(f"client {index}: {exc!r}")
                return
            mine.append(image)
            if rng.random() < 0.35:
                gone = mine.pop(rng.randrange(len(mine)))
                delete(http, gone)
                with ledger.lock:
                    ledger.deleted += 1
            if mine and rng.random() < 0.5:
                for text in pull_problems(http, rng.choice(mine)):
                    ledger.problem(f"client {index} pulling during the run: {text}")
                with ledger.lock:
                    ledger.pulls += 1
    with ledger.lock:
        ledger.kept.extend(mine)


def push_until_acknowledged(http: object, image: Image, ledger: Ledger) -> None:
    for _attempt in range(RETRIES):
        try:
            push(http, image)  # type: ignore[arg-type]
            return
        except PushRefused:
            with ledger.lock:
                ledger.retries += 1
    raise AssertionError(f"{image.repo}:{image.tag} refused {RETRIES} times")


def collecting(url: str, stop: threading.Event, ledger: Ledger) -> None:
    """Collections back to back through the API, until the clients are done."""
    with client(url) as http:
        while not stop.is_set():
            run_id = start_collection(http, workers=3)
            if run_id is None:
                time.sleep(0.05)
                continue
            row = wait_for_run(http, run_id)
            with ledger.lock:
                ledger.runs.append(row)
            stop.wait(PAUSE)
            if row["job_status"] != "Success":
                log = http.get(f"/api/v2.0/system/gc/{run_id}/log").text
                ledger.problem(f"collection {run_id} ended {row['job_status']}: {log[-2000:]}")


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_collections_beside_pushes_lose_nothing_acknowledged(backend: str, tmp_path: Path) -> None:
    # Given a real Berth whose collections take any blob nothing names (window 0)
    env = {"BERTH_GC__WINDOW_SECONDS": "0"}
    with running_berth_with(backend, tmp_path / "data", env) as server:
        pool = [os.urandom(random.randint(1, 64 * 1024)) for _ in range(LAYERS)]
        ledger, stop, pushed = Ledger(), threading.Event(), threading.Event()
        # When 8 clients push, delete and pull for a while, with collections beside them
        collector = threading.Thread(target=collecting, args=(server.url, pushed, ledger))
        clients = [
            threading.Thread(target=pushing, args=(server.url, i, pool, stop, ledger))
            for i in range(CLIENTS)
        ]
        collector.start()
        for thread in clients:
            thread.start()
        deadline = time.monotonic() + SECONDS
        while time.monotonic() < deadline and not ledger.problems:
            time.sleep(0.5)  # the soak's length, not a wait for a result
        stop.set()
        for thread in clients:
            thread.join(timeout=120)
        pushed.set()
        collector.join(timeout=150)
        # Then no client met a lost blob, and every collection succeeded
        assert ledger.problems == []
        freed = sum(int(str(r["blobs"])) for r in ledger.runs)
        assert ledger.runs and freed > 0, f"{len(ledger.runs)} runs freed {freed} blobs"
        # And after one more (quiet) collection every kept image pulls whole, and storage
        # holds exactly the blobs that stored manifests name
        with client(server.url) as http:
            assert collect_now(http)["job_status"] == "Success"
            for image in ledger.kept:
                assert pull_problems(http, image) == []
        referenced = {str(r[0]) for r in run_sql(server, REFERENCED_SQL)}
        assert set(blob_files(server.data_dir / "storage")) == referenced
        print(
            f"{backend}: {len(ledger.kept)} kept, {ledger.deleted} deleted, {ledger.pulls} pulls,"
            f" {ledger.retries} pushes retried, {len(ledger.runs)} collections freed {freed}"
        )
    assert_log_clean(server.log, during="the soak")
