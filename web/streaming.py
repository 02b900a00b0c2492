"""Request bodies with back-pressure, and answers that do not wait for the body.

Quart's receiver task appends every ASGI body message to the request's buffer as fast as
the socket delivers, whatever the handler has consumed: a 10 GiB layer arriving faster than
the disk takes it would pile up in memory. Here the receiver waits while more than
BUFFER_LIMIT bytes are unread, so hypercorn stops reading the socket and TCP slows the client.

That gate must open once the answer is complete. Hypercorn hands body messages to the app
through a queue of ten; when the answer ends it puts `http.disconnect` on that queue from
inside the app's last `send`, and only then closes the connection. With the receiver gated
on a body nobody will read (a manifest refused with 413 before its bytes arrived), the queue
stays full, that put never returns, and the connection's tasks wait until the server stops.
So the last `send` first turns the body into a sink: the receiver drops what is still
queued, hypercorn marks the stream closed (it reads no more for it) and hangs up, because
the request never ended. The answer says `Connection: close` whenever the body had not all
arrived when it started (RFC 9112 section 9.6): the client must not reuse the connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Callable, Iterable

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, ASGISendEvent
from quart import Request
from quart.asgi import ASGIHTTPConnection
from quart.wrappers.request import Body

BUFFER_LIMIT = 1024 * 1024


class BoundedBody(Body):
    def __init__(self, expected_content_length: int | None, max_content_length: int | None) -> None:
        super().__init__(expected_content_length, max_content_length)
        self._room = asyncio.Event()
        self._room.set()
        self._discarding = False

    def append(self, data: bytes) -> None:
        if self._discarding:
            return  # the answer is sent: nobody reads the rest
        super().append(data)
        if len(self._data) >= BUFFER_LIMIT:
            self._room.clear()

    async def __anext__(self) -> bytes:
        try:
            return await super().__anext__()
        finally:
            self._room.set()

    async def wait_for_room(self) -> None:
        await self._room.wait()

    @property
    def complete(self) -> bool:
        """Whether the last of the body has arrived (not whether anybody read it)."""
        return self._complete.is_set()

    def discard(self) -> None:
        """From now on drop the body as it arrives, without waiting for a reader."""
        self._discarding = True
        self._data.clear()
        self._room.set()


class BoundedRequest(Request):
    body_class = BoundedBody


class BoundedConnection(ASGIHTTPConnection):
    async def handle_messages(self, request: Request, receive: ASGIReceiveCallable) -> None:
        body = request.body
        while True:
            if isinstance(body, BoundedBody):
                await body.wait_for_room()
            message = await receive()
            if message["type"] == "http.request":
                body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    body.set_complete()
            elif message["type"] == "http.disconnect":
                return

    async def handle_request(self, request: Request, send: ASGISendCallable) -> None:
        body = request.body
        has_body = _has_body(request)
        if not has_body or not isinstance(body, BoundedBody):
            await super().handle_request(request, send)  # nothing to gate: no body
            return

        async def answer(message: ASGISendEvent) -> None:
            if message["type"] == "http.response.start" and not body.complete:
                message["headers"] = _closing(message["headers"])
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                body.discard()  # before the send: hypercorn's disconnect needs the room
            await send(message)

        await super().handle_request(request, answer)


def _has_body(request: Request) -> bool:
    length = request.headers.get("Content-Length", "")
    return bool(request.headers.get("Transfer-Encoding")) or length not in ("", "0")


def _closing(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    kept = [(name, value) for name, value in headers if name.lower() != b"connection"]
    return [*kept, (b"connection", b"close")]


async def read_bounded(
    declared: int | None, body: AsyncIterable[bytes], limit: int, too_large: Callable[[], Exception]
) -> bytes:
    """A whole request body of at most limit bytes (a manifest, a webhook delivery): refused
    by its Content-Length before anything is read, or as soon as it grows past limit."""
    if declared is not None and declared > limit:
        raise too_large()
    chunks: list[bytes] = []
    total = 0
    async for data in body:
        total += len(data)
        if total > limit:
            raise too_large()
        chunks.append(data)
    return b"".join(chunks)
