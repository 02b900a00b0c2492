"""A small fault-injecting HTTP/1.1 proxy for the replication tests.

It forwards every request to one upstream registry (the Host header untouched, so the
upstream's Location headers and token realm name the proxy) unless a fault armed from the
test, in the same event loop, matches the request first:

    async with FaultProxy("http://127.0.0.1:5000") as proxy:
        proxy.answer(500, times=3)                       # three 500s, then through
        proxy.answer(429, headers={"Retry-After": "2"})  # one 429 asking for 2 s
        proxy.cut_request(after=300_000, method="PATCH") # drop the connection mid-body
        proxy.cut_response(after=1000, path="/blobs/")
        proxy.stall_response(after=1000, seconds=30)     # send 1000 bytes, then nothing
        proxy.slow_response(piece=4096, interval=0.1)    # slow but moving
        client_url = proxy.url

Faults apply to matching requests in the order armed, each `times` times (after letting
`skip` matching requests through). `proxy.seen`
lists what passed (method, path, status, request body bytes, fault), and
`proxy.request_bytes` counts every request body byte that reached the proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit

HEAD_LIMIT = 64 * 1024
PIECE = 64 * 1024


@dataclass
class Fault:
    action: str  # answer | cut_request | cut_response | stall | slow
    times: int
    method: str = ""  # "" matches any
    path: str = ""  # a substring of the request target; "" matches any
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    after: int = 0  # body bytes passed before the cut or stall
    seconds: float = 0.0  # a stall's length, a slow transfer's interval
    piece: int = 0  # a slow transfer's bytes per interval
    skip: int = 0  # matching requests passed untouched before the fault applies

    def matches(self, method: str, target: str) -> bool:
        return (not self.method or self.method == method) and self.path in target


@dataclass
class Seen:
    method: str
    target: str
    status: int | None  # None: no answer was passed back (cut)
    body_bytes: int
    fault: str  # the fault applied, "" for none


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.faults: list[Fault] = []
        self.seen: list[Seen] = []
        self.request_bytes = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.url = ""

    async def __aenter__(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    # --- arming ------------------------------------------------------------------------

    def answer(
        self,
        status: int,
        times: int = 1,
        *,
        headers: dict[str, str] | None = None,
        method: str = "",
        path: str = "",
        skip: int = 0,
    ) -> None:
        """Answer status (an errors envelope body) without asking the upstream."""
        self._arm(Fault("answer", times, method, path, status, headers or {}, skip=skip))

    def cut_request(
        self, after: int, times: int = 1, *, method: str = "", path: str = "", skip: int = 0
    ) -> None:
        """Pass after bytes of the request body upstream, then drop both connections."""
        self._arm(Fault("cut_request", times, method, path, after=after, skip=skip))

    def cut_response(
        self, after: int, times: int = 1, *, method: str = "", path: str = "", skip: int = 0
    ) -> None:
        """Pass after bytes of the response body back, then drop both connections."""
        self._arm(Fault("cut_response", times, method, path, after=after, skip=skip))

    def stall_response(
        self,
        after: int,
        seconds: float = 3600,
        times: int = 1,
        *,
        method: str = "",
        path: str = "",
        skip: int = 0,
    ) -> None:
        """Pass after bytes of the response body, then nothing for seconds, then the rest."""
        self._arm(Fault("stall", times, method, path, after=after, seconds=seconds, skip=skip))

    def slow_response(
        self,
        piece: int,
        interval: float,
        times: int = 1,
        *,
        method: str = "",
        path: str = "",
        skip: int = 0,
    ) -> None:
        """Pass the response body piece bytes at a time, interval seconds apart."""
        self._arm(Fault("slow", times, method, path, seconds=interval, piece=piece, skip=skip))

    def clear(self) -> None:
        self.faults.clear()

    def _arm(self, fault: Fault) -> None:
        self.faults.append(fault)

    def _take(self, method: str, target: str) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and fault.matches(method, target):
                if fault.skip:
                    fault.skip -= 1
                    return None
                fault.times -= 1
                return fault
        return None

    # --- serving -----------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # __aexit__ cancels a handler still stalling
        self._writers.add(writer)
        try:
            while await self._exchange(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass  # the proxy is closing (a stall may still have been sleeping)
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """One request and its answer; False when the client connection must close."""
        head = await _read_head(reader)
        if head is None:
            return False
        method, target, headers = _parse_request(head)
        fault = self._take(method, target)
        seen = Seen(method, target, None, 0, fault.action if fault else "")
        self.seen.append(seen)
        if fault is not None and fault.action == "answer":
            seen.body_bytes = await self._drain_body(reader, headers)
            seen.status = fault.status
            await _write_answer(writer, fault, with_body=method != "HEAD")
            return True
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self._writers.add(up_writer)
        try:
            return await self._forward(
                reader, writer, up_reader, up_writer, head, headers, fault, seen
            )
        finally:
            self._writers.discard(up_writer)
            up_writer.close()

    async def _forward(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
        head: bytes,
        headers: dict[str, str],
        fault: Fault | None,
        seen: Seen,
    ) -> bool:
        up_writer.write(_closing(head))
        cut_after = fault.after if fault and fault.action == "cut_request" else None
        complete = await self._relay_request_body(reader, up_writer, headers, cut_after, seen)
        if not complete:
            return False
        response_head = await _read_head(up_reader)
        if response_head is None:
            return False
        status, response_headers = _parse_response(response_head)
        seen.status = status
        writer.write(response_head)
        no_body = method_has_no_body(seen.method, status)
        gate = _Gate(fault if fault and fault.action != "cut_request" else None, writer)
        framed = await _relay_response_body(up_reader, gate, response_headers, no_body)
        await writer.drain()
        wants_close = headers.get("connection", "").lower() == "close"
        return framed and not gate.cut and not wants_close

    async def _relay_request_body(
        self,
        reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
        headers: dict[str, str],
        cut_after: int | None,
        seen: Seen,
    ) -> bool:
        """Pass the request body upstream; False when cut (both connections then drop)."""
        async for data in _body_pieces(reader, headers):
            if cut_after is not None and seen.body_bytes + len(data) > cut_after:
                data = data[: cut_after - seen.body_bytes]
                self._count(seen, data)
                up_writer.write(data)
                await up_writer.drain()
                return False
            self._count(seen, data)
            up_writer.write(data)
            await up_writer.drain()
        return True

    def _count(self, seen: Seen, data: bytes) -> None:
        seen.body_bytes += len(data)
        self.request_bytes += len(data)

    async def _drain_body(self, reader: asyncio.StreamReader, headers: dict[str, str]) -> int:
        total = 0
        async for data in _body_pieces(reader, headers):
            total += len(data)
            self.request_bytes += len(data)
        return total


class _Gate:
    """Passes a response body on, applying a cut, a stall or slowness to it."""

    def __init__(self, fault: Fault | None, writer: asyncio.StreamWriter) -> None:
        self.fault = fault
        self.writer = writer
        self.passed = 0
        self.cut = False

    async def send(self, data: bytes) -> bool:
        """Write data on; False when the fault cut the body here."""
        fault = self.fault
        if fault is None:
            return await self._write(data)
        if fault.action == "slow":
            for start in range(0, len(data), fault.piece):
                await self._write(data[start : start + fault.piece])
                await asyncio.sleep(fault.seconds)
            return True
        room = fault.after - self.passed
        if len(data) <= room:
            return await self._write(data)
        await self._write(data[:room])
        if fault.action == "cut_response":
            self.cut = True
            return False
        await asyncio.sleep(fault.seconds)  # stall, then the rest
        self.fault = None
        return await self._write(data[room:])

    async def _write(self, data: bytes) -> bool:
        self.writer.write(data)
        await self.writer.drain()
        self.passed += len(data)
        return True


def method_has_no_body(method: str, status: int) -> bool:
    return method == "HEAD" or status in (204, 304) or 100 <= status < 200


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise
        return None


def _header_map(lines: list[bytes]) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in lines:
        name, _, value = line.decode("latin-1").partition(":")
        found[name.strip().lower()] = value.strip()
    return found


def _parse_request(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.split(b"\r\n")
    method, target, _ = lines[0].decode("latin-1").split(" ", 2)
    return method, target, _header_map([line for line in lines[1:] if line])


def _parse_response(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    return status, _header_map([line for line in lines[1:] if line])


def _closing(head: bytes) -> bytes:
    """The request head with Connection: close (one upstream connection per request)."""
    lines = [
        line for line in head.split(b"\r\n") if line and not line.lower().startswith(b"connection:")
    ]
    return b"\r\n".join([*lines, b"Connection: close", b"", b""])


async def _body_pieces(
    reader: asyncio.StreamReader, headers: dict[str, str]
) -> AsyncIterator[bytes]:
    """The raw bytes of a request body (Content-Length or chunked framing kept)."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        async for data in _chunked_raw(reader):
            yield data
        return
    remaining = int(headers.get("content-length", "0") or 0)
    while remaining:
        data = await reader.read(min(PIECE, remaining))
        if not data:
            raise asyncio.IncompleteReadError(b"", remaining)
        remaining -= len(data)
        yield data


