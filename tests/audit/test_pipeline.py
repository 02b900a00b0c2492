"""The audit log's durability and its pipelines, against real Berth processes.

- a server killed during a burst of pushes: every committed push has exactly one event, in
  the database and, once indexing catches up, in the search index;
- free text finds new events within a short, bounded lag, with highlights;
- `berth audit purge` (dry run first) and `berth audit reindex`; forwarding to syslog.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import push_image
from tests.support import (
    ADMIN,
    REPO_ROOT,
    RunningBerth,
    postgres_database,
    require,
    running_berth,
    wait_until,
)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def events(server: RunningBerth, **params: str) -> tuple[int, list[dict[str, Any]]]:
    """(X-Total-Count, items) of the audit search API, as the system admin."""
    response = httpx.get(
        f"{server.url}/api/v2.0/auditlog-exts", params=params, auth=ADMIN, timeout=30
    )
    assert response.status_code == 200, response.text
    return int(response.headers["X-Total-Count"]), response.json()


def wait_for_total(
    server: RunningBerth, want: int, within: float = 20, **params: str
) -> list[dict[str, Any]]:
    """Poll until the query matches `want` events (indexing lags by about a second)."""
    deadline = time.monotonic() + within
    while True:
        total, items = events(server, **params)
        if total == want or time.monotonic() > deadline:
            assert total == want, f"{params}: {total} events, wanted {want}"
            return items
        time.sleep(0.2)


def berth_cli(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run `berth <args>` on a data folder; its standard output."""
    cmd = [sys.executable, "-m", "ops.cli", *args, "--data-dir", str(data_dir)]
    done = subprocess.run(
        cmd,
        cwd=REPO_ROOT,
        env={**os.environ, "BERTH_ADMIN_PASSWORD": ADMIN[1], **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """Server environment for a fresh database of each kind."""
    if request.param == "sqlite":
        yield {}
        return
    with postgres_database() as url:
        require(url is not None, "PostgreSQL is not running on 127.0.0.1:5432")
        yield {"BERTH_DATABASE_URL": str(url)}


# --- crash during a burst -------------------------------------------------------------


def _config_blob(client: httpx.Client, repository: str) -> tuple[str, int]:
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    response = client.post(f"/v2/{repository}/blobs/uploads/?digest={digest}", content=config)
    assert response.status_code == 201, response.text
    return digest, len(config)


def _manifest(config: tuple[str, int], n: int) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config[0],
                "size": config[1],
            },
            "layers": [],
            "annotations": {"burst": str(n)},
        }
    ).encode()


def _burst(url: str, repository: str, config: tuple[str, int], stop: threading.Event,
           first: int, confirmed: list[str]) -> None:  # fmt: skip
    """Push manifests tagged t<first>, t<first+1>, ... until stopped or the server dies;
    the tags whose push was answered 201 go to confirmed."""
    n = first
    with httpx.Client(base_url=url, auth=ADMIN, timeout=10) as client:
        while not stop.is_set():
            try:
                response = client.put(
                    f"/v2/{repository}/manifests/t{n}",
                    content=_manifest(config, n),
                    headers={"Content-Type": OCI_MANIFEST},
                )
            except httpx.HTTPError:
                return  # the server is gone
            if response.status_code == 201:
                confirmed.append(f"t{n}")
            n += 4


def _all_tags(server: RunningBerth, repository: str) -> set[str]:
    response = httpx.get(f"{server.url}/v2/{repository}/tags/list", auth=ADMIN, timeout=30)
    assert response.status_code == 200, response.text
    return set(response.json()["tags"] or [])


def test_a_killed_server_leaves_every_committed_push_with_exactly_one_event(
    tmp_path: Path, database: dict[str, str]
) -> None:
    # Given a server taking pushes from four clients at once
    repository = f"library/crash-{uuid.uuid4().hex[:6]}"
    confirmed: list[str] = []
    stop = threading.Event()
    env = {**database, "BERTH_WORKERS": "2"}
    with running_berth(tmp_path, env) as server:
        with httpx.Client(base_url=server.url, auth=ADMIN, timeout=10) as client:
            config = _config_blob(client, repository)
        threads = [
            threading.Thread(
                target=_burst, args=(server.url, repository, config, stop, i, confirmed)
            )
            for i in range(4)
        ]
        for thread in threads:
            thread.start()
        # When it is killed outright in the middle of the burst
        deadline = time.monotonic() + 20
        while len(confirmed) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait()
        stop.set()
        for thread in threads:
            thread.join()
    assert len(confirmed) >= 40, "the burst did not get going"

    # Then, started again: every confirmed push is there, and every stored tag has one event
    with running_berth(tmp_path, database) as server:
        tags = _all_tags(server, repository)
        assert set(confirmed) <= tags
        total, _ = events(
            server, q=f"operation=create,resource_type=artifact,resource=~{repository}:"
        )
        assert total == len(tags)
        for tag in tags:
            count, items = events(server, q=f"resource=~{repository}:{tag}@")
            assert count == 1, f"{tag}: {count} events"
            assert items[0]["operation_result"] is True
            assert items[0]["username"] == ADMIN[0]
        # And once indexing catches up, the search index holds the same events, once each
        # (an indexing job killed mid-batch is replaced after 15 s of silence)
        name = repository.split("/", 1)[1]
        wait_for_total(server, len(tags), within=40, text=name, q="operation=create")


# --- indexing lag, highlights ---------------------------------------------------------


