"""Content digests: parsing, validation and incremental hashing (sha256, sha512)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Protocol

from core.errors import DigestInvalid

_HEX = {"sha256": 64, "sha512": 128}
_DIGEST_RE = re.compile(r"^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$")


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    def hasher(self) -> Hasher:
        return hashlib.new(self.algorithm)


def is_digest(text: str) -> bool:
    return ":" in text and _DIGEST_RE.match(text) is not None


def parse_digest(text: str) -> Digest:
    """Parse 'alg:hex'; raises DigestInvalid for bad syntax or an unsupported algorithm."""
    match = _DIGEST_RE.match(text)
    if not match:
        raise DigestInvalid("digest is not of the form algorithm:hex", text)
    algorithm, hexpart = match.groups()
    if algorithm not in _HEX:
        raise DigestInvalid(f"unsupported digest algorithm {algorithm!r}", text)
    if len(hexpart) != _HEX[algorithm] or not re.fullmatch(r"[a-f0-9]+", hexpart):
        raise DigestInvalid(f"{algorithm} digest must be {_HEX[algorithm]} lowercase hex", text)
    return Digest(algorithm, hexpart)


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"
