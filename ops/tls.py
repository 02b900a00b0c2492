"""HTTPS for `berth serve`: the certificate and key it serves, checked, or made in the data folder.

`tls = "files"` serves a certificate the operator brings; `certificate_problem` and
`key_problem` say, for the settings, what is wrong with such a pair before anything starts.

`tls = "self-signed"` keeps a private CA in `<data_dir>/tls/` (ca.crt, ca.key) and a server
certificate it signs (server.crt, server.key). Clients are told to trust the CA, not the
server certificate, so the server certificate can be re-made (when its names no longer cover
the listen host, or it nears its end) without anyone copying a file again. Both are reused on
restart; the keys are readable by their owner only.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
SERVER_DAYS = 825  # the longest validity Apple's and the CA/B Forum's TLS rules accepted
RENEW_BEFORE = timedelta(days=30)  # a certificate this close to its end is made anew
BACKDATE = timedelta(hours=1)  # a client whose clock is a little behind still accepts it
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
T = TypeVar("T")


@dataclass(frozen=True)
class TlsFiles:
    """What the server loads (PEM files), and the CA clients must trust when Berth made it."""

    cert: Path
    key: Path
    ca: Path | None = None


def trust_instructions(files: TlsFiles, listen: str) -> str:
    """What `berth serve` prints when it starts: the certificate it serves, and, when Berth
    made the CA, where clients put it to trust the server."""
    if files.ca is None:
        return f"TLS: serving the certificate {files.cert}"
    host, _, port = listen.rpartition(":")
    if host.strip("[]") in ("0.0.0.0", "::"):  # clients know the machine by its name
        host = socket.gethostname()
    at = f"{host}:{port}"
    return "\n".join(
        [
            f"TLS: the certificate is signed by Berth's own CA, {files.ca}. To trust it, copy it:",
            f"  docker (the daemon): to /etc/docker/certs.d/{at}/ca.crt",
            f"  docker CLI, for content trust: to ~/.docker/tls/{at}/ca.crt",
            f"  podman, skopeo, buildah: to /etc/containers/certs.d/{at}/ca.crt"
            " (or a folder named by --cert-dir)",
            f"  curl: --cacert {files.ca}; OpenSSL, Python, Go clients: SSL_CERT_FILE={files.ca}",
        ]
    )


# --- files the operator brings ----------------------------------------------------------


def certificate_problem(path: Path) -> str | None:
    """Why the file cannot be served as a certificate (chain), or None when it can."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"cannot read the certificate: {exc.strerror or exc}"
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError:
        return "is not a PEM certificate (-----BEGIN CERTIFICATE-----)"
    return None


