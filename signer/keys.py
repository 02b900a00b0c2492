"""Keys: a project's ECDSA P-256 signing key, and the public keys and roots it trusts.

Private halves leave this module only as PKCS#8 PEM text for the caller to seal
(signer/sealing.py); nothing here stores anything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from signer.verdicts import COSIGN_KEY, NOTATION_ROOT, SIGNING


class KeyInvalid(ValueError):
    """Text that is not a usable public key or certificate; the message says why."""


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """A key a project trusts: its signing keys (active and retired) and uploaded cosign
    keys carry public_key; a notation root carries certificate (and its public key)."""

    key_id: str
    kind: str
    public_key: PublicKeyTypes
    certificate: x509.Certificate | None = None


def generate() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def private_pem(key: ec.EllipticCurvePrivateKey) -> str:
    """PKCS#8 PEM, unencrypted: for sealing, never for storing as it is."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def load_private(pem: str) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyInvalid("a signing key must be an ECDSA key")
    return key


def public_pem(key: PublicKeyTypes) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def key_id(key: PublicKeyTypes) -> str:
    """sha256:<hex> of the key's SubjectPublicKeyInfo DER."""
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = key.public_bytes(serialization.Encoding.DER, spki)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def certificate_id(cert: x509.Certificate) -> str:
    """sha256:<hex> of the certificate's DER (its fingerprint)."""
    return "sha256:" + cert.fingerprint(hashes.SHA256()).hex()


def sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """An ECDSA-SHA256 signature of data, DER-encoded (as cosign writes them)."""
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def load_public(text: str) -> PublicKeyTypes:
    """A PEM public key (SubjectPublicKeyInfo) of ECDSA, RSA or Ed25519. Raises KeyInvalid."""
    try:
        key = serialization.load_pem_public_key(text.strip().encode())
    except (ValueError, TypeError) as exc:
        raise KeyInvalid(f"not a PEM public key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise KeyInvalid("only ECDSA, RSA and Ed25519 public keys are supported")
    return key


def load_certificate(text: str) -> x509.Certificate:
    """One PEM X.509 certificate. Raises KeyInvalid."""
    try:
        return x509.load_pem_x509_certificate(text.strip().encode())
    except ValueError as exc:
        raise KeyInvalid(f"not a PEM certificate: {exc}") from None


def trusted(kind: str, pem: str) -> TrustedKey:
    """The TrustedKey of a stored key row's kind and PEM."""
    if kind == NOTATION_ROOT:
        cert = load_certificate(pem)
        return TrustedKey(certificate_id(cert), kind, cert.public_key(), cert)
    if kind not in (SIGNING, COSIGN_KEY):
        raise KeyInvalid(f"unknown key kind {kind!r}")
    key = load_public(pem)
    return TrustedKey(key_id(key), kind, key)


def verify_with(key: PublicKeyTypes, signature: bytes, data: bytes) -> bool:
    """Whether signature (DER ECDSA-SHA256, RSA PKCS#1 v1.5 / PSS SHA-256, or Ed25519) over
    data verifies with key. Never raises for a bad signature."""
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        elif isinstance(key, rsa.RSAPublicKey):
            return _verify_rsa(key, signature, data)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def _verify_rsa(key: rsa.RSAPublicKey, signature: bytes, data: bytes) -> bool:
    schemes: Sequence[padding.AsymmetricPadding] = (
        padding.PKCS1v15(),
        padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO),
    )
    for scheme in schemes:
        try:
            key.verify(signature, data, scheme, hashes.SHA256())
            return True
        except (InvalidSignature, ValueError):
            continue
    return False
