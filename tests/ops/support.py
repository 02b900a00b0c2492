"""Running `berth` commands as a user would: a clean environment, a folder of their own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.support import CertificateFiles, require_tool

BERTH = [sys.executable, "-m", "ops.cli"]


def clean_env(**settings: str) -> dict[str, str]:
    """This environment without any BERTH_* variable, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("BERTH_")}
    env.pop("COLUMNS", None)  # as a pipe sees it: no terminal width
    return {**env, **settings}


def run_berth(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run one command to completion; it must end by itself within timeout."""
    return subprocess.run(
        [*BERTH, *args],
        cwd=cwd,
        env=clean_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
    )


def session_processes(session: int) -> list[int]:
    """The live processes of a session (a command started with start_new_session=True)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()  # after "(comm)": state ppid pgrp session
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def assert_nothing_left(session: int, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while (left := session_processes(session)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"processes left behind: {left}"


def openssl_certificate(folder: Path, ip: str) -> CertificateFiles:
    """A CA and a server certificate for ip made by the openssl command, as an operator would
    bring them (RSA, so nothing here shares Berth's own choices)."""
    openssl = require_tool("openssl")
    folder.mkdir(parents=True)
    ca, ca_key = folder / "ca.crt", folder / "ca.key"
    cert, key, request = folder / "server.crt", folder / "server.key", folder / "server.csr"
    extensions = folder / "server.ext"
    extensions.write_text(
        f"subjectAltName = IP:{ip}\nextendedKeyUsage = serverAuth\n"
        "basicConstraints = critical, CA:FALSE\n"
    )

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key),
        "-out", str(ca), "-days", "2",
        "-subj", "/CN=Operator Test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(request),
        "-subj", "/CN=berth.test")  # fmt: skip
    run("x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", "2",
        "-extfile", str(extensions))  # fmt: skip
    return CertificateFiles(cert, key, ca)
