"""Request bodies with back-pressure.

Quart's receiver task appends every ASGI body message to the request's buffer as fast as
the socket delivers, whatever the handler has consumed: a 10 GiB layer arriving faster than
the disk takes it would pile up in memory. Here the receiver waits while more than
BUFFER_LIMIT bytes are unread, so hypercorn stops reading the socket and TCP slows the client.
"""

from __future__ import annotations

import asyncio

from hypercorn.typing import ASGIReceiveCallable
from quart import Request
from quart.asgi import ASGIHTTPConnection
from quart.wrappers.request import Body

BUFFER_LIMIT = 4 * 1024 * 1024


class BoundedBody(Body):
    def __init__(self, expected_content_length: int | None, max_content_length: int | None) -> None:
        super().__init__(expected_content_length, max_content_length)
        self._room = asyncio.Event()
        self._room.set()

    def append(self, data: bytes) -> None:
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
