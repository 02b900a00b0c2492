"""Real peers for the end-to-end tests.

A private dockerd, podman/buildah and skopeo with throwaway storage, and the
build contexts of the images they push. Every server is started here and stopped
by its PID; nothing is pulled from the internet (only loopback is reachable).

`BERTH_E2E_AGAINST=distribution` runs the same tests against the reference
registry (Debian's docker-registry) instead of Berth: when a test fails, that
tells a Berth bug from a test bug.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import (
    ADMIN,
    RunningBerth,
    assert_log_clean,
    free_port,
    log_size,
    require,
    require_tool,
    wait_http,
)

PUSH_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64}) size: \d+")


def run_tool(
    args: list[str],
    env: dict[str, str],
    timeout: float = 300,
    check: bool = True,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a client command; on failure, fail the test with its full output."""
    proc = subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=timeout, input=stdin
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"`{' '.join(args)}` exited with {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )
    return proc


def stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Stop a server we started, by its PID: SIGTERM, then SIGKILL if it hangs."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- the registry under test ---------------------------------------------------------


@contextmanager
def running_distribution(root: Path) -> Iterator[RunningBerth]:
    """The reference registry, for telling Berth bugs from test bugs."""
    binary = require_tool("docker-registry")
    port = free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n"
        "log: {level: error}\n"
    )
    log = root / "registry.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, "serve", str(config)], stdout=out, stderr=out)
    try:
        wait_http(f"http://127.0.0.1:{port}/v2/", proc=proc)
        yield RunningBerth(f"http://127.0.0.1:{port}", f"127.0.0.1:{port}", root, log, proc)
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def registry(
    berth_server: RunningBerth, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningBerth]:
    """The registry the clients talk to: the session's Berth, on each database backend."""
    if os.environ.get("BERTH_E2E_AGAINST") == "distribution":
        with running_distribution(tmp_path_factory.mktemp("distribution")) as server:
            yield server
    else:
        yield berth_server


@pytest.fixture(autouse=True)
def server_log_clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """A real client's normal use leaves no error-level line in the server's log: each test
    is checked for the lines it caused (the session fixture catches any that come later)."""
    if "registry" not in request.fixturenames:
        yield
        return
    server: RunningBerth = request.getfixturevalue("registry")
    log = server.data_dir / "server.log"
    start = log_size(log)
    yield
    assert_log_clean(log, start, during=request.node.name)


