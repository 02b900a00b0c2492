"""The replication end-to-end tests' peers: two Berths (one on SQLite, one on PostgreSQL,
each a real `berth serve` on its own port and data folder), Debian's Distribution with
htpasswd auth, and the real clients (the session's dockerd from tests/conftest.py, podman,
skopeo, the oras client) that know all three.

The peers live for the whole session; each test uses repositories and registry names of its
own, so tests do not see each other's images.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.peers import Docker, Podman, Skopeo, podman_stores
from tests.replication.support import (
    Peer,
    ReplicationApi,
    berth_peer,
    containers_env,
    running_distribution_htpasswd,
)
from tests.support import (
    assert_log_clean,
    log_size,
    require_tool,
    running_berth_with,
)

# The Berths running now, whose logs each test's teardown checks.
RUNNING: list[Peer] = []


@contextmanager
def berth(name: str, backend: str, data_dir: Path) -> Iterator[Peer]:
    with running_berth_with(backend, data_dir) as server:
        peer = berth_peer(name, server)
        RUNNING.append(peer)
        try:
            yield peer
        finally:
            RUNNING.remove(peer)


@pytest.fixture(scope="session")
def berth_a(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """The first Berth (SQLite): the source of the push-mode policies."""
    with berth("berth-a", "sqlite", tmp_path_factory.mktemp("berth-a")) as peer:
        yield peer


@pytest.fixture(scope="session")
def berth_b(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """The second Berth (PostgreSQL): a destination, and the side that pulls."""
    with berth("berth-b", "postgres", tmp_path_factory.mktemp("berth-b")) as peer:
        yield peer


@pytest.fixture(scope="session")
def distribution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """Distribution with htpasswd auth: a peer that is not a Berth."""
    with running_distribution_htpasswd(tmp_path_factory.mktemp("distribution")) as peer:
        yield peer


@pytest.fixture(scope="session")
def api_a(berth_a: Peer) -> Iterator[ReplicationApi]:
    api = ReplicationApi(berth_a)
    yield api
    api.close()


@pytest.fixture(scope="session")
def api_b(berth_b: Peer) -> Iterator[ReplicationApi]:
    api = ReplicationApi(berth_b)
    yield api
    api.close()


@pytest.fixture
def unique() -> str:
    """A suffix for the names a test creates (registries, policies, repositories)."""
    return uuid.uuid4().hex[:8]


@pytest.fixture(autouse=True)
def berths_log_clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """What a test does leaves no error-level line in either Berth's log: not even a
    replication that fails (that is the task's log, not the server's)."""
    starts = {peer.name: log_size(peer.server.log) for peer in RUNNING}
    yield
    for peer in RUNNING:  # a Berth started during the test: its whole log
        start = starts.get(peer.name, 0)
        assert_log_clean(peer.server.log, start, during=f"{request.node.name} on {peer.name}")


# --- clients ---------------------------------------------------------------------------


@pytest.fixture
def docker(dockerd: Docker) -> Docker:
    """The session's dockerd; registries on 127.0.0.0/8 are plain HTTP to it by default."""
    return dockerd


@pytest.fixture(scope="session")
def clients_env(
    berth_a: Peer, berth_b: Peer, distribution: Peer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    return containers_env(tmp_path_factory.mktemp("containers"), [berth_a, berth_b, distribution])


@pytest.fixture
def podman_at(clients_env: dict[str, str]) -> Iterator[Callable[[str], Podman]]:
    """`podman_at("builder")`: a podman with an image store of its own (one 'machine')."""
    with podman_stores(clients_env, "berth-repl") as make:
        yield make


@pytest.fixture
def skopeo(clients_env: dict[str, str]) -> Skopeo:
    require_tool("skopeo")
    return Skopeo(clients_env)
