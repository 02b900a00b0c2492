"""Start a garbage collection, watch it, and time it: Berth's online one through Harbor's
API (or, before the API exists, core.gc.collect in a process of its own), and
Distribution's offline `docker-registry garbage-collect`."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bench.oci import RegistryClient, StepFailed, basic_header
from bench.servers import Credentials

GC_API = "/api/v2.0/system/gc"
FINISHED = ("Success", "Error", "Stopped")


@dataclass
class Outcome:
    """One finished collection as the bench saw it and as the run recorded itself."""

    status: str
    wall_seconds: float  # from the trigger to the poll that saw it finished
    via: str  # "API", "in-process" or "offline command"
    run_id: int | None = None
    run_seconds: float | None = None  # the run's own record: created -> last update
    results: dict[str, int] = field(default_factory=dict)  # what the run says it freed
    log_tail: list[str] = field(default_factory=list)


class Collection(Protocol):
    """A started collection."""

    def status(self) -> str:
        """The run's job_status now (Pending before it has a run record)."""
        ...

    def running(self) -> bool:
        """True until the collection has finished, however it ended."""
        ...

    def wait(self, timeout: float) -> Outcome:
        """Block until it finished. Raises StepFailed when it did not within timeout."""
        ...


def run_record(db: Path, run_id: int) -> tuple[float | None, dict[str, int], list[str]]:
    """The gc_run row's own duration (created -> its last heartbeat or update, whichever is
    later: the final log flush beats just before the run finishes), results and last log
    lines, read-only."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        row = conn.execute(
            "SELECT created_at, updated_at, heartbeat_at, results, log FROM gc_run WHERE id = ?",
            (run_id,),
        ).fetchone()
    finally:
        conn.close()
    if row is None:
        return None, {}, []
    created, *later = (dt.datetime.fromisoformat(str(v)) for v in row[:3] if v)
    results = json.loads(row[3]) if row[3] else {}
    seconds = (max(later) - created).total_seconds() if later else None
    return seconds, results, str(row[4] or "").splitlines()[-5:]


class ApiCollection:
    """A collection started with `POST /api/v2.0/system/gc/schedule` (type Manual)."""

    def __init__(self, base: str, auth: Credentials, db: Path, workers: int) -> None:
        self.client = RegistryClient(base, auth=auth)
        self.headers = {**basic_header(auth), "Content-Type": "application/json"}
        self.db = db
        self.last: dict[str, Any] = {}
        body = {
            "schedule": {"type": "Manual"},
            "parameters": {"delete_untagged": False, "dry_run": False, "workers": workers},
        }
        self.started = time.perf_counter()
        resp = self.client.expect(
            "start GC",
            "POST",
            f"{GC_API}/schedule",
            (201,),
            json.dumps(body).encode(),
            self.headers,
        )
        location = resp.headers.get("Location") or ""
        self.run_id = int(location.rstrip("/").rsplit("/", 1)[-1])

    def status(self) -> str:
        resp = self.client.expect(
            "GC status", "GET", f"{GC_API}/{self.run_id}", (200,), headers=self.headers
        )
        self.last = json.loads(resp.body)
        return str(self.last.get("job_status", ""))

    def running(self) -> bool:
        return self.status() not in FINISHED

    def wait(self, timeout: float) -> Outcome:
        deadline = self.started + timeout
        while (status := self.status()) not in FINISHED:
            if time.perf_counter() > deadline:
                raise StepFailed("GC", "GET", f"{GC_API}/{self.run_id}", status, "still running")
            time.sleep(0.05)
        wall = time.perf_counter() - self.started
        self.client.close()
        seconds, results, log = run_record(self.db, self.run_id)
        return Outcome(status, wall, "API", self.run_id, seconds, results, log)


def api_available(base: str, auth: Credentials) -> bool:
    """Whether Berth has the GC API (a 404 or 405 for the history means not yet)."""
    client = RegistryClient(base, auth=auth)
    try:
        return client.request("GET", GC_API, headers=basic_header(auth)).status not in (404, 405)
    finally:
        client.close()


class ProcessCollection:
    """A collection run by a process of its own next to the server, on the same data:
    `berth gc` (via "CLI") or core.gc.collect from `python -m bench.gc_inproc`
    ("in-process"). Its run is the newest gc_run row (each bench data dir has one)."""

    def __init__(self, cmd: list[str], repo: Path, data_dir: Path, via: str, env: dict[str, str]):
        self.db = data_dir / "berth.db"
        self.via = via
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, **env})  # fmt: skip

    def running(self) -> bool:
        return self.proc.poll() is None

    def _newest(self) -> tuple[int, str] | None:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)
        try:
            row = conn.execute("SELECT id, status FROM gc_run ORDER BY id DESC LIMIT 1").fetchone()
        finally:
            conn.close()
        return (int(row[0]), str(row[1])) if row else None

    def status(self) -> str:
        """The run's status once the process has made its row, Pending until then."""
        newest = self._newest()
        return newest[1] if newest else "Pending"

    def wait(self, timeout: float) -> Outcome:
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise StepFailed("GC", self.via, str(self.proc.args), "timeout", "") from None
        wall = time.perf_counter() - self.started
        newest = self._newest()
        if self.proc.returncode != 0 or newest is None:
            raise StepFailed("GC", self.via, str(self.proc.args), self.proc.returncode, out[-300:])
        seconds, results, log = run_record(self.db, newest[0])
        return Outcome(newest[1], wall, self.via, newest[0], seconds, results, log)


def inprocess_collection(
    python: str, repo: Path, data_dir: Path, workers: int, window: float
) -> ProcessCollection:
    """core.gc.collect with a trivial reporter, by `python -m bench.gc_inproc`."""
    cmd = [python, "-m", "bench.gc_inproc", "--data-dir", str(data_dir),
           "--workers", str(workers), "--window", str(window)]  # fmt: skip
    return ProcessCollection(cmd, repo, data_dir, "in-process", {})


def cli_collection(
    python: str, repo: Path, data_dir: Path, workers: int, window: float
) -> ProcessCollection:
    """`berth gc --workers N` on the data dir, the window from BERTH_GC__WINDOW_SECONDS."""
    cmd = [python, "-m", "ops.cli", "gc", "--workers", str(workers), "--data-dir", str(data_dir)]
    env = {"BERTH_GC__WINDOW_SECONDS": str(int(window)), "BERTH_LOG_LEVEL": "error"}
    return ProcessCollection(cmd, repo, data_dir, "CLI", env)


def wait_running(collection: Collection, timeout: float = 60.0) -> None:
    """Return once the run is Running (or already over). Raises StepFailed after timeout."""
    deadline = time.perf_counter() + timeout
    while (status := collection.status()) not in ("Running", *FINISHED):
        if time.perf_counter() > deadline:
            raise StepFailed("GC", "GET", "gc run", status, "not Running within the timeout")
        time.sleep(0.02)


def distribution_gc(config: Path, log: Path, timeout: float = 3600.0) -> Outcome:
    """Time `docker-registry garbage-collect CONFIG` (the registry must be stopped)."""
    started = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.run(
            ["docker-registry", "garbage-collect", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    wall = time.perf_counter() - started
    status = "Success" if proc.returncode == 0 else f"exit {proc.returncode}"
    tail = log.read_text(errors="replace").splitlines()[-3:]
    return Outcome(status, wall, "`garbage-collect`", log_tail=tail)


def python_of(repo: Path) -> str:
    venv = repo / ".venv/bin/python"
    return str(venv) if venv.exists() else sys.executable
