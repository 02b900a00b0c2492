"""Docker registry tokens: JWTs signed with an ECDSA P-256 key kept by `cryptography`."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from access.errors import AuthenticationFailed
from signer.sealing import derive_secret

ALGORITHM = "ES256"
# A refresh token (the token spec's OAuth2 form, access_type=offline) is good for 90 days,
# and until its account's secret changes or the account goes: see UserService.
REFRESH_TTL_SECONDS = 90 * 24 * 3600
_REFRESH = "refresh"


def load_or_create_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The signing key at path (PEM, mode 0600), created on first use. Safe to repeat."""
    if not path.exists():
        tmp = _written(path, _pem(ec.generate_private_key(ec.SECP256R1())))
        with contextlib.suppress(FileExistsError):  # first writer wins when replicas race
            os.link(tmp, path)
        tmp.unlink()
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} is not an EC private key")
    return loaded


# the order of P-256's base point: a private key is a number in [1, order)
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def derived_key(secret: bytes, path: Path) -> ec.EllipticCurvePrivateKey:
    """The signing key derived from a cluster's shared secret (settings.secret_key): every
    node given it signs and checks tokens with the same key, whatever its data folder. It
    is kept at path too (as load_or_create_key keeps its own), for what trusts that file."""
    seed = int.from_bytes(derive_secret(secret, "registry token signing key", 48), "big")
    key = ec.derive_private_key(seed % (_P256_ORDER - 1) + 1, ec.SECP256R1())
    pem = _pem(key)
    if not path.exists() or path.read_bytes() != pem:
        _written(path, pem).replace(path)
    return key


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _written(path: Path, pem: bytes) -> Path:
    """pem in a private file (mode 0600) beside path, to be linked or moved there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return tmp


def key_id(key: ec.EllipticCurvePrivateKey) -> str:
    """libtrust-style key id: base32 of the SHA-256 of the public key, in 12 groups of 4."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ":".join(b32[i : i + 4] for i in range(0, 48, 4))


@dataclass(frozen=True, slots=True)
class TokenClaims:
    subject: str  # "" for anonymous
    access: list[dict[str, Any]]

    def actions_for(self, repository: str) -> set[str]:
        granted: set[str] = set()
        for entry in self.access:
            if entry.get("type") == "repository" and entry.get("name") == repository:
                granted |= set(entry.get("actions", []))
        return granted

    def repositories_granting(self, action: str) -> set[str]:
        """The repositories on which the token grants action (or `*`)."""
        return {
            str(entry.get("name"))
            for entry in self.access
            if entry.get("type") == "repository" and {action, "*"} & set(entry.get("actions", []))
        }


class TokenService:
    """Issues and verifies the bearer tokens of the distribution API."""

    def __init__(
        self,
        key: ec.EllipticCurvePrivateKey,
        issuer: str,
        service: str,
        ttl_seconds: int,
        notary_service: str = "berth-notary",
    ) -> None:
        self._key = key
        self._public = key.public_key()
        self._kid = key_id(key)
        self.issuer = issuer
        self.service = service
        self.notary_service = notary_service  # Content Trust's service name (its audience)
        self.ttl = ttl_seconds

    def audience(self, requested: str | None) -> str:
        """The audience of a token asked for with a service name: the notary service's when
        that was asked, else the registry's."""
        return self.notary_service if requested == self.notary_service else self.service

    def issue(
        self, subject: str, access: list[dict[str, Any]], audience: str | None = None
    ) -> tuple[str, int, int]:
        """(token, expires_in, issued_at) for subject with access entries, for audience
        (the registry's service by default)."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience or self.service,
            "exp": now + self.ttl,
            "nbf": now - 1,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self._kid})
        return token, self.ttl, now

    def issue_refresh(self, subject: str, binding: str) -> str:
        """A signed refresh token for subject, bound to what its account holds now (binding).

        Its audience is not the registry's, so verify() refuses it as an access token."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self._refresh_audience,
            "exp": now + REFRESH_TTL_SECONDS,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "typ": _REFRESH,
            "bnd": binding,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self._kid})

    def verify_refresh(self, token: str) -> tuple[str, str]:
        """(subject, binding) of a refresh token this service signed; AuthenticationFailed
        for anything else, an access token included."""
        claims = self._decode(token, self._refresh_audience, "invalid refresh token")
        binding = claims.get("bnd")
        if claims.get("typ") != _REFRESH or not isinstance(binding, str) or not claims["sub"]:
            raise AuthenticationFailed("invalid refresh token")
        return str(claims["sub"]), binding

    @property
    def _refresh_audience(self) -> str:
        return f"{self.service}#{_REFRESH}"

    def verify(self, token: str, also: str | None = None) -> TokenClaims:
        """Claims of a token this service signed for the registry (or for the audience also,
        where the caller takes that too); AuthenticationFailed for anything else."""
        audiences = [self.service] if also is None else [self.service, also]
        claims = self._decode(token, audiences, "invalid token")
        access = claims.get("access")
        if claims.get("typ") == _REFRESH or not isinstance(access, list):
            raise AuthenticationFailed("invalid token: no access claim")
        return TokenClaims(str(claims["sub"]), access)

    def _decode(self, token: str, audience: str | list[str], invalid: str) -> dict[str, Any]:
        """The claims of a token signed by this service for audience (ES256 only, our issuer,
        unexpired); AuthenticationFailed naming why not."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise AuthenticationFailed(f"{invalid}: {exc}") from None
        return claims
