"""TUF metadata a Notary client would upload, made here with `cryptography`: a root whose
keys are certificates for the GUN, targets and delegations signed by the keys a parent
names, and the multipart body of an update. What the real `notary` CLI makes is checked
in tests/notary; this maker lets a test break one rule at a time."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from signer import tuf


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class Key:
    """A signing key and its TUF public form (ecdsa, or ecdsa-x509 with a certificate)."""

    private: ec.EllipticCurvePrivateKey
    public: tuf.PublicKey

    @property
    def id(self) -> str:
        return self.public.id

    def signature(self, signed: dict[str, Any]) -> dict[str, str]:
        der = self.private.sign(tuf.canonical(signed), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return {"keyid": self.id, "method": "ecdsa", "sig": b64(raw)}


def plain_key() -> Key:
    private = ec.generate_private_key(ec.SECP256R1())
    return Key(private, tuf.ecdsa_public_key(private))


def certificate_key(common_name: str, days: int = 3650) -> Key:
    """A key whose public form is a self-signed certificate for common_name (a root key)."""
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .sign(private, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    return Key(private, tuf.PublicKey("ecdsa-x509", pem))


def expires(days: float = 365) -> str:
    return tuf.go_time(datetime.now(UTC) + timedelta(days=days))


def envelope(signed: dict[str, Any], *signers: Key) -> bytes:
    body = {"signed": signed, "signatures": [k.signature(signed) for k in signers]}
    return json.dumps(body).encode()


def role_entry(*keys: Key, threshold: int = 1) -> dict[str, Any]:
    return {"keyids": [k.id for k in keys], "threshold": threshold}


@dataclass
class Repo:
    """The owner's side of one GUN: its root, targets and the server's keys it names."""

    gun: str
    root_key: Key = field(init=False)
    targets_key: Key = field(default_factory=plain_key)
    timestamp: tuf.PublicKey | None = None  # the server's, from GET timestamp.key
    snapshot: tuf.PublicKey | None = None
    root_version: int = 0
    targets_version: int = 0
    tags: dict[str, bytes] = field(default_factory=dict)
    delegated: dict[str, Key] = field(default_factory=dict)  # targets/<name> -> its key

    def __post_init__(self) -> None:
        self.root_key = certificate_key(self.gun)

    def root(self, *signers: Key, threshold: int = 1, days: float = 3650) -> bytes:
        """The next version of root, signed by signers (the root key by default)."""
        assert self.timestamp is not None and self.snapshot is not None
        self.root_version += 1
        keys = {
            k.id: k.as_json() if isinstance(k, tuf.PublicKey) else k.public.as_json()
            for k in (self.root_key, self.targets_key, self.timestamp, self.snapshot)
        }
        signed = {
            "_type": "Root",
            "consistent_snapshot": False,
            "expires": expires(days),
            "keys": keys,
            "roles": {
                "root": {"keyids": [self.root_key.id], "threshold": threshold},
                "targets": role_entry(self.targets_key),
                "timestamp": {"keyids": [self.timestamp.id], "threshold": 1},
                "snapshot": {"keyids": [self.snapshot.id], "threshold": 1},
            },
            "version": self.root_version,
        }
        return envelope(signed, *(signers or (self.root_key,)))

    def targets(self, *signers: Key, version: int | None = None, days: float = 365) -> bytes:
        if version is None:
            self.targets_version += 1
            version = self.targets_version
        delegations = {
            "keys": {k.id: k.public.as_json() for k in self.delegated.values()},
            "roles": [
                {"name": name, "keyids": [k.id], "threshold": 1, "paths": [""]}
                for name, k in sorted(self.delegated.items())
            ],
        }
        signed = {
            "_type": "Targets",
            "delegations": delegations,
            "expires": expires(days),
            "targets": entries_of(self.tags),
            "version": version,
        }
        return envelope(signed, *(signers or (self.targets_key,)))

    def delegation(self, name: str, tags: dict[str, bytes], version: int = 1) -> bytes:
        """A delegation's targets, signed by its key."""
        signed = {
            "_type": "Targets",
            "delegations": {"keys": {}, "roles": []},
            "expires": expires(),
            "targets": entries_of(tags),
            "version": version,
        }
        return envelope(signed, self.delegated[name])


def entries_of(tags: dict[str, bytes]) -> dict[str, Any]:
    return {
        tag: {"hashes": {"sha256": b64(hashlib.sha256(data).digest())}, "length": len(data)}
        for tag, data in tags.items()
    }


def multipart(parts: dict[str, bytes]) -> tuple[bytes, str]:
    """A multipart/form-data body as the notary client sends an update: one file per role."""
    boundary = "berthtrustboundary"
    chunks = []
    for role, data in parts.items():
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{role}"'
            "\r\nContent-Type: application/octet-stream\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    body = b"".join(chunks) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"
