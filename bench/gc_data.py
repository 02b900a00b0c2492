"""Unreferenced blobs for the GC benchmark, written straight into each registry's layout.

Uploading 100,000 blobs over HTTP would take longer than collecting them, and the upload
is not what is measured. So each blob is made here (random bytes of 0.5-4 KiB, stored
under the SHA-256 of those bytes, as a real push leaves it) and written where the
registry keeps it while the registry is stopped:

- Berth: the file at its content address under `<data>/storage` (storage/keys.py
  blob_key), a `blob` row (status none, touched long ago) and a `repository_blob` link to
  the bench repository, as an image push followed by a manifest delete leaves them; the
  rows go in with one executemany in one transaction.
- Distribution: `docker/registry/v2/blobs/sha256/<hh>/<hex>/data` under its root.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from storage.keys import blob_key

DAY_MS = 86_400_000
DISTRIBUTION_BLOBS = Path("docker/registry/v2/blobs/sha256")


@dataclass
class BlobSet:
    """What was generated: count and bytes, and (Berth) the range of the new row ids."""

    count: int
    bytes: int
    seconds: float = 0.0  # time to write files and rows (setup, not measured)
    first_id: int = 0
    last_id: int = 0


def random_blobs(count: int) -> Iterator[tuple[str, bytes]]:
    """count distinct (hex digest, content) pairs of 512 B to 4 KiB."""
    for i in range(count):
        data = os.urandom(512 + (i * 37) % 3585)
        yield hashlib.sha256(data).hexdigest(), data


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _make_fanout(root: Path) -> None:
    for i in range(256):
        (root / f"{i:02x}").mkdir(parents=True, exist_ok=True)


def write_berth(data_dir: Path, count: int, repository: str, age_ms: int = DAY_MS) -> BlobSet:
    """Files and rows of count unreferenced blobs in a stopped Berth's data dir (SQLite).

    Raises LookupError when the repository has no row (push an image to it first)."""
    storage = data_dir / "storage"
    _make_fanout(storage / "blobs" / "sha256")
    touched = int(dt.datetime.now(dt.UTC).timestamp() * 1000) - age_ms
    created = dt.datetime.now(dt.UTC).isoformat(sep=" ")
    rows: list[tuple[str, int, int, str]] = []
    total = 0
    for hexdigest, data in random_blobs(count):
        _write(storage / blob_key("sha256", hexdigest), data)
        rows.append((f"sha256:{hexdigest}", len(data), touched, created))
        total += len(data)
    first, last = _insert_rows(data_dir / "berth.db", rows, repository)
    return BlobSet(count, total, first_id=first, last_id=last)


def _insert_rows(
    db: Path, rows: list[tuple[str, int, int, str]], repository: str
) -> tuple[int, int]:
    conn = sqlite3.connect(db, timeout=30)
    try:
        found = conn.execute("SELECT id FROM repository WHERE name = ?", (repository,)).fetchone()
        if found is None:
            raise LookupError(f"no repository {repository!r} in {db}")
        with conn:
            before = conn.execute("SELECT coalesce(max(id), 0) FROM blob").fetchone()[0]
            conn.executemany(
                "INSERT INTO blob (digest, size, status, version, touched_ms, gc_run, created_at)"
                " VALUES (?, ?, 'none', 0, ?, NULL, ?)",
                rows,
            )
            conn.executemany(
                "INSERT INTO repository_blob (repository_id, digest, created_at) VALUES (?, ?, ?)",
                [(found[0], digest, created) for digest, _size, _t, created in rows],
            )
            after = conn.execute("SELECT max(id) FROM blob").fetchone()[0]
    finally:
        conn.close()
    return before + 1, after


def berth_left(data_dir: Path, blobs: BlobSet) -> tuple[int, int]:
    """(rows, bytes) of the generated blobs that Berth's database still holds."""
    conn = sqlite3.connect(f"file:{data_dir / 'berth.db'}?mode=ro", uri=True, timeout=30)
    try:
        rows, size = conn.execute(
            "SELECT count(*), coalesce(sum(size), 0) FROM blob WHERE id BETWEEN ? AND ?",
            (blobs.first_id, blobs.last_id),
        ).fetchone()
    finally:
        conn.close()
    return int(rows), int(size)


def berth_files(data_dir: Path) -> int:
    """Files under Berth's blob fan-out (the generated ones and any pushed)."""
    return _count_entries(data_dir / "storage" / "blobs" / "sha256")


def write_distribution(root: Path, count: int) -> BlobSet:
    """count unreferenced blobs in Distribution's filesystem layout under root."""
    blobs_root = root / DISTRIBUTION_BLOBS
    _make_fanout(blobs_root)
    total = 0
    for hexdigest, data in random_blobs(count):
        folder = blobs_root / hexdigest[:2] / hexdigest
        folder.mkdir()
        _write(folder / "data", data)
        total += len(data)
    return BlobSet(count, total)


def distribution_left(root: Path, keep: list[str]) -> tuple[int, int]:
    """(blobs, bytes) Distribution still holds, leaving out the digests in keep."""
    skip = {d.removeprefix("sha256:") for d in keep}
    count = size = 0
    for shard in os.scandir(root / DISTRIBUTION_BLOBS):
        for blob in os.scandir(shard.path):
            if blob.name not in skip:
                count += 1
                size += _size(Path(blob.path) / "data")
    return count, size


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def distribution_has(root: Path, digest: str) -> bool:
    hexdigest = digest.removeprefix("sha256:")
    return (root / DISTRIBUTION_BLOBS / hexdigest[:2] / hexdigest / "data").is_file()


def _count_entries(fanout: Path) -> int:
    if not fanout.is_dir():
        return 0
    total = 0
    with os.scandir(fanout) as shards:
        for shard in shards:
            if shard.is_dir():
                total += len(os.listdir(shard.path))
    return total
