from __future__ import annotations

import logging
import os

# Dramatiq's worker threads wait this long (ms) for work between checks for a stop: its
# default (1 s, read when dramatiq is imported) makes every in-process Berth take 2 s to stop.
os.environ.setdefault("dramatiq_worker_timeout", "100")

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.peers import Docker, SeaweedS3, running_dockerd, running_seaweedfs
from tests.support import (
    InProcessBerth,
    RunningBerth,
    assert_log_clean,
    berth_app,
    postgres_database,
    require,
    running_berth_with,
)


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def berth_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningBerth]:
    """One real Berth process per database backend, shared by the session's tests. Its log
    must hold no error-level line when it stops: nothing a test sends may be an error."""
    data_dir = Path(tmp_path_factory.mktemp(f"berth-{request.param}"))
    with running_berth_with(request.param, data_dir) as server:
        yield server
    assert_log_clean(data_dir / "server.log", during="the session")


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