def key_problem(path: Path, cert: Path) -> str | None:
    """Why the file cannot be served as the private key of the certificate in `cert`, or None.
    `cert` is taken to be readable (certificate_problem said so)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"cannot read the private key: {exc.strerror or exc}"
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:  # cryptography's word for "encrypted, and no password given"
        return "is an encrypted private key: give it unencrypted (openssl pkey -in KEY -out NEW)"
    except (ValueError, UnsupportedAlgorithm):
        return "is not a PEM private key (-----BEGIN PRIVATE KEY-----)"
    leaf = x509.load_pem_x509_certificates(cert.read_bytes())[0]
    if _public_der(key) != leaf.public_key().public_bytes(*_SPKI):
        return f"does not match the certificate in {cert} (it is the key of another certificate)"
    return None


_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _public_der(key: PrivateKeyTypes) -> bytes:
    public = getattr(key, "public_key", None)
    return public().public_bytes(*_SPKI) if public else b""


# --- the self-signed CA and its server certificate ----------------------------------------


def ensure_self_signed(folder: Path, listen_host: str, now: datetime | None = None) -> TlsFiles:
    """The CA and the server certificate in folder, made when missing or unusable, the server
    certificate made again when it does not name every address clients use (`server_names`)
    or ends within RENEW_BEFORE. OSError when the folder cannot be written."""
    now = now or datetime.now(UTC)
    folder.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(folder / "server.crt", folder / "server.key", folder / "ca.crt")
    with _locked(folder / ".lock"):  # two servers starting on one data folder make one CA
        ca_cert, ca_key = _load_pair(folder / "ca.crt", folder / "ca.key")
        if ca_cert is None or ca_key is None or not _lasts(ca_cert, now):
            ca_cert, ca_key = _make_ca(now)
            _write(folder / "ca.key", _private_pem(ca_key), 0o600)
            _write(folder / "ca.crt", ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
        dns, ips = server_names(listen_host)
        cert, key = _load_pair(files.cert, files.key)
        if cert is None or not _fits(cert, ca_cert, dns, ips, now):
            key = ec.generate_private_key(ec.SECP256R1())
            cert = _make_server(ca_cert, ca_key, key, dns, ips, now)
            _write(files.key, _private_pem(key), 0o600)
            _write(files.cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return files


def server_names(listen_host: str) -> tuple[list[str], list[IpAddress]]:
    """The DNS names and addresses the server certificate names: the listen host (for a
    wildcard, the addresses of the machine's host name), localhost and its loopback addresses,
    and the machine's host name."""
    host = listen_host.strip("[]").lower()
    dns = ["localhost"]
    ips: list[IpAddress] = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    hostname = socket.gethostname().lower()
    try:
        listen_ip: IpAddress | None = ipaddress.ip_address(host)
    except ValueError:
        listen_ip = None
        if _is_dns_name(host):  # a name no certificate can hold cannot be bound either
            _add(dns, host)
    if listen_ip is not None and listen_ip.is_unspecified:
        for found in _addresses(hostname):
            _add(ips, found)
    elif listen_ip is not None:
        _add(ips, listen_ip)
    if _is_dns_name(hostname):
        _add(dns, hostname)
    return dns, ips


def _add(names: list[T], name: T) -> None:
    if name not in names:
        names.append(name)


def _is_dns_name(name: str) -> bool:
    labels = name.split(".")
    return (
        bool(name)
        and len(name) <= 253
        and all(
            0 < len(label) <= 63 and label.isascii() and label.replace("-", "").isalnum()
            for label in labels
        )
    )


def _addresses(hostname: str) -> list[IpAddress]:
    try:
        found = socket.getaddrinfo(hostname, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in found]


def _lasts(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_after_utc - RENEW_BEFORE > now >= cert.not_valid_before_utc


def _fits(
    cert: x509.Certificate,
    ca: x509.Certificate,
    dns: list[str],
    ips: list[IpAddress],
    now: datetime,
) -> bool:
    """The server certificate is the CA's, names everything asked and lasts a while yet."""
    try:
        cert.verify_directly_issued_by(ca)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    have_dns = set(names.get_values_for_type(x509.DNSName))
    have_ips = set(names.get_values_for_type(x509.IPAddress))
    return set(dns) <= have_dns and set(ips) <= have_ips and _lasts(cert, now)


def _make_ca(now: datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Berth"),
            x509.NameAttribute(NameOID.COMMON_NAME, _common_name("Berth CA", socket.gethostname())),
        ]
    )
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    cert = (
        _builder(name, name, key.public_key(), now, timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _make_server(
    ca: x509.Certificate,
    ca_key: CertificateIssuerPrivateKeyTypes,
    key: ec.EllipticCurvePrivateKey,
    dns: list[str],
    ips: list[IpAddress],
    now: datetime,
) -> x509.Certificate:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Berth"),
            x509.NameAttribute(NameOID.COMMON_NAME, _common_name("Berth", dns[-1])),
        ]
    )
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    alt_names = [*map(x509.DNSName, dns), *map(x509.IPAddress, ips)]
    issuer_key = ca.public_key()
    assert isinstance(issuer_key, ec.EllipticCurvePublicKey)
    return (
        _builder(subject, ca.subject, key.public_key(), now, timedelta(days=SERVER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public: ec.EllipticCurvePublicKey,
    now: datetime,
    lasting: timedelta,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + lasting)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )


def _common_name(prefix: str, name: str) -> str:
    return f"{prefix} {name}"[:64]  # the most X.520 allows; clients match the SANs anyway


def _load_pair(
    cert_path: Path, key_path: Path
) -> tuple[x509.Certificate | None, ec.EllipticCurvePrivateKey | None]:
    """A certificate and its EC key from PEM files; (None, None) when either is missing,
    unreadable, or they do not belong together."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm):
        return None, None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None, None
    if _public_der(key) != cert.public_key().public_bytes(*_SPKI):
        return None, None
    return cert, key


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Replace path with data atomically (a reader never sees half a key), with that mode."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)  # whatever the umask
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, path)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
