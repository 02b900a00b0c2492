"""Uploads stream: memory stays bounded however large the body is."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.support import ADMIN, running_berth
from web.streaming import BUFFER_LIMIT, BoundedBody

admin = httpx.Client(auth=ADMIN, timeout=120)  # Basic credentials of the test admin


async def test_receiver_waits_while_the_handler_has_not_consumed_the_buffer() -> None:
    body = BoundedBody(None, None)
    body.append(b"x" * BUFFER_LIMIT)
    waiter = asyncio.create_task(body.wait_for_room())
    await asyncio.sleep(0.05)
    assert not waiter.done()  # the receiver would stop reading the socket here
    assert len(await body.__anext__()) == BUFFER_LIMIT
    await asyncio.wait_for(waiter, 1)


def rss_bytes(pid: int) -> int:
    """Resident memory of pid and all its descendants (the server's worker processes)."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            status = (proc / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if proc.name == str(pid) or _descends(int(fields["PPid"]), pid):
            total += int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
    return total


def _descends(ppid: int, root: int) -> bool:
    while ppid > 1:
        if ppid == root:
            return True
        try:
            status = Path(f"/proc/{ppid}/status").read_text()
        except OSError:
            return False
        ppid = int(next(ln for ln in status.splitlines() if ln.startswith("PPid:")).split()[1])
    return False


def test_a_large_upload_never_sits_in_server_memory(tmp_path: Path) -> None:
    piece = os.urandom(1024 * 1024)
    pieces = 256
    digest = hashlib.sha256()
    for _ in range(pieces):
        digest.update(piece)

    def body() -> Iterator[bytes]:
        for _ in range(pieces):
            yield piece

    # One server process, warmed up by a signed-in request: argon2's 64 MiB for checking the
    # password is spent before the baseline, and the upload reuses the verified login.
    with running_berth(tmp_path, {"BERTH_WORKERS": "1"}) as server:
        assert admin.get(f"{server.url}/v2/").status_code == 200
        baseline = rss_bytes(server.proc.pid)
        peak = baseline
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, rss_bytes(server.proc.pid))
                stop.wait(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            response = admin.post(
                f"{server.url}/v2/library/big/blobs/uploads/",
                params={"digest": f"sha256:{digest.hexdigest()}"},
                content=body(),
                timeout=120,
            )
        finally:
            stop.set()
            sampler.join()
        # Then the blob is stored and the server held little of it in memory at any time
        assert response.status_code == 201, response.text
        assert peak - baseline < 64 * 1024 * 1024, f"server grew by {(peak - baseline) >> 20} MiB"
