"""Uploads stream: memory stays bounded however large the body is."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.factories import DEVELOPER, PASSWORD, new_member, new_project
from tests.support import ADMIN, assert_log_clean, running_berth, wait_until
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


HUGE = 64 * 1024 * 1024  # declared; the server reads little of it before it answers
CHUNK = b"x" * (1024 * 1024)
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCTETS = "application/octet-stream"


def open_files(pid: int) -> int:
    """Open file descriptors of pid and all its descendants (the server processes)."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            status = (proc / "status").read_text()
            ppid = int(next(ln for ln in status.splitlines() if ln.startswith("PPid:")).split()[1])
            if proc.name == str(pid) or _descends(ppid, pid):
                total += len(os.listdir(proc / "fd"))
        except (OSError, StopIteration):
            continue  # gone meanwhile
    return total


def send_unread(
    host: str, method: str, path: str, content_type: str, auth: tuple[str, str]
) -> tuple[str, bool]:
    """method path with a HUGE body, sent as fast as the server takes it: the head of the
    answer, and whether the server then closed the connection (within a few seconds)."""
    address, port = host.rsplit(":", 1)
    basic = base64.b64encode(":".join(auth).encode()).decode()
    with socket.create_connection((address, int(port)), timeout=5) as sock:
        sock.sendall(
            f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {basic}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {HUGE}\r\n\r\n".encode()
        )
        try:
            for _ in range(HUGE // len(CHUNK)):
                sock.sendall(CHUNK)
        except OSError:  # hung up on (or, if it is stuck, no longer read): read the answer
            pass
        received = b""
        try:
            while data := sock.recv(65536):
                received += data
            closed = True
        except ConnectionResetError:  # closed with the rest of the body unread: a reset
            closed = True
        except TimeoutError:
            closed = False
    return received.partition(b"\r\n\r\n")[0].decode("latin-1"), closed


def test_answers_before_the_body_close_the_connection_and_leave_nothing_behind(
    tmp_path: Path,
) -> None:
    with running_berth(tmp_path, {"BERTH_WORKERS": "1"}) as server:
        # Given developers of a project whose logins the server has not verified yet (the
        # verification takes a while, and meanwhile the body keeps coming), and the admin,
        # whose login it has
        _, project = new_project(server)
        users = [(new_member(server, project, DEVELOPER), PASSWORD) for _ in range(6)]
        with httpx.Client(auth=ADMIN, headers={"Connection": "close"}) as once:
            assert once.get(f"{server.url}/v2/").status_code == 200
        baseline = wait_until("the server's open files settle", lambda: open_files(server.proc.pid))
        # When each sends an oversized manifest or a chunk to an upload that does not exist
        refused = [
            ("PUT", f"/v2/{project}/app/manifests/latest", MANIFEST, "413"),
            ("PATCH", f"/v2/{project}/app/blobs/uploads/{uuid.uuid4()}", OCTETS, "404"),
        ]
        for index, auth in enumerate([*users, *[ADMIN] * 10]):
            method, path, content_type, status = refused[index % 2]
            head, closed = send_unread(server.host, method, path, content_type, auth)
            # Then each is answered, says it will close, and the server hangs up
            assert head.startswith(f"HTTP/1.1 {status} "), (method, head)
            assert "\r\nconnection: close" in head.lower(), head
            assert closed, f"{method} {path}: the server kept the connection open"
        # And no connection stays open in the server
        wait_until(
            f"the server's open files are back to {baseline}",
            lambda: open_files(server.proc.pid) <= baseline,
            within=10,
        )
    # And stopping the server finds nothing stuck: its log has no error
    assert_log_clean(server.log, during="answers sent before the body was read")
