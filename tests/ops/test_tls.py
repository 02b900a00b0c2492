"""The self-signed CA and server certificate `berth serve` makes in its data folder, and the
checks of an operator's own certificate and key."""

from __future__ import annotations

import socket
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from ops.tls import ensure_self_signed, key_problem, trust_instructions
from tests.ops.support import openssl_certificate
from tests.support import require_tool


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def alt_names(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    return set(names.get_values_for_type(x509.DNSName)), ips


def openssl_verifies(files_dir: Path, *check: str) -> subprocess.CompletedProcess[str]:
    """`openssl verify` of server.crt against ca.crt as a TLS server certificate."""
    openssl = require_tool("openssl")
    args = [openssl, "verify", "-CAfile", str(files_dir / "ca.crt"), "-purpose", "sslserver"]
    return subprocess.run(
        [*args, *check, str(files_dir / "server.crt")], capture_output=True, text=True
    )


def test_the_ca_is_a_p256_ca_for_ten_years_that_signs_only_certificates(tmp_path: Path) -> None:
    files = ensure_self_signed(tmp_path / "tls", "127.0.0.1")
    assert files.ca is not None
    ca = load(files.ca)
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    assert constraints.value.path_length == 0  # it signs servers, never another CA
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign
    public = ca.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
    assert ca.not_valid_after_utc - ca.not_valid_before_utc >= timedelta(days=3650)


@pytest.mark.parametrize(
    ("listen_host", "dns", "ips"),
    [
        pytest.param("127.0.0.1", set(), set(), id="loopback"),
        pytest.param("192.0.2.7", set(), {"192.0.2.7"}, id="ipv4"),
        pytest.param("[2001:db8::5]", set(), {"2001:db8::5"}, id="ipv6"),
        pytest.param("Registry.Example.COM", {"registry.example.com"}, set(), id="dns-name"),
    ],
)
def test_the_server_certificate_names_every_address_a_client_may_use(
    tmp_path: Path, listen_host: str, dns: set[str], ips: set[str]
) -> None:
    files = ensure_self_signed(tmp_path / "tls", listen_host)
    cert = load(files.cert)
    have_dns, have_ips = alt_names(cert)
    assert have_dns >= {"localhost", socket.gethostname().lower(), *dns}
    assert have_ips >= {"127.0.0.1", "::1", *ips}
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert timedelta(days=820) < cert.not_valid_after_utc - datetime.now(UTC) < timedelta(days=826)
    # OpenSSL, a client of its own, accepts it for each name as a TLS server's certificate
    for name in [*dns, "localhost"]:
        assert openssl_verifies(tmp_path / "tls", "-verify_hostname", name).returncode == 0
    for ip in [*ips, "127.0.0.1"]:
        assert openssl_verifies(tmp_path / "tls", "-verify_ip", ip).returncode == 0
    assert openssl_verifies(tmp_path / "tls", "-verify_hostname", "other.example").returncode


def test_a_wildcard_listen_host_names_the_machine_instead(tmp_path: Path) -> None:
    cert = load(ensure_self_signed(tmp_path / "tls", "0.0.0.0").cert)
    dns, ips = alt_names(cert)
    assert "0.0.0.0" not in ips
    assert socket.gethostname().lower() in dns


def test_the_keys_are_for_their_owner_only(tmp_path: Path) -> None:
    folder = tmp_path / "tls"
    ensure_self_signed(folder, "127.0.0.1")
    modes = {path.name: path.stat().st_mode & 0o777 for path in folder.iterdir()}
    assert modes["ca.key"] == 0o600 and modes["server.key"] == 0o600
    assert modes["ca.crt"] == 0o644 and modes["server.crt"] == 0o644


def test_a_restart_reuses_the_ca_and_the_certificate(tmp_path: Path) -> None:
    folder = tmp_path / "tls"
    ensure_self_signed(folder, "127.0.0.1")
    before = {path.name: path.read_bytes() for path in folder.glob("*.*")}
    ensure_self_signed(folder, "127.0.0.1")
    assert {path.name: path.read_bytes() for path in folder.glob("*.*")} == before


def test_a_new_listen_host_gets_a_new_certificate_from_the_same_ca(tmp_path: Path) -> None:
    # Given a server certificate made for one address
    folder = tmp_path / "tls"
    ensure_self_signed(folder, "127.0.0.1")
    ca_before, key_before = (folder / "ca.crt").read_bytes(), (folder / "ca.key").read_bytes()
    # When the server is to listen on a name the certificate does not hold
    ensure_self_signed(folder, "registry.example")
    # Then the CA is the same (clients trusting it need not change) and the new certificate,
    # signed by it, names the new host
    assert (folder / "ca.crt").read_bytes() == ca_before
    assert (folder / "ca.key").read_bytes() == key_before
    cert = load(folder / "server.crt")
    cert.verify_directly_issued_by(load(folder / "ca.crt"))
    assert "registry.example" in alt_names(cert)[0]
    assert openssl_verifies(folder, "-verify_hostname", "registry.example").returncode == 0


def test_a_certificate_near_its_end_is_made_anew(tmp_path: Path) -> None:
    folder = tmp_path / "tls"
    ensure_self_signed(folder, "127.0.0.1")
    first = load(folder / "server.crt")
    later = first.not_valid_after_utc - timedelta(days=29)
    ensure_self_signed(folder, "127.0.0.1", now=later)
    renewed = load(folder / "server.crt")
    assert renewed.not_valid_after_utc > later + timedelta(days=800)
    renewed.verify_directly_issued_by(load(folder / "ca.crt"))


@pytest.mark.parametrize("broken", ["server.key", "server.crt", "ca.key"])
def test_a_missing_or_damaged_file_is_made_again(tmp_path: Path, broken: str) -> None:
    folder = tmp_path / "tls"
    ensure_self_signed(folder, "127.0.0.1")
    (folder / broken).write_text("garbage")
    files = ensure_self_signed(folder, "127.0.0.1")
    assert openssl_verifies(folder).returncode == 0
    assert key_problem(files.key, files.cert) is None  # the key is that of the certificate


def test_an_operators_key_must_be_that_of_the_certificate(tmp_path: Path) -> None:
    mine = openssl_certificate(tmp_path / "mine", "127.0.0.1")
    other = openssl_certificate(tmp_path / "other", "127.0.0.1")
    assert key_problem(mine.key, mine.cert) is None
    problem = key_problem(other.key, mine.cert)
    assert problem is not None and "does not match the certificate" in problem


def test_the_printed_instructions_say_where_docker_finds_the_ca(tmp_path: Path) -> None:
    files = ensure_self_signed(tmp_path / "tls", "192.0.2.7")
    text = trust_instructions(files, "192.0.2.7:5443")
    assert str(files.ca) in text
    assert "/etc/docker/certs.d/192.0.2.7:5443/ca.crt" in text
    assert "~/.docker/tls/192.0.2.7:5443/ca.crt" in text
    assert f"SSL_CERT_FILE={files.ca}" in text
    # listening on every address, clients are told the machine's name
    anywhere = trust_instructions(files, "0.0.0.0:5443")
    assert f"/etc/docker/certs.d/{socket.gethostname()}:5443/ca.crt" in anywhere
