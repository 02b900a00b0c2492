"""Throwaway certificates for the Notary tests, made with `cryptography`: a CA for the TLS of
notary-server and notary-signer (and the mutual TLS between them), a self-signed certificate
for Berth's token signing key (the reference server's `rootcertbundle`), and delegation
certificates for `notary delegation add`."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: str, issuer: str, public: ec.EllipticCurvePublicKey, days: int = 30
) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
    )


def write_pem(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    """An unencrypted EC private key (SEC1 PEM, which notary and Go's TLS both read)."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    path.chmod(0o600)
    return path


@dataclass
class Leaf:
    cert: Path
    key: Path


class LoopbackCA:
    """A CA kept in a folder (ca.crt), issuing loopback certificates fit for both ends of TLS."""

    def __init__(self, folder: Path, name: str = "Berth notary tests CA") -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = name
        ca = (
            _builder(name, name, self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )
        self.cert = write_pem(folder / "ca.crt", ca)

    def issue(self, name: str) -> Leaf:
        """A certificate for 127.0.0.1 and localhost, for serving and for client auth."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            _builder(name, self._name, key.public_key())
            .add_extension(x509.SubjectAlternativeName(LOOPBACK), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        return Leaf(
            write_pem(self.folder / f"{name}.crt", cert),
            write_key(self.folder / f"{name}.key", key),
        )


def self_signed(key: ec.EllipticCurvePrivateKey, name: str, path: Path, days: int = 30) -> Path:
    """A self-signed certificate for an existing key (Berth's token key, a delegation key)."""
    cert = _builder(name, name, key.public_key(), days).sign(key, hashes.SHA256())
    return write_pem(path, cert)


def token_key_certificate(token_pem: Path, path: Path) -> Path:
    """A certificate for the key Berth signs its tokens with (its data folder's
    keys/token.pem), so that notary-server's token auth trusts Berth's tokens."""
    key = serialization.load_pem_private_key(token_pem.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey), f"{token_pem} is not an EC key"
    return self_signed(key, "berth-token-service", path)


def delegation_pair(folder: Path, name: str) -> Leaf:
    """A delegation key and its self-signed certificate (what `notary delegation add`
    takes, and `notary key import` the private half of)."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    # two years: notary warns about a delegation certificate that expires within six months
    cert = self_signed(key, name, folder / f"{name}.crt", days=730)
    return Leaf(cert, write_key(folder / f"{name}.key", key))
