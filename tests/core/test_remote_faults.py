"""core/remote.py through the fault proxy (tests/replication/faultproxy.py): retries after
5xx, Retry-After honoured, chunked writes resumed after a cut, stalls timed out while slow
transfers go on, and the speed and request-rate caps."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from core.remote import Endpoint, RemoteClient, RemoteStopped, RemoteUnavailable
from core.remote_errors import retry_after
from tests.core.remote_support import (
    KIB,
    PASSWORD,
    USER,
    blob,
    push_image,
    read_all,
    running_distribution_htpasswd,
    source_of,
)
from tests.replication.faultproxy import FaultProxy
from tests.support import ADMIN, RunningBerth, assert_log_clean, running_berth

CHUNK = 32 * KIB


@pytest.fixture(scope="module")
def berth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBerth]:
    data_dir = Path(tmp_path_factory.mktemp("berth"))
    with running_berth(data_dir) as server:
        yield server
    # cut connections and stalls are the client's doing: nothing for Berth to log as an error
    assert_log_clean(data_dir / "server.log", during="the fault tests")


@pytest.fixture
async def proxy(berth: RunningBerth) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(berth.url) as running:
        yield running


class Log(list[str]):
    def __call__(self, line: str) -> None:
        self.append(line)


def client_of(proxy: FaultProxy, log: Log | None = None, **options: float) -> RemoteClient:
    rate = float(options.pop("requests_per_second", 0.0))
    endpoint = Endpoint(proxy.url, *ADMIN, requests_per_second=rate)
    return RemoteClient(endpoint, log=log, **options)  # type: ignore[arg-type]


def repo() -> str:
    return f"library/faults-{uuid.uuid4().hex[:8]}"


async def stored(proxy: FaultProxy, size: int) -> tuple[str, bytes, str]:
    """A blob written to Berth through the proxy before any fault is armed."""
    name, (data, digest) = repo(), blob(size)
    async with client_of(proxy) as remote:
        await remote.write_blob(name, digest, size, source_of(data))
    return name, data, digest


# --- retries ---------------------------------------------------------------------------


async def test_500s_then_success(proxy: FaultProxy) -> None:
    log = Log()
    async with client_of(proxy, log) as remote:
        name = repo()
        digest, _ = await push_image(remote, name, "v1", b"layer")
        proxy.answer(500, times=2, path="/manifests/")
        assert await remote.head_manifest(name, "v1") == digest
    injected = [s for s in proxy.seen if s.fault == "answer"]
    assert [s.status for s in injected] == [500, 500]
    assert len([line for line in log if "retrying in" in line]) == 2


async def test_500s_past_the_retries_are_unavailable(proxy: FaultProxy) -> None:
    async with client_of(proxy, retries=1) as remote:
        proxy.answer(500, times=5, path="/tags/list")
        with pytest.raises(RemoteUnavailable, match="^500 UNAVAILABLE from .*/tags/list"):
            await remote.tags(repo())
    assert len([s for s in proxy.seen if s.fault == "answer"]) == 2  # the try and 1 retry


async def test_429_waits_as_retry_after_says(proxy: FaultProxy) -> None:
    log = Log()
    async with client_of(proxy, log) as remote:
        name, (_, digest) = repo(), blob(1000)
        proxy.answer(429, headers={"Retry-After": "2"}, method="HEAD")
        started = time.monotonic()
        assert await remote.blob_size(name, digest) is None
        waited = time.monotonic() - started
    assert 2.0 <= waited < 4.0, log
    assert any("429 from 127.0.0.1: waiting 2 s as Retry-After says" in line for line in log)


async def test_a_retry_after_of_hours_fails_at_once_saying_so(proxy: FaultProxy) -> None:
    async with client_of(proxy) as remote:
        proxy.answer(429, headers={"Retry-After": "21600"}, path="/tags/list")
        started = time.monotonic()
        with pytest.raises(RemoteUnavailable, match="Retry-After asks for 21600 s"):
            await remote.tags(repo())
        assert time.monotonic() - started < 2


def test_retry_after_as_an_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    response = httpx.Response(429, headers={"Retry-After": when})
    assert 28 <= retry_after(response) <= 30
    assert retry_after(httpx.Response(503, headers={"Retry-After": "7"})) == 7
    assert retry_after(httpx.Response(503, headers={"Retry-After": "soon"})) == 0


# --- resumable writes ------------------------------------------------------------------


async def test_a_chunked_write_cut_mid_chunk_resumes_from_the_servers_offset(
    proxy: FaultProxy,
) -> None:
    name, (data, digest) = repo(), blob(8 * CHUNK + 1234)
    log, source = Log(), source_of(data)
    proxy.cut_request(after=CHUNK // 2, method="PATCH", skip=3)  # in the 4th chunk
    async with client_of(proxy, log) as remote:
        sent = await remote.write_blob(name, digest, len(data), source, chunk_size=CHUNK)
        assert await read_all(remote.read_blob(name, digest)) == data

    assert len(data) < sent < len(data) + 2 * CHUNK
    assert proxy.request_bytes <= sent  # what reached the proxy, the client counted
    assert source.opened.count(3 * CHUNK) == 2  # type: ignore[attr-defined]
    assert any(f"resumes at byte {3 * CHUNK} of {len(data)}" in line for line in log)


async def test_a_chunked_write_survives_5xx_between_chunks(proxy: FaultProxy) -> None:
    name, (data, digest) = repo(), blob(4 * CHUNK)
    proxy.answer(503, method="PATCH", skip=1)
    async with client_of(proxy) as remote:
        sent = await remote.write_blob(name, digest, len(data), source_of(data), chunk_size=CHUNK)
        assert await remote.blob_size(name, digest) == len(data)
    assert sent == len(data) + CHUNK  # the refused chunk, sent again


async def test_a_cut_monolithic_write_starts_again(proxy: FaultProxy) -> None:
    name, (data, digest) = repo(), blob(100 * KIB)
    proxy.cut_request(after=50 * KIB, method="PUT", path="/blobs/uploads/")
    async with client_of(proxy) as remote:
        sent = await remote.write_blob(name, digest, len(data), source_of(data))
        assert await read_all(remote.read_blob(name, digest)) == data
    assert len(data) + 40 * KIB < sent <= 2 * len(data)


async def test_small_blobs_go_in_one_request_where_the_registry_takes_that(
    proxy: FaultProxy, tmp_path: Path
) -> None:
    # At Berth: each small blob is one POST ?digest=
    name = repo()
    blobs = [blob(4 * KIB) for _ in range(3)]
    async with client_of(proxy) as remote:
        for data, digest in blobs:
            assert await remote.write_blob(name, digest, len(data), source_of(data)) == len(data)
    uploads = [s.method for s in proxy.seen if "/blobs/uploads/" in s.target]
    assert uploads == ["POST"] * 3
    # At Distribution, which opens an upload instead (202): that blob goes on by PUT, and
    # the client sends the others as Distribution wants them (POST, then PUT)
    with running_distribution_htpasswd(tmp_path) as distribution:
        async with FaultProxy(distribution.url) as watched:
            endpoint = Endpoint(watched.url, USER, PASSWORD)
            async with RemoteClient(endpoint) as remote:
                for data, digest in blobs:
                    await remote.write_blob(name, digest, len(data), source_of(data))
                    assert await read_all(remote.read_blob(name, digest)) == data
            uploads = [s.method for s in watched.seen if "/blobs/uploads/" in s.target]
    assert uploads == ["POST", "PUT"] * 3
    whole = [s for s in watched.seen if s.method == "POST" and "digest=" in s.target]
    assert len(whole) == 1  # tried once, then not again


async def test_distribution_cut_mid_chunk_still_completes(
    tmp_path: Path,
) -> None:
    """Distribution cancels an upload whose chunk was cut (its state no longer matches the
    file): the client notices and starts a fresh upload."""
    name, (data, digest) = repo(), blob(4 * CHUNK)
    with running_distribution_htpasswd(tmp_path) as distribution:
        async with FaultProxy(distribution.url) as proxy:
            proxy.cut_request(after=CHUNK // 2, method="PATCH", skip=1)
            endpoint = Endpoint(proxy.url, USER, PASSWORD)
            async with RemoteClient(endpoint) as remote:
                await remote.write_blob(name, digest, len(data), source_of(data), chunk_size=CHUNK)
                assert await read_all(remote.read_blob(name, digest)) == data


async def test_should_stop_is_asked_between_chunks(proxy: FaultProxy) -> None:
    name, (data, digest) = repo(), blob(4 * CHUNK)
    source = source_of(data)
    async with client_of(proxy) as remote:
        with pytest.raises(RemoteStopped):
            await remote.write_blob(
                name,
                digest,
                len(data),
                source,
                chunk_size=CHUNK,
                should_stop=lambda: len(source.opened) >= 2,  # type: ignore[attr-defined]
            )
        assert await remote.blob_size(name, digest) is None
    assert source.opened == [0, CHUNK]  # type: ignore[attr-defined]


# --- stalls and slow transfers ---------------------------------------------------------


async def test_a_stalled_read_times_out_after_the_stall_timeout(proxy: FaultProxy) -> None:
    name, _, digest = await stored(proxy, 64 * KIB)
    proxy.stall_response(after=1000, seconds=30, method="GET", path="/blobs/sha256:")
    async with client_of(proxy, retries=0, stall=0.5) as remote:
        started = time.monotonic()
        with pytest.raises(RemoteUnavailable, match="no progress for 0.5 s .* stalled"):
            await read_all(remote.read_blob(name, digest))
        waited = time.monotonic() - started
    assert 0.5 <= waited < 5


async def test_a_stalled_read_resumes_from_the_byte_reached(proxy: FaultProxy) -> None:
    name, data, digest = await stored(proxy, 64 * KIB)
    proxy.stall_response(after=20_000, seconds=30, method="GET", path="/blobs/sha256:")
    async with client_of(proxy, stall=0.5) as remote:
        assert await read_all(remote.read_blob(name, digest)) == data
    reads = [s for s in proxy.seen if s.method == "GET" and "/blobs/sha256:" in s.target]
    assert [s.fault for s in reads] == ["stall", ""]


async def test_a_read_cut_mid_blob_resumes_with_a_range(proxy: FaultProxy) -> None:
    name, data, digest = await stored(proxy, 64 * KIB)
    proxy.cut_response(after=20_000, method="GET", path="/blobs/sha256:")
    async with client_of(proxy) as remote:
        assert await read_all(remote.read_blob(name, digest)) == data
    reads = [s for s in proxy.seen if s.method == "GET" and "/blobs/sha256:" in s.target]
    assert [(s.fault, s.status) for s in reads] == [("cut_response", 200), ("", 206)]


async def test_a_slow_but_moving_read_does_not_time_out(proxy: FaultProxy) -> None:
    name, data, digest = await stored(proxy, 64 * KIB)
    proxy.slow_response(piece=4 * KIB, interval=0.1, method="GET", path="/blobs/sha256:")
    async with client_of(proxy, retries=0, stall=0.5) as remote:
        started = time.monotonic()
        assert await read_all(remote.read_blob(name, digest)) == data
        took = time.monotonic() - started
    assert took > 2 * 0.5  # 16 pieces 0.1 s apart: far longer than the stall timeout


# --- caps ------------------------------------------------------------------------------


async def test_the_speed_cap_is_roughly_honoured(proxy: FaultProxy) -> None:
    name, (data, digest) = repo(), blob(192 * KIB)
    async with client_of(proxy) as remote:
        await remote.blob_size(name, digest)  # the token, outside the timed part
        started = time.monotonic()
        await remote.write_blob(name, digest, len(data), source_of(data), speed=256)
        wrote = time.monotonic() - started
        started = time.monotonic()
        assert await read_all(remote.read_blob(name, digest, speed=256)) == data
        read = time.monotonic() - started
    # 192 KiB at 256 KiB/s: 0.75 s (the first piece goes at once: at least 0.5 s)
    assert 0.5 <= wrote < 3
    assert 0.5 <= read < 3


async def test_requests_per_second_is_honoured(proxy: FaultProxy) -> None:
    name, _, digest = await stored(proxy, 1000)
    async with client_of(proxy, requests_per_second=10) as remote:
        await remote.blob_size(name, digest)  # the token, outside the timed part
        started = time.monotonic()
        sizes = await asyncio.gather(*(remote.blob_size(name, digest) for _ in range(6)))
        took = time.monotonic() - started
    assert sizes == [1000] * 6
    assert took >= 0.5  # 6 requests at 10/s: 5 intervals of 0.1 s
