from __future__ import annotations

import logging
import os

# Dramatiq's worker threads wait this long (ms) for work between checks for a stop: its
# default (1 s, read when dramatiq is imported) makes every in-process Berth take 2 s to stop.
os.environ.setdefault("dramatiq_worker_timeout", "100")

from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.peers import Docker, SeaweedS3, running_dockerd, running_seaweedfs
from tests.support import (
    BerthServers,
    InProcessBerth,
    RunningBerth,
    assert_log_clean,
    berth_app,
    postgres_database,
    require,
    running_berth_with,
)


@pytest.fixture(scope="session")
def berth_servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BerthServers]:
    """The session's real Berth processes, started when first asked for and shared: "sqlite",
    "postgres", or "s3" (SQLite, blobs in the session's SeaweedFS). Their logs must hold no
    error-level line when they stop: nothing a test sends may be an error."""
    servers: dict[str, RunningBerth] = {}
    with ExitStack() as stack:

        def get(kind: str) -> RunningBerth:
            if kind not in servers:
                data_dir = Path(tmp_path_factory.mktemp(f"berth-{kind}"))
                env: dict[str, str] = {}
                if kind == "s3":
                    env = request.getfixturevalue("seaweedfs").env()
                backend = "sqlite" if kind == "s3" else kind
                servers[kind] = stack.enter_context(running_berth_with(backend, data_dir, env))
            return servers[kind]

        yield get
    for server in servers.values():
        assert_log_clean(server.data_dir / "server.log", during="the session")


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def berth_server(request: pytest.FixtureRequest, berth_servers: BerthServers) -> RunningBerth:
    """One real Berth process per database backend, shared by the session's tests (the
    conformance and docker suites add "s3": the same on the S3 driver)."""
    return berth_servers(request.param)


@pytest.fixture(params=["sqlite", "postgres"])
async def in_process(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[InProcessBerth]:
    """Berth in the test's process on a fresh database of each backend, with Quart's test
    client (`in_process.client`): for API tests that need no subprocess. As with the real
    servers, nothing a test sends may be logged as an error."""
    with errors_logged() as errors:
        if request.param == "sqlite":
            async with berth_app(tmp_path) as app:
                yield app
        else:
            with postgres_database() as url:
                require(url is not None, "PostgreSQL is not running on 127.0.0.1:5432")
                async with berth_app(tmp_path, url) as app:
                    yield app
    if errors:
        shown = "\n".join(errors[:20])
        pytest.fail(f"{len(errors)} error-level log record(s):\n{shown}", pytrace=False)


@contextmanager
def errors_logged() -> Iterator[list[str]]:
    """The error-level records logged in this process meanwhile (with their tracebacks)."""
    found: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            found.append(logging.Formatter("%(name)s: %(message)s").format(record))

    handler = Collect(logging.ERROR)
    logging.getLogger().addHandler(handler)
    try:
        yield found
    finally:
        logging.getLogger().removeHandler(handler)


@pytest.fixture(scope="session")
def dockerd() -> Iterator[Docker]:
    """A private dockerd for the whole session (the e2e and audit tests share it)."""
    with running_dockerd() as docker:
        yield docker


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[SeaweedS3]:
    """SeaweedFS with an S3 gateway for the whole session (the S3 driver's tests, and the
    S3-backed Berth of the conformance and docker suites)."""
    with running_seaweedfs() as store:
        yield store
