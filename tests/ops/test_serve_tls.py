"""`berth serve` over HTTPS: its own CA or the operator's files, on the one listen socket, and
a bad TLS setting refused in one line before anything starts."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from tests.ops.support import openssl_certificate, run_berth
from tests.support import (
    ADMIN,
    RunningBerth,
    assert_log_clean,
    free_port,
    running_berth,
    trusting,
    wait_until,
)


def token(server: RunningBerth, challenge: str, scope: str) -> str:
    """A bearer token from the realm a 401 names, as a registry client gets one."""
    fields = dict(part.split("=", 1) for part in challenge.removeprefix("Bearer ").split(","))
    realm, service = fields["realm"].strip('"'), fields["service"].strip('"')
    answer = httpx.get(
        realm, params={"service": service, "scope": scope}, auth=ADMIN, verify=server.verify
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


def announced(server: RunningBerth) -> str:
    """The server's log once it has said it listens on https (said after its first answer)."""
    line = f"Berth listening on https://{server.host} "

    def said() -> str:
        text = server.log.read_text()
        return text if line in text else ""

    return wait_until(line, said)


def test_self_signed_serves_https_that_its_ca_verifies(tmp_path: Path) -> None:
    with running_berth(tmp_path / "data", tls="self-signed") as server:
        # Given a client that trusts only the CA Berth made
        assert server.url.startswith("https://") and server.ca is not None
        with httpx.Client(verify=server.verify, http2=True) as client:
            # When it asks /v2/ without credentials
            first = client.get(f"{server.url}/v2/")
            # Then the answer came over verified TLS (HTTP/1.1 even to a client offering
            # HTTP/2: Berth's streaming is HTTP/1.1's), and the token realm it is sent to is
            # https on the same address
            assert first.status_code == 401
            assert first.http_version == "HTTP/1.1"
            challenge = first.headers["WWW-Authenticate"]
            assert f'realm="https://{server.host}/service/token"' in challenge
            # ... where a token is issued, and taken
            bearer = token(server, challenge, "repository:library/tls:pull,push")
            headers = {"Authorization": f"Bearer {bearer}"}
            assert client.get(f"{server.url}/v2/", headers=headers).status_code == 200
            # ... and an upload's Location keeps the client on https
            started = client.post(f"{server.url}/v2/library/tls/blobs/uploads/", headers=headers)
            assert started.status_code == 202, started.text
            assert urljoin(server.url, started.headers["Location"]).startswith(server.url + "/")
        # The start-up lines say https and how Docker and other clients come to trust the CA
        said = announced(server)
        assert f"/etc/docker/certs.d/{server.host}/ca.crt" in said
        assert f"~/.docker/tls/{server.host}/ca.crt" in said
        assert f"SSL_CERT_FILE={server.ca}" in said
    assert_log_clean(server.log)


def test_the_tls_port_refuses_plain_http_and_unverified_clients_cleanly(tmp_path: Path) -> None:
    with running_berth(tmp_path / "data", tls="self-signed") as server:
        # A plain HTTP request gets no answer (it is a TLS port), not an error page
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            httpx.get(f"http://{server.host}/v2/", timeout=10)
        # A client that does not trust Berth's CA refuses the certificate
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{server.url}/v2/", verify=ssl.create_default_context())
        # The server goes on serving, and none of that was an error in its log
        assert httpx.get(f"{server.url}/v2/", verify=server.verify).status_code == 401
    assert_log_clean(server.log)


