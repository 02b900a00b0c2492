"""The end-to-end tests' fixtures: the registry under test, the real clients (tests/peers.py;
the session's dockerd is in tests/conftest.py) and the build contexts of the images they push.

`BERTH_E2E_AGAINST=distribution` runs the same tests against the reference
registry (Debian's docker-registry) instead of Berth: when a test fails, that
tells a Berth bug from a test bug.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.peers import Docker, Podman, Skopeo, podman_stores, running_distribution
from tests.support import (
    ADMIN,
    RunningBerth,
    assert_log_clean,
    log_size,
    require,
    require_tool,
)

# --- the registry under test ---------------------------------------------------------


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


@pytest.fixture
def berth_only(registry: RunningBerth) -> None:
    """For tests of Berth's own features (signing, content trust, sparse indexes), which the
    reference registry lacks: they have nothing to check under BERTH_E2E_AGAINST=distribution,
    a mode a developer picks by hand. CI never sets it, so in CI they always run."""
    if os.environ.get("BERTH_E2E_AGAINST") == "distribution":
        pytest.skip("a feature of Berth's own, which Distribution does not have")


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


@pytest.fixture
def docker(dockerd: Docker, registry: RunningBerth) -> Docker:
    """The docker CLI talking to the session's dockerd, logged in to the registry as admin."""
    dockerd.login(registry.host, *ADMIN)
    return dockerd


# --- podman, buildah, skopeo -----------------------------------------------------------


@pytest.fixture
def podman_at(containers_env: dict[str, str]) -> Iterator[Callable[[str], Podman]]:
    """`podman_at("builder")`: a podman with an image store of its own (one 'machine')."""
    with podman_stores(containers_env, "berth-podman") as make:
        yield make


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
