"""The storage-driver Protocol that every blob backend implements."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol


class StorageKeyMissing(Exception):
    """The key names nothing in this storage."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class StorageUnavailable(Exception):
    """The store cannot be used now: down, refusing the credentials, no such bucket. The
    message says which and names the setting to check; callers answer 503."""


class Appender(Protocol):
    """An open, append-only handle on one key (an upload in progress)."""

    @property
    def size(self) -> int:
        """Bytes in the key, including those appended through this handle."""
        ...

    async def write(self, data: bytes) -> None:
        """Append data. Not safe to repeat: a retry appends twice."""
        ...

    async def flush(self) -> None:
        """Make everything written so far durable (fsync). Safe to repeat."""
        ...

    async def close(self) -> None:
        """Release the handle. Safe to repeat."""
        ...


class StorageDriver(Protocol):
    """Byte storage addressed by '/'-separated keys. Keys come from storage.keys only. Any
    method may raise StorageUnavailable when the backend cannot be reached or used."""

    async def stat(self, key: str) -> int:
        """Size in bytes. Raises StorageKeyMissing. Safe to repeat."""
        ...

    def read(self, key: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Stream [offset, offset+length) in pieces. Raises StorageKeyMissing. Safe to repeat."""
        ...

    async def read_all(self, key: str) -> bytes:
        """The whole value; only for small keys. Raises StorageKeyMissing. Safe to repeat."""
        ...

    async def write_all(self, key: str, data: bytes) -> None:
        """Write a whole value atomically and durably (readers see old or new). Safe to repeat."""
        ...

    async def appender(self, key: str, create: bool) -> Appender:
        """Open key for appending; create=True starts it empty. Raises StorageKeyMissing."""
        ...

    async def truncate(self, key: str, size: int) -> None:
        """Cut key back to size bytes (drops a half-written chunk). Safe to repeat."""
        ...

    async def place(self, src: str, dst: str) -> bool:
        """Durably make dst hold src's bytes atomically (readers see nothing or all of it);
        src stays until deleted. When dst exists already it is kept as it is (content-
        addressed keys hold the same bytes). True when this call created dst. Raises
        StorageKeyMissing when src is missing. Safe to repeat.
        """
        ...

    async def delete(self, key: str) -> None:
        """Remove key (a missing key is not an error). Safe to repeat."""
        ...

    async def delete_many(self, keys: Sequence[str]) -> None:
        """Remove every key (missing ones are not errors), off the event loop, in as few
        requests as the backend allows. Safe to repeat."""
        ...

    def list(self, prefix: str) -> AsyncIterator[tuple[str, int, float]]:
        """Every key under prefix, as (key, size, modified time in epoch seconds)."""
        ...

    async def redirect_url(self, key: str, expires: int) -> str | None:
        """A URL that serves key's bytes to anyone for expires seconds, or None when this
        backend cannot make one (clients then read through Berth). Safe to repeat."""
        ...

    async def close(self) -> None:
        """Release connections (the driver opens them again if used). Safe to repeat."""
        ...
