"""containerd's own client against a private project: tokens by the OAuth2 `POST`.

containerd (and BuildKit, nerdctl and the kubelet, which use its resolver) fetch tokens with
`POST /service/token` when they hold credentials, as the token spec's OAuth2 form says, and
use `grant_type=refresh_token` when they hold a refresh token. A private containerd daemon
with its own root, state and socket is started here and stopped by its PID.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.peers import run_tool, stop
from tests.support import ADMIN, RunningBerth, require, require_tool

pytestmark = pytest.mark.e2e

PASSWORD = "Containerd-Pass-1"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"

# Only what pulling and pushing needs: no CRI (it wants CNI), no snapshotters that probe
# kernel features this machine may lack.
CONFIG = """version = 2
root = "{root}"
state = "{state}"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  level = "info"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{root}/opt"
"""


@dataclass
class Ctr:
    """The `ctr` CLI bound to our private containerd."""

    sock: Path

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_tool(["ctr", "--address", str(self.sock), *args], dict(os.environ), check=check)

    def pull(self, ref: str, *auth: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # The native snapshotter unpacks anywhere (overlayfs may be unavailable here).
        cmd = ["images", "pull", "--plain-http", "--snapshotter", "native", *auth, ref]
        return self(*cmd, check=check)

    def digest(self, ref: str) -> str:
        for line in self("images", "ls").stdout.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == ref:
                return next(f for f in fields if f.startswith("sha256:"))
        raise AssertionError(f"{ref} is not in containerd's image store")


@pytest.fixture(scope="module")
def ctr() -> Iterator[Ctr]:
    """A private containerd for this module; stopped by its PID afterwards."""
    binary = require_tool("containerd")
    require_tool("ctr")
    require(os.geteuid() == 0, "containerd needs root")
    # Unix socket paths are limited to 108 bytes: keep everything under a short /tmp dir.
    root = Path(tempfile.mkdtemp(prefix="berth-ctrd-", dir="/tmp"))
    sock = root / "c.sock"
    config = root / "config.toml"
    config.write_text(CONFIG.format(root=root / "root", state=root / "state", sock=sock))
    log = root / "containerd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, "--config", str(config)], stdout=out, stderr=subprocess.STDOUT
        )
    client = Ctr(sock)
    try:
        _wait_for_containerd(client, proc, log)
        yield client
    finally:
        stop(proc)
        shutil.rmtree(root, ignore_errors=True)


def _wait_for_containerd(client: Ctr, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if client("version", check=False).returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"containerd did not start:\n{log.read_text()[-4000:]}")


# --- Berth: a private project, a Developer, an image --------------------------------------


def api(server: RunningBerth, method: str, path: str, body: Any = None) -> httpx.Response:
    response = httpx.request(
        method, f"{server.url}/api/v2.0{path}", json=body, auth=ADMIN, timeout=30
    )
    assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
    return response


@dataclass
class Private:
    project: str
    username: str
    user_id: int


@pytest.fixture
def private(berth_server: RunningBerth) -> Private:
    """A private project with a Developer member."""
    project = f"ctrd{uuid.uuid4().hex[:8]}"
    username = f"ctrdev{uuid.uuid4().hex[:8]}"
    api(
        berth_server,
        "POST",
        "/projects",
        {"project_name": project, "metadata": {"public": "false"}},
    )
    user = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    api(berth_server, "POST", "/users", user)
    member = {"role_id": 2, "member_user": {"username": username}}
    api(berth_server, "POST", f"/projects/{project}/members", member)
    found = api(berth_server, "GET", f"/users/search?username={username}").json()
    return Private(project, username, int(found[0]["user_id"]))


def layer_tar() -> tuple[bytes, bytes]:
    """(gzip-compressed layer, its uncompressed tar) holding one file of random bytes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = os.urandom(4096)
        info = tarfile.TarInfo("hello.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0), raw.getvalue()


def push_image(server: RunningBerth, repository: str, tag: str) -> str:
    """Push a one-layer linux/amd64 OCI image as the admin; its manifest digest."""
    layer, tar = layer_tar()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(tar).hexdigest()}"]},
            "config": {},
        }
    ).encode()
    with httpx.Client(base_url=server.url, auth=ADMIN, timeout=30) as client:
        for blob in (layer, config):
            digest = f"sha256:{hashlib.sha256(blob).hexdigest()}"
            put = client.post(f"/v2/{repository}/blobs/uploads/?digest={digest}", content=blob)
            assert put.status_code == 201, put.text
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": descriptor("application/vnd.oci.image.config.v1+json", config),
                "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layer)],
            }
        ).encode()
        put = client.put(
            f"/v2/{repository}/manifests/{tag}",
            content=manifest,
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert put.status_code == 201, put.text
    return f"sha256:{hashlib.sha256(manifest).hexdigest()}"


def descriptor(media_type: str, blob: bytes) -> dict[str, Any]:
    return {
        "mediaType": media_type,
        "digest": f"sha256:{hashlib.sha256(blob).hexdigest()}",
        "size": len(blob),
    }


def token_requests(server: RunningBerth, since: int) -> list[tuple[str, int]]:
    """(method, status) of each /service/token request in the server log after offset since."""
    with server.log.open("rb") as log:
        log.seek(since)
        lines = log.read().decode(errors="replace").splitlines()
    found = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("path") == "/service/token":
            found.append((str(entry.get("method")), int(entry.get("status", 0))))
    return found


def log_size(server: RunningBerth) -> int:
    return server.log.stat().st_size


def registry_digest(server: RunningBerth, repository: str, tag: str) -> str:
    got = httpx.get(
        f"{server.url}/v2/{repository}/manifests/{tag}",
        headers={"Accept": OCI_MANIFEST},
        auth=ADMIN,
    )
    assert got.status_code == 200, got.text
    return got.headers["Docker-Content-Digest"]


def wait_for_token_requests(server: RunningBerth, since: int) -> list[tuple[str, int]]:
    """The token requests logged after since; the log line is written as the answer leaves,
    so give it a moment (bounded) to reach the file."""
    deadline = time.monotonic() + 10
    while True:
        found = token_requests(server, since)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


# --- the tests ----------------------------------------------------------------------------


def test_containerd_pulls_from_a_private_project_with_the_oauth2_post(
    berth_server: RunningBerth, ctr: Ctr, private: Private
) -> None:
    # Given an image in a private project and a Developer of that project
    repository = f"{private.project}/img"
    pushed = push_image(berth_server, repository, "v1")
    ref = f"{berth_server.host}/{repository}:v1"
    since = log_size(berth_server)

    # When containerd pulls it with the Developer's credentials
    ctr.pull(ref, "--user", f"{private.username}:{PASSWORD}")

    # Then it holds the image that was pushed, and got its token by POST, not the GET fallback
    assert ctr.digest(ref) == pushed
    requests = wait_for_token_requests(berth_server, since)
    assert ("POST", 200) in requests, requests
    assert all(method == "POST" for method, _ in requests), requests
    ctr("images", "rm", ref)


def test_containerd_pushes_to_a_private_project(
    berth_server: RunningBerth, ctr: Ctr, private: Private
) -> None:
    # Given containerd holds an image it pulled from the private project
    repository = f"{private.project}/img"
    push_image(berth_server, repository, "v1")
    source = f"{berth_server.host}/{repository}:v1"
    user = f"{private.username}:{PASSWORD}"
    ctr.pull(source, "--user", user)
    target = f"{berth_server.host}/{private.project}/copy:v2"
    ctr("images", "tag", source, target)
    since = log_size(berth_server)

    # When it pushes the image under a new name as the Developer
    ctr("images", "push", "--plain-http", "--user", user, target)

    # Then Berth serves the same manifest under the new name, and containerd used the POST
    assert registry_digest(berth_server, f"{private.project}/copy", "v2") == ctr.digest(target)
    requests = wait_for_token_requests(berth_server, since)
    assert ("POST", 200) in requests and all(m == "POST" for m, _ in requests), requests
    ctr("images", "rm", source, target)


def test_containerd_is_refused_without_the_right_password(
    berth_server: RunningBerth, ctr: Ctr, private: Private
) -> None:
    # Given an image in a private project
    repository = f"{private.project}/img"
    push_image(berth_server, repository, "v1")
    ref = f"{berth_server.host}/{repository}:v1"

    # When containerd pulls it with a wrong password, and with none
    wrong = ctr.pull(ref, "--user", f"{private.username}:not-it", check=False)
    anonymous = ctr.pull(ref, check=False)

    # Then both fail and nothing was stored
    assert wrong.returncode != 0 and anonymous.returncode != 0
    assert ref not in ctr("images", "ls", "-q").stdout.split()


def test_containerd_pulls_with_a_refresh_token_until_the_password_changes(
    berth_server: RunningBerth, ctr: Ctr, private: Private
) -> None:
    # Given a refresh token the Developer got with the OAuth2 form (access_type=offline)
    repository = f"{private.project}/img"
    pushed = push_image(berth_server, repository, "v1")
    ref = f"{berth_server.host}/{repository}:v1"
    form = {
        "grant_type": "password",
        "username": private.username,
        "password": PASSWORD,
        "service": "berth-registry",
        "client_id": "berth-e2e",
        "access_type": "offline",
    }
    answer = httpx.post(f"{berth_server.url}/service/token", data=form)
    assert answer.status_code == 200, answer.text
    refresh = answer.json()["refresh_token"]

    # When containerd pulls with only that refresh token, it gets the image
    ctr.pull(ref, "--refresh", refresh)
    assert ctr.digest(ref) == pushed
    ctr("images", "rm", ref)

    # And once the password changes, the same refresh token is refused
    new_password = {"old_password": PASSWORD, "new_password": "Containerd-Pass-2"}
    api(berth_server, "PUT", f"/users/{private.user_id}/password", new_password)
    refused = ctr.pull(ref, "--refresh", refresh, check=False)
    assert refused.returncode != 0
    assert ref not in ctr("images", "ls", "-q").stdout.split()
