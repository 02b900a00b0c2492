"""Secrets at rest: what Berth must keep but never store in clear (a remote registry's
password, a webhook trigger's secret, a signing key's private half) is *sealed* with a
key-encryption key from the settings.

    sealer = Sealer([current_key, *retired_keys])
    stored = sealer.seal("s3cret")      # "berth-sealed:v1:<Fernet token>"
    sealer.unseal(stored)               # "s3cret"; SealBroken if no key opens it

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) under keys derived with HKDF from
each configured key, so a key may be any long random string. Sealing uses the first key;
unsealing tries each, so rotating means putting the new key first and keeping the old ones
retired until `reseal` has rewritten every stored value.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "berth-sealed:v1:"
MIN_KEY_LENGTH = 16


class SealBroken(ValueError):
    """A sealed value that no configured key opens (a lost or removed key), or not sealed."""


def _fernet(key: bytes) -> Fernet:
    derived = HKDF(hashes.SHA256(), 32, salt=b"berth-sealing", info=b"secrets at rest").derive(key)
    return Fernet(base64.urlsafe_b64encode(derived))


def derive_secret(key: bytes, purpose: str, size: int = 32) -> bytes:
    """A secret for purpose derived from key (HKDF): every node given the same key derives
    the same one, and no purpose's secret tells anything of another's or of the key."""
    return HKDF(hashes.SHA256(), size, salt=b"berth-derived", info=purpose.encode()).derive(key)


class Sealer:
    """Seals with keys[0]; opens with any of keys."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("a Sealer needs at least one key")
        for key in keys:
            if len(key) < MIN_KEY_LENGTH:
                raise ValueError(f"a sealing key needs at least {MIN_KEY_LENGTH} bytes")
        self._fernet = MultiFernet([_fernet(key) for key in keys])

    def seal(self, secret: str) -> str:
        return PREFIX + self._fernet.encrypt(secret.encode()).decode()

    def unseal(self, sealed: str) -> str:
        if not sealed.startswith(PREFIX):
            raise SealBroken("not a sealed value")
        try:
            return self._fernet.decrypt(sealed[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise SealBroken("no configured secret key opens this value") from None

    def reseal(self, sealed: str) -> str:
        """The same secret sealed with the current key (for key rotation)."""
        if not sealed.startswith(PREFIX):
            raise SealBroken("not a sealed value")
        try:
            return PREFIX + self._fernet.rotate(sealed[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise SealBroken("no configured secret key opens this value") from None


def load_or_create_secret(path: Path, size: int = 32) -> bytes:
    """The random secret at path (mode 0600), made on first use; safe when replicas race
    (the first writer wins)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(size))
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
        tmp.unlink()
    return path.read_bytes()
