"""Filesystem storage driver: keys are paths under one root folder."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from storage.base import StorageKeyMissing

READ_PIECE = 1024 * 1024


class FilesystemAppender:
    """Append handle on a file; fsync runs on a thread so the event loop keeps serving."""

    def __init__(self, fd: int, size: int) -> None:
        self._fd = fd
        self._size = size

    @property
    def size(self) -> int:
        return self._size

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._size += len(data)

    async def flush(self) -> None:
        if self._fd >= 0:
            await asyncio.to_thread(os.fdatasync, self._fd)

    async def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class FilesystemDriver:
    """Durable writes: temp file + fsync + rename, then fsync of the folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"invalid storage key {key!r}")
        return self.root.joinpath(*parts)

    async def stat(self, key: str) -> int:
        try:
            return os.stat(self._path(key)).st_size
        except FileNotFoundError:
            raise StorageKeyMissing(key) from None

    async def read(
        self, key: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        try:
            fd = os.open(self._path(key), os.O_RDONLY)
        except FileNotFoundError:
            raise StorageKeyMissing(key) from None
        try:
            remaining = os.fstat(fd).st_size - offset if length is None else length
            while remaining > 0:
                piece = os.pread(fd, min(READ_PIECE, remaining), offset)
                if not piece:
                    break
                offset += len(piece)
                remaining -= len(piece)
                yield piece
        finally:
            os.close(fd)

    async def read_all(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise StorageKeyMissing(key) from None

    async def write_all(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
            await asyncio.to_thread(os.fdatasync, fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        await self._sync_dir(path.parent)

    async def appender(self, key: str, create: bool) -> FilesystemAppender:
        path = self._path(key)
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        else:
            flags = os.O_WRONLY
        try:
            fd = os.open(path, flags | os.O_APPEND, 0o644)
        except FileNotFoundError:
            raise StorageKeyMissing(key) from None
        return FilesystemAppender(fd, os.fstat(fd).st_size)

    async def truncate(self, key: str, size: int) -> None:
        try:
            os.truncate(self._path(key), size)
        except FileNotFoundError:
            raise StorageKeyMissing(key) from None

    async def place(self, src: str, dst: str) -> bool:
        source, target = self._path(src), self._path(dst)
        if target.exists():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)  # a second name for the same inode: atomic, no copy
        except FileExistsError:
            return False
        except FileNotFoundError:
            raise StorageKeyMissing(src) from None
        await self._sync_dir(target.parent)
        return True

    async def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    async def delete_many(self, keys: Sequence[str]) -> None:
        paths = [self._path(key) for key in keys]
        await asyncio.to_thread(_unlink_all, paths)  # unlink releases the GIL; the loop serves

    async def list(self, prefix: str) -> AsyncIterator[tuple[str, int, float]]:
        base = self._path(prefix)
        for folder, _dirs, files in os.walk(base):
            for name in files:
                full = Path(folder) / name
                try:
                    st = full.stat()
                except FileNotFoundError:
                    continue
                yield full.relative_to(self.root).as_posix(), st.st_size, st.st_mtime

    async def redirect_url(self, key: str, expires: int) -> str | None:
        return None  # files are served through Berth

    async def close(self) -> None:
        return None

    @staticmethod
    async def _sync_dir(folder: Path) -> None:
        fd = os.open(folder, os.O_RDONLY)
        try:
            await asyncio.to_thread(os.fsync, fd)
        finally:
            os.close(fd)


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
