"""The Docker engine signs in, pushes and pulls over HTTPS with Berth's self-signed CA, and
refuses Berth's certificate until that CA is installed.

How this proves verified TLS: dockerd treats registries in 127.0.0.0/8 as insecure (it then
skips certificate checks and may fall back to plain HTTP), so a loopback Berth would prove
nothing. Berth listens on this machine's own non-loopback address instead, which the test
first checks is outside every insecure range dockerd reports: for dockerd that registry is
secure — HTTPS only, the certificate verified against /etc/docker/certs.d/HOST:PORT/, no
fallback to HTTP (and Berth's port speaks nothing but TLS anyway). No --insecure-registry is
set anywhere. That the same commands fail with a certificate error while the CA is not
installed shows the verification is on.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers import Docker
from tests.support import (
    ADMIN,
    RunningBerth,
    assert_log_clean,
    log_size,
    require,
    require_tool,
    running_berth,
)

pytestmark = pytest.mark.e2e

DOCKER_CERTS = Path("/etc/docker/certs.d")  # where the root dockerd looks, per HOST:PORT


def outward_address() -> str | None:
    """An IPv4 address of this machine outside loopback and link-local, if it has one."""
    listed = subprocess.run(
        [require_tool("hostname"), "-I"], capture_output=True, text=True, check=False
    ).stdout.split()
    for text in listed:
        address = ipaddress.ip_address(text)
        if address.version == 4 and not (address.is_loopback or address.is_link_local):
            return text
    return None


@pytest.fixture(scope="module")
def tls_berth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBerth]:
    """Berth over HTTPS with its own CA, on the machine's non-loopback address."""
    address = outward_address()
    require(address is not None, "this machine has no non-loopback IPv4 address to listen on")
    assert address is not None
    data = Path(tmp_path_factory.mktemp("berth-tls"))
    with running_berth(data, tls="self-signed", address=address) as server:
        yield server
    assert_log_clean(server.log, during="the module")


@pytest.fixture
def secure_to_docker(dockerd: Docker, tls_berth: RunningBerth) -> Docker:
    """The session's dockerd, which must take tls_berth for a secure registry."""
    info = json.loads(dockerd("info", "--format", "{{json .RegistryConfig}}").stdout)
    address = ipaddress.ip_address(tls_berth.host.rpartition(":")[0])
    insecure = [ipaddress.ip_network(cidr) for cidr in info["InsecureRegistryCIDRs"] or []]
    assert not any(address in network for network in insecure), insecure
    assert tls_berth.host not in (info.get("IndexConfigs") or {}), "named insecure"
    return dockerd


@pytest.fixture
def ca_installed(secure_to_docker: Docker, tls_berth: RunningBerth) -> Iterator[Docker]:
    """Berth's CA where dockerd looks for it, removed afterwards (only our HOST:PORT folder:
    other tests may keep theirs beside it)."""
    assert tls_berth.ca is not None
    folder = DOCKER_CERTS / tls_berth.host
    folder.mkdir(parents=True, exist_ok=False)
    try:
        shutil.copy(tls_berth.ca, folder / "ca.crt")
        yield secure_to_docker
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        secure_to_docker("logout", tls_berth.host, check=False)


def test_docker_refuses_berths_certificate_without_its_ca(
    secure_to_docker: Docker, tls_berth: RunningBerth
) -> None:
    # Given a dockerd that has not been given Berth's CA
    assert not (DOCKER_CERTS / tls_berth.host).exists()
    start = log_size(tls_berth.log)
    # When it signs in or pulls
    login = secure_to_docker.login(tls_berth.host, *ADMIN, check=False)
    pull = secure_to_docker("pull", f"{tls_berth.host}/library/nothing:1", check=False)
    # Then both refuse the certificate (docker verified it, and never fell back to HTTP)
    for done in (login, pull):
        assert done.returncode != 0
        assert "x509: certificate signed by unknown authority" in done.stderr, done.stderr
    assert_log_clean(tls_berth.log, start, during="the refused handshakes")


def test_docker_signs_in_pushes_and_pulls_over_verified_tls(
    ca_installed: Docker, tls_berth: RunningBerth, busybox_context: Path
) -> None:
    docker = ca_installed
    start = log_size(tls_berth.log)
    # Given Berth's CA in /etc/docker/certs.d/HOST:PORT/ca.crt, and nothing else
    docker.login(tls_berth.host, *ADMIN)
    ref = f"{tls_berth.host}/library/tls-busybox:1"
    built = docker.build(busybox_context, ref)
    # When the image is pushed, removed here and pulled back
    digest = docker.push(ref)
    docker.remove(ref)
    docker("pull", ref)
    # Then it is the image that was built, known by the pushed digest, and it runs
    assert docker.image_id(ref) == built
    assert f"{tls_berth.host}/library/tls-busybox@{digest}" in docker.repo_digests(ref)
    run = docker("run", "--rm", "--network", "none", ref, "sh", "-c", "echo over tls")
    assert run.stdout.strip() == "over tls"
    docker.remove(ref)
    assert_log_clean(tls_berth.log, start, during="docker over TLS")