async def _chunked_raw(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """A chunked body as it comes, framing included, up to and with its last chunk."""
    while True:
        size_line = await reader.readuntil(b"\r\n")
        yield size_line
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            while True:  # trailers, then the empty line
                line = await reader.readuntil(b"\r\n")
                yield line
                if line == b"\r\n":
                    return
        remaining = size + 2  # the data and its CRLF
        while remaining:
            data = await reader.read(min(PIECE, remaining))
            if not data:
                raise asyncio.IncompleteReadError(b"", remaining)
            remaining -= len(data)
            yield data


async def _relay_response_body(
    reader: asyncio.StreamReader, gate: _Gate, headers: dict[str, str], no_body: bool
) -> bool:
    """Pass the upstream's body through the gate; False when the client connection cannot
    be reused (the body ran to the upstream's close, or the gate cut it)."""
    if no_body:
        return True
    if "chunked" in headers.get("transfer-encoding", "").lower() or "content-length" in headers:
        async for data in _body_pieces(reader, headers):
            if not await gate.send(data):
                return False
        return True
    while data := await reader.read(PIECE):
        if not await gate.send(data):
            return False
    return False


async def _write_answer(writer: asyncio.StreamWriter, fault: Fault, with_body: bool) -> None:
    code = "TOOMANYREQUESTS" if fault.status == 429 else "UNAVAILABLE"
    body = json.dumps({"errors": [{"code": code, "message": "injected by the fault proxy"}]})
    lines = [f"HTTP/1.1 {fault.status} Injected", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in fault.headers.items()]
    lines += [f"Content-Length: {len(body)}", "", body if with_body else ""]
    writer.write("\r\n".join(lines).encode())
    with contextlib.suppress(ConnectionError):
        await writer.drain()
