"""Writing one blob to another registry, streamed from a BlobSource and never held whole.

Monolithic: POST, then PUT ?digest= with the whole body; a failure starts again from scratch.
Chunked: POST, a PATCH per chunk (Content-Range, Content-Length), then PUT ?digest=. After
any failure — a cut connection, a stall, a 5xx — the upload's URL is asked where it stands
(GET; its Range header) and the copy goes on from there with the source reopened at that
offset, so a drop costs at most the chunk in flight. An upload the remote lost (404, or its
state no longer matching, as Distribution says after a cut chunk) is started anew — unless
the blob arrived meanwhile (the last PUT landed and only its answer was lost).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx

from core.remote_errors import RemoteError, RemoteStopped, RemoteUnavailable, release
from core.remote_http import Transport
from core.remote_pace import Throttle

CHUNK_THRESHOLD = 64 * 1024 * 1024  # blobs this large go in chunks even when not asked
DEFAULT_CHUNK = (
    64 * 1024 * 1024
)  # when not asked: Distribution takes a few big chunks faster than many
ONE_POST_LIMIT = 64 * 1024  # blobs this small try the one-request upload (POST ?digest=)
PIECE = 64 * 1024  # the largest write handed to the socket: the speed cap's granularity
UPLOAD_LOST_CODES = frozenset({"BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID"})
_RANGE = re.compile(r"^(?:bytes[ =])?0-(\d+)$")

BlobSource = Callable[[int], AsyncIterator[bytes]]  # source(offset): the bytes from offset on


@dataclass(slots=True)
class _Upload:
    location: httpx.URL
    offset: int = 0
    stale: bool = False  # a request failed: ask the server where the upload stands
    lost: bool = False  # the server no longer knows it: start a new one
    min_chunk: int = 0  # OCI-Chunk-Min-Length: the smallest chunk the server takes


class BlobWriter:
    """One write_blob call: its upload session, the bytes it sent (resumes included), its
    speed cap and its stop check."""

    def __init__(
        self,
        transport: Transport,
        repository: str,
        digest: str,
        size: int,
        source: BlobSource,
        speed: int = 0,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.transport = transport
        self.repository = repository
        self.digest = digest
        self.size = size
        self.source = source
        self.throttle = Throttle(speed)
        self.should_stop = should_stop
        self.scope = f"repository:{repository}:pull,push"
        self.sent = 0

    async def monolithic(self) -> int:
        """POST, PUT with the whole body; from scratch after a failure. The bytes sent. A
        small blob goes in one POST ?digest= where the registry takes that (Berth does;
        Distribution answers 202 and the upload goes on as usual)."""
        failures = 0
        while True:
            self._check_stop()
            try:
                if self.size <= ONE_POST_LIMIT and self.transport.one_post is not False:
                    upload = await self._post_whole()
                    if upload is None:
                        return self.sent
                else:
                    upload = await self._start()
                await self._finish(upload, with_body=True)
                return self.sent
            except RemoteError as exc:
                await self._after_failure(exc, failures)
                failures += 1
                if await self._landed():
                    return self.sent

    async def chunked(self, chunk_size: int) -> int:
        """POST, PATCH per chunk, PUT; resumes from the server's offset. The bytes sent."""
        upload: _Upload | None = None
        failures = 0
        while True:
            self._check_stop()
            try:
                if upload is None or upload.lost:
                    if upload is not None and await self._landed():
                        return self.sent
                    upload = await self._start()
                elif upload.stale:
                    await self._recover(upload)
                    continue
                if upload.offset >= self.size:
                    await self._finish(upload, with_body=False)
                    return self.sent
                await self._patch(upload, max(chunk_size, upload.min_chunk))
                failures = 0  # progress: a later drop gets its own retries
            except RemoteError as exc:
                await self._after_failure(exc, failures)
                failures += 1
                if upload is not None:
                    upload.stale = True
                    upload.lost = upload.lost or _upload_lost(exc)

    def _check_stop(self) -> None:
        if self.should_stop is not None and self.should_stop():
            raise RemoteStopped(f"stopped while writing {self.digest} to {self.repository}")

    async def _after_failure(self, exc: RemoteError, failures: int) -> None:
        """Re-raise what retrying cannot mend or what has been retried enough; else wait."""
        if not (isinstance(exc, RemoteUnavailable) or _upload_lost(exc)):
            raise exc
        if failures >= self.transport.retries:
            raise exc
        await self.transport.pause(failures, exc)

    async def _start(self) -> _Upload:
        url = self.transport.url(f"/v2/{self.repository}/blobs/uploads/")
        response = await self.transport.send("POST", url, scope=self.scope, body=lambda: b"")
        if response.status_code != 202:
            raise await self.transport.fail(response)
        await release(response)
        minimum = response.headers.get("oci-chunk-min-length", "")
        return _Upload(_location(response), min_chunk=int(minimum) if minimum.isdigit() else 0)

    async def _post_whole(self) -> _Upload | None:
        """POST ?digest= with the blob: None when the registry took it (201), else the
        upload it opened instead (202), and the client sends no more whole POSTs to it."""
        url = self.transport.url(f"/v2/{self.repository}/blobs/uploads/")
        response = await self.transport.send(
            "POST",
            url,
            scope=self.scope,
            params={"digest": self.digest},
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(self.size)},
            body=lambda: self._body(0, self.size),
            retry=False,
        )
        if response.status_code == 201:
            await release(response)
            self.transport.one_post = True
            return None
        if response.status_code != 202:
            raise await self.transport.fail(response)
        await release(response)
        self.transport.one_post = False
        minimum = response.headers.get("oci-chunk-min-length", "")
        return _Upload(_location(response), min_chunk=int(minimum) if minimum.isdigit() else 0)

    async def _recover(self, upload: _Upload) -> None:
        """Ask the server where the upload stands (GET its URL; the Range header)."""
        response = await self.transport.send("GET", upload.location, scope=self.scope)
        if response.status_code not in (200, 204):
            error = await self.transport.fail(response)
            if not _upload_lost(error):
                raise error
            upload.lost = True
            return
        await release(response)
        offset = _range_offset(response.headers.get("range", ""))
        if offset is None:
            upload.lost = True  # a server that will not say: only a fresh start is safe
            return
        upload.location = _location(response, upload.location)
        upload.offset, upload.stale = offset, False
        self.transport.log(f"upload of {self.digest} resumes at byte {offset} of {self.size}")

    async def _patch(self, upload: _Upload, chunk_size: int) -> None:
        start = upload.offset
        end = min(start + chunk_size, self.size)
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{start}-{end - 1}",
            "Content-Length": str(end - start),
        }
        response = await self.transport.send(
            "PATCH",
            upload.location,
            scope=self.scope,
            headers=headers,
            body=lambda: self._body(start, end - start),
            retry=False,
        )
        if response.status_code != 202:
            raise await self.transport.fail(response)
        await release(response)
        # A 202 means the server read the whole declared chunk.
        upload.location, upload.offset = _location(response, upload.location), end

    async def _finish(self, upload: _Upload, with_body: bool) -> None:
        """PUT ?digest=: with the rest of the blob (monolithic), or empty (chunked)."""
        length = self.size - upload.offset if with_body else 0
        start = upload.offset
        response = await self.transport.send(
            "PUT",
            upload.location.copy_merge_params({"digest": self.digest}),
            scope=self.scope,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(length)},
            body=lambda: self._body(start, length) if length else b"",
            retry=False,
        )
        if response.status_code not in (201, 204):
            raise await self.transport.fail(response)
        await release(response)

    async def _landed(self) -> bool:
        """Whether the blob is at the remote already (a PUT landed; its answer was lost)."""
        url = self.transport.url(f"/v2/{self.repository}/blobs/{self.digest}")
        response = await self.transport.send("HEAD", url, scope=self.scope, follow=True)
        await release(response)
        length = response.headers.get("content-length", "")
        return response.status_code == 200 and length == str(self.size)

    async def _body(self, offset: int, length: int) -> AsyncIterator[bytes]:
        """length bytes of the source from offset, in pieces of at most PIECE, counted and
        paced as they are handed to the socket."""
        remaining = length
        source = self.source(offset)
        try:
            async for data in source:
                view = memoryview(data)
                while view and remaining:
                    piece = bytes(view[: min(PIECE, remaining)])
                    view = view[len(piece) :]
                    await self.throttle.take(len(piece))
                    self.sent += len(piece)
                    remaining -= len(piece)
                    yield piece
                if not remaining:
                    break
        finally:
            closer = getattr(source, "aclose", None)
            if closer is not None:
                await closer()
        if remaining:
            raise ValueError(f"the source of {self.digest} ended {remaining} bytes early")


def _upload_lost(exc: RemoteError) -> bool:
    """An answer saying the upload session is gone or out of step with what we sent."""
    return exc.status in (404, 416) or exc.code in UPLOAD_LOST_CODES


def _location(response: httpx.Response, current: httpx.URL | None = None) -> httpx.URL:
    """The upload URL an answer names (relative ones resolved against the request)."""
    location = response.headers.get("location", "")
    if not location:
        if current is not None:
            return current
        raise RemoteError(f"{response.status_code} from {response.request.url} without Location")
    return response.request.url.join(location)


def _range_offset(header: str) -> int | None:
    """The offset after a Range of "0-<last>" (so "0-0" is read as nothing received: the
    header cannot tell 0 bytes from 1, and a wrong guess costs a 416 and a fresh upload)."""
    found = _RANGE.match(header.strip())
    if found is None:
        return None
    last = int(found.group(1))
    return last + 1 if last else 0
