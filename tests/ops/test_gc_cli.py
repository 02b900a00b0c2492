"""`berth gc` as a user runs it, and `gc.on_start` in `berth serve`."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.factories import admin_client
from tests.ops.support import run_berth
from tests.support import running_berth, running_berth_with, wait_until

GC = "/system/gc"


def gc(folder: Path, *args: str) -> tuple[int, str, str]:
    done = run_berth(folder, "gc", *args, "--data-dir", str(folder / "data"), timeout=120)
    return done.returncode, done.stdout, done.stderr


def test_a_collection_shows_its_phases_and_results_and_exits_0(tmp_path: Path) -> None:
    # When a dry run is started from the command line
    status, out, err = gc(tmp_path, "--dry-run", "--workers", "3")
    # Then it ends with its results on stdout, having shown a progress bar per phase
    assert status == 0, err
    assert re.fullmatch(
        r"garbage collection 1: Success; would free \d+ bytes \(\d+ blobs, \d+ manifests,"
        r" \d+ uploads\)\n",
        out,
    ), out
    assert re.search(r"\d+/\d+", err), err  # the phases' bars
    assert "garbage collection 1 started (CLI): delete_untagged=False dry_run=True workers=3" in err
    # And a second one is allowed (the first one ended) and says "freed" when not dry
    status, out, err = gc(tmp_path, "--delete-untagged")
    assert status == 0, err
    assert out.startswith("garbage collection 2: Success; freed ")


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--workers", "0"], id="workers-0"),
        pytest.param(["--workers", "11"], id="workers-11"),
        pytest.param(["--workers", "many"], id="workers-text"),
        pytest.param(["--dry-run=yes"], id="flag-with-value"),
    ],
)
def test_a_bad_option_exits_2_without_a_run(tmp_path: Path, args: list[str]) -> None:
    status, out, err = gc(tmp_path, *args)
    assert status == 2 and out == ""
    assert "--workers" in err or "--dry-run" in err
    assert not (tmp_path / "data" / "berth.db").exists()  # refused before anything started


def test_a_bad_gc_setting_exits_2_naming_it(tmp_path: Path) -> None:
    done = run_berth(tmp_path, "gc", env={"BERTH_GC__WORKERS": "11", "BERTH_DATA_DIR": "d"})
    assert done.returncode == 2
    assert "BERTH_GC__WORKERS" in done.stderr


def test_a_collection_while_another_runs_exits_1(tmp_path: Path) -> None:
    # Given a run that is alive (its heartbeat is fresh), as another process would keep it
    assert gc(tmp_path, "--dry-run")[0] == 0
    with sqlite3.connect(tmp_path / "data" / "berth.db") as db:
        db.execute(
            "UPDATE gc_run SET status = 'Running', heartbeat_at = ? WHERE id = 1",
            (str(datetime.now(UTC)),),
        )
    # When another collection is started, it is refused in one line
    status, out, err = gc(tmp_path, "--dry-run")
    assert status == 1 and out == ""
    assert "berth: garbage collection 1 is still running" in err


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_on_start_the_server_collects_once_per_start(tmp_path: Path, backend: str) -> None:
    env = {"BERTH_GC__ON_START": "true", "BERTH_GC__WORKERS": "2"}
    with running_berth_with(backend, tmp_path, env) as server, admin_client(server) as admin:
        row = wait_until("the start's collection ends", lambda: _ended(admin), within=60)
        listed = admin.get(GC).json()
    assert len(listed) == 1 and (row["trigger"], row["job_status"]) == ("START", "Success")
    assert '"workers":2' in row["job_parameters"]
    if backend == "sqlite":  # the same database again: a second start, a second run
        with running_berth(tmp_path, env) as server, admin_client(server) as admin:
            wait_until("two runs", lambda: len(_ended_all(admin)) == 2, within=60)


def _ended(admin: httpx.Client) -> dict[str, object] | None:
    rows = _ended_all(admin)
    return rows[0] if rows else None


def _ended_all(admin: httpx.Client) -> list[dict[str, object]]:
    rows = admin.get(GC).json()
    return [r for r in rows if r["job_status"] in ("Success", "Error", "Stopped")]


def test_the_help_shows_flags_as_flags_and_the_workers_range(tmp_path: Path) -> None:
    text = " ".join(run_berth(tmp_path, "gc", "--help").stdout.split())
    assert "--dry-run" in text and "--delete-untagged" in text
    assert "<bool>" not in text and "BOOLEAN" not in text
    assert "--workers N" in text and "1<=x<=10" in text