def test_free_text_finds_a_new_event_within_seconds_with_highlights(
    tmp_path: Path, database: dict[str, str]
) -> None:
    with running_berth(tmp_path, database) as server:
        # Given a push to a repository with a distinctive name
        word = f"zebra{uuid.uuid4().hex[:6]}"
        push_image(server, f"library/{word}-app", "1.0")
        # When searching a prefix of that name as free text
        started = time.monotonic()
        items = wait_for_total(server, 1, text=word[:8])
        lag = time.monotonic() - started
        # Then the push is found, its match marked, well within the bounded lag
        assert items[0]["resource"].startswith(f"library/{word}-app:1.0@sha256:")
        assert f"<mark>{word}</mark>" in items[0]["highlights"]["resource"]
        assert lag < 10
        # And several words must all match (AND), in any case
        wait_for_total(server, 1, text=f"{word.upper()} admin")
        wait_for_total(server, 0, text=f"{word} nosuchword")


# --- retention and re-indexing ---------------------------------------------------------


def _age_events(data_dir: Path, resource_like: str, days: int) -> int:
    with sqlite3.connect(data_dir / "berth.db") as db:
        cursor = db.execute(
            "UPDATE audit_event SET occurred_at = datetime('now', ?) WHERE resource LIKE ?",
            (f"-{days} days", resource_like),
        )
        return cursor.rowcount


def test_purge_removes_old_events_from_database_and_index_after_a_dry_run(tmp_path: Path) -> None:
    # Given old pushes and a recent one (events aged on disk while the server is stopped)
    with running_berth(tmp_path) as server:
        for tag in ("old1", "old2", "old3"):
            push_image(server, "library/retained", tag)
        push_image(server, "library/retained", "new")
        wait_for_total(server, 4, text="retained", q="operation=create")
    assert _age_events(tmp_path, "library/retained:old%", 100) == 3

    # When the purge runs dry, then for real
    dry = berth_cli(tmp_path, "audit", "purge", "--older-than-days", "30", "--dry-run")
    assert "would remove 3 audit events" in dry
    done = berth_cli(tmp_path, "audit", "purge", "--older-than-days", "30")
    assert "removed 3 audit events" in done

    # Then neither the database nor the index has them, the new one stays, the purge is logged
    with running_berth(tmp_path) as server:
        assert events(server, q="resource=~library/retained:")[0] == 1
        wait_for_total(server, 1, text="retained", q="operation=create")
        total, items = events(server, q="resource_type=audit_log,operation=delete")
        assert total == 1 and "removed 3 events" in items[0]["operation_description"]


def test_reindex_rebuilds_the_search_index_from_the_database(tmp_path: Path) -> None:
    with running_berth(tmp_path) as server:
        push_image(server, "library/rebuilt", "1")
        push_image(server, "library/rebuilt", "2")
        wait_for_total(server, 2, text="rebuilt", q="operation=create")
    # Given an index that lost everything
    with sqlite3.connect(tmp_path / "berth.db") as db:
        db.execute("DELETE FROM audit_fts")
    # When it is rebuilt
    output = berth_cli(tmp_path, "audit", "reindex")
    # Then every event is searchable again, once
    assert "re-indexed" in output
    with running_berth(tmp_path) as server:
        wait_for_total(server, 2, text="rebuilt", q="operation=create")


def test_a_retention_age_adds_the_purge_schedule(tmp_path: Path) -> None:
    query = "SELECT kind, args FROM schedule WHERE name = 'audit-purge'"
    with (
        running_berth(tmp_path, {"BERTH_AUDIT__RETENTION_DAYS": "90"}),
        sqlite3.connect(tmp_path / "berth.db") as db,
    ):
        # The scheduler's lease holder writes its triggers once it runs, not before the
        # first answer: wait for the row rather than race it.
        rows = wait_until("the audit-purge schedule", lambda: db.execute(query).fetchall())
    assert rows and rows[0][0] == "audit-purge" and json.loads(rows[0][1]) == {"days": 90}


# --- syslog -------------------------------------------------------------------------------


def _receive_udp(receiver: socket.socket) -> Iterator[bytes]:
    while True:
        yield receiver.recv(65536)


def _receive_tcp(listener: socket.socket) -> Iterator[bytes]:
    """Messages framed by octet counting (RFC 6587): `LENGTH SP MESSAGE`, one connection
    per batch."""
    while True:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(15)
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
        while data:
            length, _, rest = data.partition(b" ")
            yield rest[: int(length)]
            data = rest[int(length) :]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_every_event_is_forwarded_to_syslog(tmp_path: Path, transport: str) -> None:
    # Given a syslog receiver on loopback
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(15)
        if transport == "tcp":
            receiver.listen()
        address = f"{transport}://127.0.0.1:{receiver.getsockname()[1]}"
        messages = _receive_udp(receiver) if transport == "udp" else _receive_tcp(receiver)
        with running_berth(tmp_path, {"BERTH_AUDIT__SYSLOG_ADDRESS": address}) as server:
            # When an image is pushed
            push_image(server, "library/forwarded", "v1")
            # Then an RFC 5424 message with the event as JSON arrives
            message = next(m for m in messages if b"library/forwarded:v1@" in m).decode()
    head, _, body = message.partition(" - audit - ")
    assert head.startswith("<110>1 ")  # facility 13 (log audit), severity 6 (informational)
    event = json.loads(body)
    assert event["operation"] == "create" and event["username"] == "admin"
    assert event["result"] == "success"
