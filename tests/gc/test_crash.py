"""A server killed (SIGKILL, the whole process group) while a collection sweeps blobs: after
a restart on the same data the run is resumed (or a new one finishes), no referenced blob is
lost, and storage and the blob table agree."""

from __future__ import annotations

import hashlib
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.gc.registry_client import (
    FINAL,
    Image,
    client,
    collect_now,
    pull_problems,
    push,
    run_status,
    start_collection,
)
from tests.gc.support import BLOB_ROWS_SQL, REFERENCED_SQL, blob_files
from tests.support import (
    RunningBerth,
    assert_log_clean,
    berth_cli,
    log_size,
    postgres_database,
    require,
    run_sql,
    running_berth,
    wait_until,
)

ORPHANS = 8000  # unreferenced blobs: enough batches that the kill lands mid-sweep
CHUNK = 1000
_IN_SWEEP = "SELECT 1 FROM blob WHERE status = 'deleting' LIMIT 1"
_STATUSES = "SELECT status, count(*) FROM blob GROUP BY status ORDER BY status"

pytestmark = pytest.mark.timeout(300)


@contextmanager
def database(backend: str) -> Iterator[dict[str, str]]:
    """The environment that points two server lives at the same database."""
    env = {"BERTH_GC__WINDOW_SECONDS": "0", "BERTH_JOB_LEASE_SECONDS": "3"}
    if backend == "sqlite":
        yield env
        return
    with postgres_database() as url:
        require(url is not None, "PostgreSQL is not running on 127.0.0.1:5432")
        yield {**env, "BERTH_DATABASE_URL": str(url)}


def seed_orphans(server: RunningBerth, count: int) -> None:
    """Blobs with a row and a file that nothing links or names (as a crashed push leaves)."""
    now = datetime.now(UTC)
    for start in range(0, count, CHUNK):
        rows = []
        for n in range(start, min(start + CHUNK, count)):
            data = f"orphan {n}".encode()
            hex_digest = hashlib.sha256(data).hexdigest()
            path = server.data_dir / "storage" / "blobs" / "sha256" / hex_digest[:2] / hex_digest
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            rows.append((f"sha256:{hex_digest}", len(data)))
        values = ",".join(["(?, ?, 'none', 0, 0, ?)"] * len(rows))
        params = [v for digest, size in rows for v in (digest, size, now)]
        run_sql(
            server,
            "INSERT INTO blob (digest, size, status, version, touched_ms, created_at)"
            f" VALUES {values}",
            *params,
        )


def blob_count(server: RunningBerth) -> int:
    return int(run_sql(server, "SELECT count(*) FROM blob")[0][0])


def kill(server: RunningBerth) -> None:
    os.killpg(server.proc.pid, signal.SIGKILL)  # the server and every process it started
    server.proc.wait(timeout=30)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_collection_killed_mid_sweep_is_finished_and_loses_nothing(
    backend: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    images = [
        Image("library/kept", f"v{i}", f"config {i}".encode(), [b"shared base", os.urandom(5000)])
        for i in range(3)
    ]
    with database(backend) as env:
        with running_berth(data, env) as server:
            # Given images that must stay, and many blobs nothing names
            with client(server.url) as http:
                for image in images:
                    push(http, image)
            seed_orphans(server, ORPHANS)
            total = blob_count(server)
            # When a collection is sweeping them and the server is killed
            with client(server.url) as http:
                run_id = start_collection(http, workers=1)
            assert run_id is not None
            wait_until(
                "the collection is part way through the blobs",
                lambda: run_sql(server, _IN_SWEEP) or blob_count(server) < total - 500,
                within=60,
            )
            seen = run_sql(server, _STATUSES)
            kill(server)
            print(backend, "killed just after", seen, "of", total)
        claimed = any(status == "deleting" for status, _n in seen)
        assert claimed or sum(n for _s, n in seen) < total, f"killed before the sweep: {seen}"
        with running_berth(data, env) as server:
            restarted = log_size(server.log)
            with client(server.url) as http:
                # Then the job is taken up again: the run is resumed to its end (or a new
                # run finishes what it left)
                row = wait_until(
                    "the killed run ends",
                    lambda: (r := run_status(http, run_id))["job_status"] in FINAL and r,
                    within=90,
                )
                if row["job_status"] != "Success":
                    assert collect_now(http)["job_status"] == "Success"
                # And every image pulls whole
                for image in images:
                    assert pull_problems(http, image) == []
            # And storage and the table agree: no blob half deleted, none without its file,
            # no file without its row, and only what manifests name is left
            rows = {str(d): str(s) for d, s in run_sql(server, BLOB_ROWS_SQL)}
            referenced = {str(r[0]) for r in run_sql(server, REFERENCED_SQL)}
            assert rows == dict.fromkeys(referenced, "none")
            assert set(blob_files(data / "storage")) == referenced
            check = berth_cli(data, env, "gc", "--check", "--grace-seconds", "0")
            assert check.returncode == 0, check.stdout + check.stderr
        assert_log_clean(server.log, restarted, during="the restart")
