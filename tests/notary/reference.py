"""The reference Notary v1 server: Debian's notary-server with its notary-signer, started as
real processes for a test session.

Both keep their data in memory and speak TLS on loopback with certificates of a throwaway
CA; the server reaches the signer by mutual TLS (notary-signer requires a client
certificate). The server's auth is token auth whose realm is a running Berth's
/service/token: it trusts Berth's token signing key (a certificate the test makes for
keys/token.pem in Berth's data folder) for the service `berth-notary` and Berth's issuer,
so a reference GUN is guarded by exactly the rights Berth's token service grants.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.notary.pki import Leaf, LoopbackCA, token_key_certificate
from tests.peers import stop
from tests.support import RunningBerth, free_port, require_tool

NOTARY_SERVICE = "berth-notary"  # Berth's notary_service default: the token audience
TOKEN_ISSUER = "berth-token-service"  # Berth's token_issuer default


@dataclass
class ReferenceNotary:
    url: str  # https://127.0.0.1:PORT
    ca: Path  # the CA its certificate chains to (the notary CLI's --tlscacert)
    folder: Path  # configs, certificates and both servers' logs

    def tls(self) -> ssl.SSLContext:
        """A client TLS context trusting the reference's CA."""
        return ssl.create_default_context(cafile=str(self.ca))

    def logs(self) -> str:
        """Both servers' logs, for a failure message."""
        return "\n".join(
            f"--- {name} ---\n{(self.folder / name).read_text(errors='replace')[-8000:]}"
            for name in ("notary-signer.log", "notary-server.log")
            if (self.folder / name).exists()
        )


def signer_config(port: int, tls: Leaf, client_ca: Path) -> dict[str, Any]:
    """notary-signer: gRPC on loopback, TLS, client certificates of the CA required."""
    return {
        "server": {
            "grpc_addr": f"127.0.0.1:{port}",
            "tls_cert_file": str(tls.cert),
            "tls_key_file": str(tls.key),
            "client_ca_file": str(client_ca),
        },
        "logging": {"level": "info"},
        "storage": {"backend": "memory"},
    }


def server_config(
    port: int, signer_port: int, tls: Leaf, ca: Path, berth: RunningBerth, token_cert: Path
) -> dict[str, Any]:
    """notary-server: HTTPS on loopback, the signer over mutual TLS, Berth's token auth."""
    return {
        "server": {
            "http_addr": f"127.0.0.1:{port}",
            "tls_cert_file": str(tls.cert),
            "tls_key_file": str(tls.key),
        },
        "trust_service": {
            "type": "remote",
            "hostname": "127.0.0.1",
            "port": str(signer_port),
            "tls_ca_file": str(ca),
            "key_algorithm": "ecdsa",
            "tls_client_cert": str(tls.cert),
            "tls_client_key": str(tls.key),
        },
        "logging": {"level": "info"},
        "storage": {"backend": "memory"},
        "auth": {
            "type": "token",
            "options": {
                "realm": f"{berth.url}/service/token",
                "service": NOTARY_SERVICE,
                "issuer": TOKEN_ISSUER,
                "rootcertbundle": str(token_cert),
            },
        },
    }


@contextmanager
def running_reference(folder: Path, berth: RunningBerth) -> Iterator[ReferenceNotary]:
    """notary-signer and notary-server behind Berth's token service; stopped afterwards by
    their PIDs. Skips without the binaries (fails under CI=true)."""
    signer_bin = require_tool("notary-signer")
    server_bin = require_tool("notary-server")
    folder.mkdir(parents=True, exist_ok=True)
    ca = LoopbackCA(folder / "pki")
    token_cert = token_key_certificate(
        berth.data_dir / "keys" / "token.pem", folder / "pki" / "berth-token.crt"
    )
    signer_port, server_port = free_port(), free_port()
    signer = signer_config(signer_port, ca.issue("notary-signer"), ca.cert)
    server = server_config(
        server_port, signer_port, ca.issue("notary-server"), ca.cert, berth, token_cert
    )
    signer_json, server_json = folder / "signer.json", folder / "server.json"
    signer_json.write_text(json.dumps(signer, indent=2))
    server_json.write_text(json.dumps(server, indent=2))
    reference = ReferenceNotary(f"https://127.0.0.1:{server_port}", ca.cert, folder)
    with _process(signer_bin, signer_json, folder / "notary-signer.log") as signer_proc:
        _wait_port(signer_port, signer_proc, reference)
        with _process(server_bin, server_json, folder / "notary-server.log") as server_proc:
            _wait_healthy(reference, server_proc)
            yield reference


@contextmanager
def _process(binary: str, config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [binary, "-config", str(config), "-logf", "logfmt"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        yield proc
    finally:
        stop(proc, timeout=15)


def _wait_port(port: int, proc: subprocess.Popen[bytes], reference: ReferenceNotary) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"notary-signer exited with {proc.returncode}\n{reference.logs()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"notary-signer did not listen on {port} within 30 s\n{reference.logs()}")


def _wait_healthy(reference: ReferenceNotary, proc: subprocess.Popen[bytes]) -> None:
    """Until the server's health check (which includes its signer) answers 200."""
    deadline = time.monotonic() + 60
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"notary-server exited with {proc.returncode}\n{reference.logs()}")
        try:
            answer = httpx.get(
                f"{reference.url}/_notary_server/health", verify=reference.tls(), timeout=2
            )
            if answer.status_code == 200:
                return
            last = f"{answer.status_code} {answer.text}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise RuntimeError(f"notary-server not healthy within 60 s: {last}\n{reference.logs()}")