def test_a_restart_keeps_the_ca_clients_trust(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_berth(data, tls="self-signed") as server:
        ca = (data / "tls" / "ca.crt").read_bytes()
    with running_berth(data, tls="self-signed") as again:
        assert (data / "tls" / "ca.crt").read_bytes() == ca
        assert httpx.get(f"{again.url}/v2/", verify=again.verify).status_code == 401
    assert_log_clean(server.log)


def test_several_server_processes_all_serve_tls(tmp_path: Path) -> None:
    with running_berth(tmp_path / "data", {"BERTH_WORKERS": "2"}, tls="self-signed") as server:
        for _ in range(8):  # new connections, spread over the processes by the kernel
            with httpx.Client(verify=server.verify) as client:
                assert client.get(f"{server.url}/v2/").status_code == 401
        assert "with 2 server process(es)" in announced(server)
    assert_log_clean(server.log)


def test_files_mode_serves_the_operators_certificate(tmp_path: Path) -> None:
    # Given a certificate for 127.0.0.1 from the operator's own CA (made by openssl), named
    # by tls_cert and tls_key alone (which mean tls = "files")
    files = openssl_certificate(tmp_path / "pki", "127.0.0.1")
    with running_berth(tmp_path / "data", tls=files) as server:
        # Then clients trusting that CA reach Berth over https
        answer = httpx.get(f"{server.url}/v2/", verify=trusting(files.ca))
        assert answer.status_code == 401
        assert 'realm="https://' in answer.headers["WWW-Authenticate"]
        said = announced(server)
        assert f"serving the certificate {files.cert}" in said
        assert not (server.data_dir / "tls").exists()  # no CA of its own
    assert_log_clean(server.log)


def test_tls_files_mode_said_outright_serves_them_too(tmp_path: Path) -> None:
    files = openssl_certificate(tmp_path / "pki", "127.0.0.1")
    with running_berth(tmp_path / "data", {"BERTH_TLS": "files"}, tls=files) as server:
        assert httpx.get(f"{server.url}/v2/", verify=trusting(files.ca)).status_code == 401
    assert_log_clean(server.log)


# --- bad TLS settings --------------------------------------------------------------------


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    """An operator's files, good and bad, for the settings table below."""
    mine = openssl_certificate(tmp_path / "mine", "127.0.0.1")
    other = openssl_certificate(tmp_path / "other", "127.0.0.1")
    encrypted = tmp_path / "encrypted.key"
    subprocess.run(
        ["openssl", "pkey", "-in", str(mine.key), "-aes256", "-passout", "pass:secret",
         "-out", str(encrypted)],
        check=True, capture_output=True,
    )  # fmt: skip
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    return {
        "cert": mine.cert,
        "key": mine.key,
        "other_key": other.key,
        "encrypted_key": encrypted,
        "not_pem": not_pem,
        "folder": tmp_path,
        "missing": tmp_path / "missing.pem",
    }


BAD_TLS = [
    # (environment with {file} names from pki, what the one line must say)
    pytest.param(
        {"BERTH_TLS": "on"},
        ["BERTH_TLS='on'", "'self-signed'", "'files'"],
        id="unknown-mode",
    ),
    pytest.param(
        {"BERTH_TLS": "files"},
        ["BERTH_TLS_CERT:", "needs tls_cert and tls_key"],
        id="files-without-files",
    ),
    pytest.param(
        {"BERTH_TLS": "files", "BERTH_TLS_CERT": "{cert}"},
        ["BERTH_TLS_KEY:", "private key"],
        id="cert-without-key",
    ),
    pytest.param(
        {"BERTH_TLS_KEY": "{key}"},
        ["BERTH_TLS_KEY=", "needs its certificate"],
        id="key-without-cert",
    ),
    pytest.param(
        {"BERTH_TLS_CERT": "{missing}", "BERTH_TLS_KEY": "{key}"},
        ["BERTH_TLS_CERT=", "cannot read the certificate", "No such file"],
        id="missing-cert",
    ),
    pytest.param(
        {"BERTH_TLS_CERT": "{folder}", "BERTH_TLS_KEY": "{key}"},
        ["BERTH_TLS_CERT=", "cannot read the certificate"],
        id="unreadable-cert",
    ),
    pytest.param(
        {"BERTH_TLS_CERT": "{not_pem}", "BERTH_TLS_KEY": "{key}"},
        ["BERTH_TLS_CERT=", "not a PEM certificate"],
        id="cert-not-pem",
    ),
    pytest.param(
        {"BERTH_TLS_CERT": "{cert}", "BERTH_TLS_KEY": "{missing}"},
        ["BERTH_TLS_KEY=", "cannot read the private key"],
        id="missing-key",
    ),
    pytest.param(
        {"BERTH_TLS_CERT": "{cert}", "BERTH_TLS_KEY": "{not_pem}"},
        ["BERTH_TLS_KEY=", "not a PEM private key"],
        id="key-not-pem",
    ),
    pytest.param(
        {"BERTH_TLS_CERT": "{cert}", "BERTH_TLS_KEY": "{cert}"},
        ["BERTH_TLS_KEY=", "not a PEM private key"],
        id="key-is-the-cert",
    ),
    pytest.param(
        {"BERTH_TLS_CERT": "{cert}", "BERTH_TLS_KEY": "{other_key}"},
        ["BERTH_TLS_KEY=", "does not match the certificate"],
        id="key-of-another-cert",
    ),
    pytest.param(
        {"BERTH_TLS_CERT": "{cert}", "BERTH_TLS_KEY": "{encrypted_key}"},
        ["BERTH_TLS_KEY=", "encrypted"],
        id="encrypted-key",
    ),
    pytest.param(
        {"BERTH_TLS": "self-signed", "BERTH_TLS_CERT": "{cert}"},
        ["BERTH_TLS_CERT=", "self-signed", "makes its own"],
        id="self-signed-with-a-cert",
    ),
]


@pytest.mark.parametrize(("env", "says"), BAD_TLS)
def test_a_bad_tls_setting_is_one_line_naming_it_and_status_2(
    tmp_path: Path, pki: dict[str, Path], env: dict[str, str], says: list[str]
) -> None:
    given = {name: value.format(**pki) for name, value in env.items()}
    data = tmp_path / "data"
    done = run_berth(
        tmp_path, "serve", "--listen", f"127.0.0.1:{free_port()}", "--data-dir", str(data),
        env=given,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("berth: BERTH_TLS")
    for part in says:
        assert part in line
    assert not data.exists()  # refused before anything started


def test_a_bad_tls_key_in_the_config_file_is_named_as_its_key(tmp_path: Path) -> None:
    (tmp_path / "berth.toml").write_text('tls = "self-signed"\ntls_key = "server.key"\n')
    done = run_berth(tmp_path, "serve", "--listen", f"127.0.0.1:{free_port()}")
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("berth: berth.toml: tls_key='server.key': ")
    assert "self-signed" in line
