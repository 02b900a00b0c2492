"""The big random blob, made once per run, and cheap variants of it.

Every push must carry a blob the registry has not seen, or a registry that
short-cuts known digests would be measured doing nothing. Rewriting only the
last 32 bytes gives a new blob per push, and its digest costs no rehash: the
SHA-256 state after the first size-32 bytes is kept and copied.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

PIECE = 1 << 20
TAIL = 32


class BigBlob:
    """A file of `size` random bytes whose last 32 bytes change per variant."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size
        self._head_hash = hashlib.sha256()
        self.digest = ""

    def create(self) -> None:
        """Write size-32 random bytes, hashing them as they go (the only full hash)."""
        head = self.size - TAIL
        with self.path.open("wb") as out:
            written = 0
            while written < head:
                piece = os.urandom(min(PIECE, head - written))
                self._head_hash.update(piece)
                out.write(piece)
                written += len(piece)
        self.new_variant()

    def new_variant(self) -> str:
        """Give the file a fresh random tail; return and remember its digest."""
        tail = os.urandom(TAIL)
        with self.path.open("r+b") as out:
            out.seek(self.size - TAIL)
            out.write(tail)
        digest = self._head_hash.copy()
        digest.update(tail)
        self.digest = "sha256:" + digest.hexdigest()
        return self.digest

    def pieces(self, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        """Yield the file's bytes from offset in 1 MiB pieces (an httpx body)."""
        remaining = self.size - offset if length is None else length
        with self.path.open("rb", buffering=0) as src:
            src.seek(offset)
            while remaining > 0:
                piece = src.read(min(PIECE, remaining))
                if not piece:
                    raise OSError(f"{self.path} ended {remaining} bytes early")
                remaining -= len(piece)
                yield piece

    def read(self, offset: int, length: int) -> bytes:
        with self.path.open("rb") as src:
            src.seek(offset)
            return src.read(length)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