@pytest.fixture(scope="session")
def containers_env(
    registry: RunningBerth, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """Environment for podman/buildah/skopeo: the registry is insecure, no stray credentials."""
    root = tmp_path_factory.mktemp("containers")
    registries = root / "registries.conf"
    registries.write_text(
        "unqualified-search-registries = []\n"
        f'[[registry]]\nlocation = "{registry.host}"\ninsecure = true\n'
    )
    auth = root / "auth.json"
    # skopeo, podman and buildah sign in with the test admin's credentials.
    credentials = base64.b64encode(":".join(ADMIN).encode()).decode()
    auth.write_text(json.dumps({"auths": {registry.host: {"auth": credentials}}}))
    return {
        **os.environ,
        "CONTAINERS_REGISTRIES_CONF": str(registries),
        "REGISTRY_AUTH_FILE": str(auth),
        "TMPDIR": str(root),
    }


# --- docker ----------------------------------------------------------------------------


@dataclass
class Docker:
    """The docker CLI bound to our private dockerd."""

    env: dict[str, str]

    def __call__(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_tool(["docker", *args], self.env, check=check, stdin=stdin)

    def login(
        self, host: str, username: str, password: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """`docker login` through Berth's token service."""
        return self("login", host, "-u", username, "--password-stdin", stdin=password, check=check)

    def build(self, context: Path, tag: str) -> str:
        """Build with the legacy builder (BuildKit would want its frontend image); return the ID."""
        self("build", "--quiet", "--tag", tag, str(context))
        return self.image_id(tag)

    def push(self, ref: str) -> str:
        """Push and return the manifest digest docker reports."""
        out = self("push", ref).stdout
        found = PUSH_DIGEST.search(out)
        assert found, f"docker push printed no digest:\n{out}"
        return found.group(1)

    def image_id(self, ref: str) -> str:
        return self("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()

    def repo_digests(self, ref: str) -> list[str]:
        out = self("image", "inspect", "--format", "{{range .RepoDigests}}{{.}} {{end}}", ref)
        return out.stdout.split()

    def remove(self, *refs: str) -> None:
        self("image", "rm", *refs)


@pytest.fixture(scope="session")
def dockerd() -> Iterator[Docker]:
    """A private dockerd (vfs storage, no bridge, no iptables) for the whole session."""
    dockerd = require_tool("dockerd")
    require_tool("docker")
    require(os.geteuid() == 0, "dockerd needs root")
    # Unix socket paths are limited to 108 bytes, so keep everything under a short /tmp dir.
    root = Path(tempfile.mkdtemp(prefix="berth-e2e-dockerd-", dir="/tmp"))
    sock = root / "docker.sock"
    cmd = [
        dockerd, "--iptables=false", "--ip-masq=false", "--bridge=none",
        "--storage-driver=vfs", "--data-root", str(root / "data"),
        "--exec-root", str(root / "exec"), "-H", f"unix://{sock}",
        "--pidfile", str(root / "dockerd.pid"),
    ]  # fmt: skip
    with (root / "dockerd.log").open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    client = Docker(
        {
            **os.environ,
            "DOCKER_HOST": f"unix://{sock}",
            "DOCKER_CONFIG": str(root / "config"),
            "DOCKER_BUILDKIT": "0",
        }
    )
    try:
        _wait_for_dockerd(client, proc, root / "dockerd.log")
        yield client
    finally:
        stop(proc)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def docker(dockerd: Docker, registry: RunningBerth) -> Docker:
    """The docker CLI talking to the session's dockerd, logged in to the registry as admin."""
    dockerd.login(registry.host, *ADMIN)
    return dockerd


def _wait_for_dockerd(client: Docker, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if client("info", check=False).returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"dockerd did not start:\n{log.read_text()[-4000:]}")


# --- podman, buildah, skopeo -----------------------------------------------------------


@dataclass
class Podman:
    """podman and buildah sharing one throwaway vfs image store (as on one machine)."""

    root: Path
    env: dict[str, str]

    def _storage(self) -> list[str]:
        return [
            "--storage-driver=vfs",
            "--root", str(self.root / "storage"),
            "--runroot", str(self.root / "run"),
        ]  # fmt: skip

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_tool(["podman", *self._storage(), *args], self.env, check=check)

    def buildah(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_tool(["buildah", *self._storage(), *args], self.env)


@pytest.fixture
def podman_at(containers_env: dict[str, str]) -> Iterator[Callable[[str], Podman]]:
    """`podman_at("builder")` gives a podman with its own image store: one per 'machine'."""
    require_tool("podman")
    require_tool("buildah")
    require(os.geteuid() == 0, "podman with vfs storage and no user namespace needs root")
    made: list[Path] = []

    def make(name: str) -> Podman:
        # podman refuses a runroot path longer than 50 characters.
        made.append(Path(tempfile.mkdtemp(prefix=f"berth-podman-{name}-", dir="/tmp")))
        return Podman(made[-1], containers_env)

    yield make
    for root in made:
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Skopeo:
    env: dict[str, str]

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # No signature policy is in play here; don't depend on the host's policy.json.
        return run_tool(["skopeo", "--insecure-policy", *args], self.env, check=check)


@pytest.fixture
def skopeo(containers_env: dict[str, str]) -> Skopeo:
    require_tool("skopeo")
    return Skopeo(containers_env)


# --- images ----------------------------------------------------------------------------


def _is_static_binary(path: Path) -> bool:
    # A dynamic ELF names its loader in PT_INTERP, which sits in the first page.
    head = path.read_bytes()[:4096]
    return head.startswith(b"\x7fELF") and b"ld-linux" not in head


@pytest.fixture(scope="session")
def busybox_context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build context for a runnable image made only of Debian's static busybox."""
    busybox = Path("/bin/busybox")
    require(
        busybox.is_file() and _is_static_binary(busybox),
        "a static /bin/busybox is needed (package busybox-static)",
    )
    context = tmp_path_factory.mktemp("busybox-context")
    bin_dir = context / "rootfs" / "bin"
    bin_dir.mkdir(parents=True)
    shutil.copy2(busybox, bin_dir / "busybox")
    for applet in ("sh", "echo", "cat", "ls", "true"):
        (bin_dir / applet).symlink_to("busybox")
    (context / "Dockerfile").write_text(
        'FROM scratch\nCOPY rootfs/ /\nENV PATH=/bin\nCMD ["/bin/sh"]\n'
    )
    return context


@pytest.fixture(scope="session")
def layered_context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build context for a FROM-scratch image of several multi-megabyte random layers."""
    context = tmp_path_factory.mktemp("layered-context")
    lines = ["FROM scratch"]
    for index, size_mb in enumerate((3, 2, 4, 1)):
        name = f"layer{index}.bin"
        (context / name).write_bytes(os.urandom(size_mb * 1024 * 1024))
        lines.append(f"COPY {name} /data/{name}")
    (context / "hello.txt").write_text("hello from berth e2e\n")
    lines += ["COPY hello.txt /etc/hello.txt", 'LABEL org.example.purpose="berth e2e"']
    (context / "Dockerfile").write_text("\n".join(lines) + "\n")
    return context
